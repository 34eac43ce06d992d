"""The fairseq task. fairseq's ``--user-dir`` imports this package (and ``models``, but not
``criterions``), so importing it completes the plugin's registration: the classes fairseq
checkpoints pickle go on torch's ``weights_only`` allowlist, the checkpoint hooks are installed
(both idempotent; see :mod:`gcaf_fairseq.checkpoints`) and the criteria are imported."""

from ..checkpoints.hooks import install_checkpoint_hooks
from ..checkpoints.safety import allow_fairseq_checkpoint_classes

allow_fairseq_checkpoint_classes()
install_checkpoint_hooks()

from .. import criterions  # noqa: E402,F401  (fairseq's --user-dir does not import criterions/)
from .audio_context_finetuning import AudioContextFinetuningConfig, AudioContextFinetuningTask  # noqa: E402,F401
