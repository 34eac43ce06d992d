"""fairseq models: wav2vec2 with a context head, for CTC and for sequence classification
(each registers itself when imported)."""

from .wav2vec2_context_ctc import Wav2Vec2ContextCtcConfig, Wav2VecContextCtc, Wav2VecContextEncoder  # noqa: F401
from .wav2vec2_context_seq_cls import Wav2Vec2ContextSeqClsConfig, Wav2VecContextSeqCls  # noqa: F401
