"""gcaf-fairseq: context-aware and generative context-aware fine-tuning of wav2vec2.

Two layers share this package:

- the **plugin** (``modules``, ``models``, ``criterions``, ``tasks``, ``data``, ``decoding``,
  ``checkpoints``), which fairseq loads with ``--user-dir .../gcaf_fairseq``; and
- the **tools** (``systems``, ``prep``, ``generation``, ``embedding``, ``scoring``, ``tables``, ``recipes``,
  ``cli``, ``resources``), which import neither torch nor fairseq unless a tool needs them.

Importing this package loads neither torch nor fairseq and registers nothing. Registration
follows from imports:

- fairseq's ``--user-dir`` (``common.user_dir``) imports this package, then its ``tasks`` and
  ``models``; ``tasks`` installs the checkpoint allowlist and hooks (:mod:`gcaf_fairseq.checkpoints`)
  and imports ``criterions``, so the task, the models and the criteria are all registered;
- code that runs fairseq in its own process imports :mod:`gcaf_fairseq.plugin`.
"""

__version__ = "0.1.0"
