"""Dataset preparation: LibriSpeech / Libri-light and SLUE manifests, labels and utterance tables."""

from .librispeech import prepare_librispeech
from .source_checks import PrepareError
from .slue import prepare_slue

__all__ = ["PrepareError", "prepare_librispeech", "prepare_slue"]
