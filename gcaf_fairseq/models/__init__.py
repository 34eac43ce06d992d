"""fairseq-facing plugin package: importing it registers the whole plugin (see
:func:`gcaf_fairseq.register`)."""

from .. import register

register()

from .wav2vec2_context_ctc import Wav2Vec2ContextCtcConfig, Wav2VecContextCtc, Wav2VecContextEncoder  # noqa: F401
from .wav2vec2_context_seq_cls import Wav2Vec2ContextSeqClsConfig, Wav2VecContextSeqCls  # noqa: F401
