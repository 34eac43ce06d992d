"""The reproduction recipes' planner (``scripts/reproduce_librilight.sh``, ``scripts/reproduce_slue.sh``).

Pure Python (no torch or fairseq import at module level):

- :mod:`.options`: the recipes' options (one parser for both benchmarks), the LLM choice per
  row (``--llm 13B=DIR``, ``--llm-url [SIZE=]URL`` repeated = shards, ``--llm-name [SIZE=]NAME``);
- :mod:`.plan`: the training runs (dataset x task x split x row x seed) and their decodings,
  derived from the tables' cells (:mod:`gcaf_fairseq.tables.published` and ``.cells``), so the
  matrix cannot drift from the tables;
- :mod:`.scale`: the published hyper-parameters of each config and the world size /
  ``update_freq`` that keep the published effective batch on the hardware present;
- :mod:`.stages`: the commands of each stage (1 prepare .. 7 tables) and the resumable runner;
- ``python -m gcaf_fairseq.recipes.run BENCHMARK --stage N ...``: what the shell scripts call.
"""
