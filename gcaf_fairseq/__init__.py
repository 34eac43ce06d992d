"""gcaf-fairseq: context-aware and generative context-aware fine-tuning of wav2vec2.

Importing this package (``--user-dir``) registers the models, criteria and tasks with
fairseq and allowlists the classes fairseq checkpoints pickle for torch's safe loader.
"""

from .checkpoint_safety import allow_fairseq_checkpoint_classes

allow_fairseq_checkpoint_classes()

from . import criterions, models, tasks  # noqa: E402,F401  (registration)
