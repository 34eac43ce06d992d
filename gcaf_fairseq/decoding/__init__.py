from .config import DecodingConfig  # noqa: F401
from .ctc_decoders import KenLMDecoder, ViterbiDecoder, build_ctc_decoder  # noqa: F401
from .ctc_generator import CtcGenerator  # noqa: F401
from .decoding_output import DecodingRecorder  # noqa: F401
