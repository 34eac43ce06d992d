"""Generation backends: ``hf`` (local transformers model) and ``openai`` (a served model)."""

from .base import BackendError, Completion
from .hf import DTYPE_NAMES, HFBackend, load_hf_backend
from .openai_backend import OpenAIBackend

__all__ = ["BackendError", "Completion", "DTYPE_NAMES", "HFBackend", "OpenAIBackend", "load_hf_backend"]
