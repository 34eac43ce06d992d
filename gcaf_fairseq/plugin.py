"""Import this module to register the whole plugin in the running process::

    import gcaf_fairseq.plugin  # noqa: F401

It registers the task ``audio_context_finetuning``, the models ``wav2vec2_context_ctc`` and
``wav2vec2_context_seq_cls`` and the criteria ``ctc_context`` and ``seq_cls_context`` with
fairseq, puts the classes fairseq checkpoints pickle on torch's ``weights_only`` allowlist and
installs the checkpoint hooks (see :mod:`gcaf_fairseq.checkpoints`). Imports torch and fairseq.

This is for code that calls fairseq in its own process after ``gcaf_fairseq`` is imported:
fairseq's ``--user-dir`` skips a package that is already imported, so it would register
nothing there. fairseq's own command-line tools need only ``--user-dir .../gcaf_fairseq``.
Modules inside the package never import this one (it sits above all of them).
"""

from . import criterions, models, tasks  # noqa: F401  (registration by decorators and by tasks/__init__)
