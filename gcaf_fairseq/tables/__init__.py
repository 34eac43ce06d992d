"""The papers' tables from a folder of runs (tools layer: pure Python, matplotlib only to draw
CA Fig. 3, imported when it is drawn).

- :mod:`.runs`: the run-folder contract (``run.json``, ``train.log``, ``decode/SUBSET[+lm]/``)
  and its robust reader (a missing output is a missing cell with its reason);
- :mod:`.published`: every published number of GCAF Tables 2-8 and CA Tables 1-6 and Fig. 3,
  in each table's layout;
- :mod:`.cells`: which runs and which number fill each cell;
- :mod:`.builder`: mean ± std over seeds beside the published numbers, written as
  ``OUT/tables/NAME.md``, ``.csv``, ``.json`` (and ``ca-fig3.png``).

The console tool is ``gcaf-collect-results`` (:mod:`gcaf_fairseq.cli.collect_results`).
"""
