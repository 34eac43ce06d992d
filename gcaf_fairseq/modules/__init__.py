"""Pure-torch building blocks (no fairseq import): pooling, fusion, student, audio context, losses."""

from .attention_pooling import AttentionPooling
from .audio_context import AudioContext, join_neighbour_frames
from .concat_fusion import ConcatFusion
from .context_head import CONTEXT_FUSIONS, CONTEXT_USES, ContextHead, ContextHeadOutput, ContextStudent
from .cross_attention import ContextCrossAttention
from .losses import context_l2_loss

__all__ = [
    "AttentionPooling",
    "AudioContext",
    "ConcatFusion",
    "ContextCrossAttention",
    "ContextHead",
    "ContextHeadOutput",
    "ContextStudent",
    "CONTEXT_FUSIONS",
    "CONTEXT_USES",
    "context_l2_loss",
    "join_neighbour_frames",
]
