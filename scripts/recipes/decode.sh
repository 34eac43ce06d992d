#!/usr/bin/env bash
# Decode a CTC checkpoint with fairseq-generate, greedily or with a KenLM model. The LM settings
# (beam, LM weight, word score) default to those of the LM's role, read from their one home
# (gcaf_fairseq/data/language_models.py): LM_ROLE=slue-asr (the default: SLUE's TED-LIUM 3 3-gram,
# beam 500, LM weight 2, word score -1), slue-ner (SLUE's VoxPopuli NER 4-gram, word score +1) or
# librispeech (the LibriSpeech 4-gram); BEAM, LM_WEIGHT, WORD_SCORE override them.
#
#   scripts/recipes/decode.sh DATA CHECKPOINT SUBSET OUT [LM LEXICON]
#   LABELS=raw.ltr LM_ROLE=slue-ner scripts/recipes/decode.sh e2e_ner ckpt.pt dev out 4gram.bin lexicon.lst
#   CONTEXT_STORE='/data/ctx/{split}.p4.cls' ...        # text injection models (C, D) need their store
#   UTTERANCE_TABLE='/data/{split}.utterances.jsonl' ... # CA row (b) needs the neighbours
#   CONTEXT_FROM_CHECKPOINT=1 ...  # or read the store/table saved in the checkpoint (never by default)
# Aware models (E, B) decode from the current audio alone: give them neither.
# PYTHON=/path/to/python reads the settings (default: the checkout's .venv, else python3).
#
# Writes OUT/generate-SUBSET.txt (fairseq's) and OUT/SUBSET.{ids,hyp.wrd,ref.wrd,wer.json} in
# utterance-id order, and OUT/SUBSET.timing.json (the generation loop's seconds, real-time
# factor and device); score NER or WER with gcaf-score.
set -euo pipefail
if [ $# -lt 4 ]; then sed -n 2,18p "$0"; exit 2; fi
data=$1 checkpoint=$2 subset=$3 out=$4 lm=${5:-} lexicon=${6:-}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
args=(--user-dir "$root/gcaf_fairseq" --task audio_context_finetuning --path "$checkpoint"
      --gen-subset "$subset" --results-path "$out" --decoding-output "$out" --scoring wer --labels "${LABELS:-ltr}")
if [ -n "${CONTEXT_STORE:-}" ]; then args+=(--context-store "$CONTEXT_STORE"); fi
if [ -n "${UTTERANCE_TABLE:-}" ]; then args+=(--utterance-table "$UTTERANCE_TABLE"); fi
if [ -n "${CONTEXT_FROM_CHECKPOINT:-}" ]; then args+=(--context-from-checkpoint); fi
if [ -n "$lm" ]; then
  if [ -n "${PYTHON:-}" ]; then python=$PYTHON
  elif [ -x "$root/.venv/bin/python" ]; then python="$root/.venv/bin/python"
  else python=python3; fi
  settings=$("$python" -m gcaf_fairseq.data.language_models "${LM_ROLE:-slue-asr}")
  read -r beam lm_weight word_score <<< "$settings"
  args+=(--ctc-decoder kenlm --decoder-lm "$lm" --decoder-beam "${BEAM:-$beam}"
         --decoder-lm-weight "${LM_WEIGHT:-$lm_weight}" --decoder-word-score "${WORD_SCORE:-$word_score}")
  if [ -n "$lexicon" ]; then args+=(--decoder-lexicon "$lexicon"); fi
fi
fairseq-generate "$data" "${args[@]}"
cat "$out/$subset.wer.json"
