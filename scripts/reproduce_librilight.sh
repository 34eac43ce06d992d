#!/usr/bin/env bash
# Reproduce the Libri-light tables of both papers (GCAF Tables 2-7, CA Table 6) from one command.
#
#   scripts/reproduce_librilight.sh --out OUT --w2v wav2vec_small.pt --text-encoder bert-base-uncased/ \
#       --librispeech LibriSpeech/ --librilight librispeech_finetuning/ \
#       --llm 13B=StableBeluga-13B/ [--llm 7B=StableBeluga-7B/ ...] \
#       [--tables gcaf-table7 ...] [--systems A E ...] [--splits 10m 1h ...] [--seeds 3] \
#       [--lm 4-gram.arpa --lexicon librispeech_lexicon.lst] [--cpu] [--smoke] [--dry-run] [--calibrate] \
#       [--stage 4-7 | --stage 4 --stop-stage 7] \
#       [--slurm PARTITION [--gpus N --slurm-time MIN --slurm-account A --slurm-constraint C]] \
#       [-- optimization.max_update=20 ...]
#
# Stages (a step is redone only when what it is made from changed; a killed training resumes):
#   1 prepare        gcaf-prepare-librispeech: train_10m (1h/0), train_1h, train_10h, train_100h
#                    (train-clean-100), dev_clean, dev_other, test_clean, test_other
#   2 context texts  gcaf-context-texts (previous text: C1/C2; current text: C3/C4),
#                    gcaf-generate-context (P1-P4 for the D rows and E's teacher; sharded over
#                    several --llm-url servers or GPUs, then gcaf-merge-generations)
#   3 embed          gcaf-embed-context ([CLS] or sequence)
#   4 train          fairseq-hydra-train, every row x split x seed (run.json first)
#   5 decode         fairseq-generate (greedy; KenLM for +LM rows), timing.json (the generation loop)
#   6 score          gcaf-score, gcaf-rouge (GCAF Table 3)
#   7 tables         gcaf-collect-results -> OUT/tables/NAME.{md,csv,json}
# PYTHON=/path/to/python picks the interpreter (default: the checkout's .venv, else python3).
# Full help, with every option's default: --help.
exec bash "$(dirname "${BASH_SOURCE[0]}")/recipes/run_recipe.sh" librilight "${BASH_SOURCE[0]}" "$@"
