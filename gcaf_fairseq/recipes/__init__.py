"""The reproduction recipes (``scripts/reproduce_librilight.sh``, ``scripts/reproduce_slue.sh``).

Pure Python (no torch or fairseq import at module level), one concern per module:

- :mod:`.options`: the recipes' options (one parser for both benchmarks);
- :mod:`.plan`: the training runs (dataset x task x split x row x seed) and their decodings,
  derived from the tables' cells and the systems registry (:mod:`gcaf_fairseq.systems`), so the
  matrix cannot drift from the tables;
- :mod:`.layout`: where everything goes under ``--out``;
- :mod:`.scale`: the published hyper-parameters of each config and the world size /
  ``update_freq`` that keep the published effective batch on the hardware present;
- :mod:`.llms`: which rows have their LLM; :mod:`.language_models`: which LM each +LM decoding
  uses (SLUE: the TED-LIUM 3 3-gram for ASR, the VoxPopuli NER 4-gram for NER, built in stage 1
  when KenLM is on PATH);
- :mod:`.recipe`: one invocation (options, plan, layout, hardware) that the stages read;
- :mod:`.stages`: one module per numbered stage (1 prepare .. 7 tables), each building its steps;
- :mod:`.runner`: the one runner of steps, with records of what each step was made from
  (:mod:`.fingerprints`), progress and resume; :mod:`.processes` starts and follows the
  processes (fairseq-hydra-train, ...);
- :mod:`.header` and :mod:`.estimate`: what ``--dry-run`` prints first, and the GPU-hours per
  table (measured by ``--calibrate``, :mod:`.calibrate`, or from a named assumption);
- :mod:`.decode`: several subsets decoded in one process, with the generation loop's time and
  the LM record;
- ``python -m gcaf_fairseq.recipes.run BENCHMARK [--stage N [--stop-stage M]] ...``: the loop
  over the stages, what the shell scripts run.
"""
