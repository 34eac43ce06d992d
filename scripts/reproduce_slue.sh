#!/usr/bin/env bash
# Reproduce the SLUE tables of both papers (GCAF Table 8, CA Tables 1-5 and Fig. 3) from one command.
#
#   scripts/reproduce_slue.sh --out OUT --w2v wav2vec_small.pt --text-encoder bert-base-uncased/ \
#       --slue-voxceleb slue-voxceleb/ --slue-voxpopuli slue-voxpopuli/ \
#       --llm-url http://gpu1:8000/v1 --llm-url http://gpu2:8000/v1 --llm-name stabilityai/StableBeluga-13B \
#       [--tables gcaf-table8 ca-table4 ...] [--systems A E ...] [--splits voxceleb-asr voxpopuli-ner ...] \
#       [--seeds 3] [--lm-asr t3/3gram.bin --lexicon-asr t3/lexicon.lst] [--lm-ner vp_ner/4gram.bin] \
#       [--cpu] [--smoke] [--dry-run] [--calibrate] [--stage 4-7 | --stage 4 --stop-stage 7] \
#       [--slurm PARTITION [--gpus N --slurm-time MIN --slurm-account A --slurm-constraint C]] \
#       [-- optimization.max_update=20 ...]
#
# Stages (a step is redone only when what it is made from changed; a killed training resumes):
#   1 prepare        gcaf-prepare-slue voxceleb / voxpopuli: fine-tune, dev, test (+ e2e_ner/); SLUE's
#                    NER 4-gram (KenLM's lmplz, when on PATH and no --lm-ner) and its lexicon
#   2 context texts  gcaf-context-texts (previous text: C1/C2; current text: C3/C4),
#                    gcaf-generate-context (P1-P4 for the D rows and E's teacher; sharded over
#                    several --llm-url servers or GPUs, then gcaf-merge-generations)
#   3 embed          gcaf-embed-context ([CLS] or sequence)
#   4 train          fairseq-hydra-train, every row x split x seed (run.json first)
#   5 decode         fairseq-generate (greedy; KenLM for +LM rows: ASR the TED-LIUM 3 3-gram, NER
#                    the VoxPopuli NER 4-gram, with SLUE-toolkit's settings), timing.json, lm.json
#   6 score          gcaf-score (WER, NER F1, sentiment F1; the SLUE score in the tables)
#   7 tables         gcaf-collect-results -> OUT/tables/NAME.{md,csv,json}
# PYTHON=/path/to/python picks the interpreter (default: the checkout's .venv, else python3).
# Full help, with every option's default: --help.
exec bash "$(dirname "${BASH_SOURCE[0]}")/recipes/run_recipe.sh" slue "${BASH_SOURCE[0]}" "$@"
