#!/usr/bin/env bash
# Decode a CTC checkpoint with fairseq-generate, greedily or with a KenLM model, with the
# papers' LM settings as defaults (beam 500, LM weight 2, word score -1; SLUE NER: WORD_SCORE=1).
#
#   scripts/recipes/decode.sh DATA CHECKPOINT SUBSET OUT [LM LEXICON]
#   LABELS=raw.ltr WORD_SCORE=1 scripts/recipes/decode.sh e2e_ner ckpt.pt dev out lm.bin lexicon.txt
#   CONTEXT_STORE='/data/ctx/{split}.p4.cls' ...        # text injection models (C, D) need their store
#   UTTERANCE_TABLE='/data/{split}.utterances.jsonl' ... # CA row (b) needs the neighbours
#   CONTEXT_FROM_CHECKPOINT=1 ...  # or read the store/table saved in the checkpoint (never by default)
# Aware models (E, B) decode from the current audio alone: give them neither.
#
# Writes OUT/generate-SUBSET.txt (fairseq's) and OUT/SUBSET.{ids,hyp.wrd,ref.wrd,wer.json}
# in utterance-id order; score NER or WER with gcaf-score.
set -euo pipefail
if [ $# -lt 4 ]; then sed -n 2,13p "$0"; exit 2; fi
data=$1 checkpoint=$2 subset=$3 out=$4 lm=${5:-} lexicon=${6:-}
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
args=(--user-dir "$root/gcaf_fairseq" --task audio_context_finetuning --path "$checkpoint"
      --gen-subset "$subset" --results-path "$out" --decoding-output "$out" --scoring wer --labels "${LABELS:-ltr}")
if [ -n "${CONTEXT_STORE:-}" ]; then args+=(--context-store "$CONTEXT_STORE"); fi
if [ -n "${UTTERANCE_TABLE:-}" ]; then args+=(--utterance-table "$UTTERANCE_TABLE"); fi
if [ -n "${CONTEXT_FROM_CHECKPOINT:-}" ]; then args+=(--context-from-checkpoint); fi
if [ -n "$lm" ]; then
  args+=(--ctc-decoder kenlm --decoder-lm "$lm" --decoder-beam "${BEAM:-500}"
         --decoder-lm-weight "${LM_WEIGHT:-2}" --decoder-word-score "${WORD_SCORE:--1}")
  if [ -n "$lexicon" ]; then args+=(--decoder-lexicon "$lexicon"); fi
fi
fairseq-generate "$data" "${args[@]}"
cat "$out/$subset.wer.json"
