"""The context options shared by every context model (dataclass mixin, fairseq style)."""

from dataclasses import dataclass, field
from typing import Optional

from fairseq.dataclass import ChoiceEnum, FairseqDataclass

from ..modules import (
    CONTEXT_FUSIONS,
    CONTEXT_USES,
    AudioContext,
    ConcatFusion,
    ContextCrossAttention,
    ContextHead,
    ContextStudent,
)

CONTEXT_SOURCES = ("none", "text", "audio")
CONTEXT_POOLINGS = ("cls", "sequence")
CONTEXT_SOURCE_CHOICES = ChoiceEnum(list(CONTEXT_SOURCES))
CONTEXT_USE_CHOICES = ChoiceEnum(list(CONTEXT_USES))
CONTEXT_FUSION_CHOICES = ChoiceEnum(list(CONTEXT_FUSIONS))
CONTEXT_POOLING_CHOICES = ChoiceEnum(list(CONTEXT_POOLINGS))


@dataclass
class ContextModelConfig(FairseqDataclass):
    context_source: CONTEXT_SOURCE_CHOICES = field(
        default="none",
        metadata={
            "help": "where the context comes from: none (system A, plain fine-tuning), text (a "
            "text-encoder embedding read from the task's context store: rows C, D, E) or audio "
            "(the neighbouring utterances' audio, from the task's utterance_table: CA rows (b), B)"
        },
    )
    context_use: CONTEXT_USE_CHOICES = field(
        default="injection",
        metadata={
            "help": "injection: the context embedding is an input at training and inference "
            "(rows C1-C4, D1-D7); aware: a student e_hat = FC(attention_pool(Z)) is fused at "
            "training and inference, the teacher embedding only enters the loss (row E)"
        },
    )
    context_fusion: CONTEXT_FUSION_CHOICES = field(
        default="cross_attention",
        metadata={
            "help": "cross_attention: Z~ = CA(Z, e) + Z, single head (GCAF Eq. 1); concat: "
            "append a context_dim vector to every frame (CA paper Eq. 1)"
        },
    )
    context_dim: int = field(
        default=32,
        metadata={"help": "attention dimension of the cross-attention, or size D of the concatenated vector"},
    )
    context_embed_dim: int = field(
        default=768,
        metadata={"help": "size of the teacher (text-encoder) embedding: 768 for BERT base"},
    )
    context_pooling: CONTEXT_POOLING_CHOICES = field(
        default="cls",
        metadata={
            "help": "cls: one [CLS] vector per utterance; sequence: the encoder's last hidden "
            "layer, a padded sequence with a mask (cross_attention injection only)"
        },
    )
    context_window: int = field(
        default=2,
        metadata={"help": "audio context: window length L; segments i+O .. i+O+L-1 minus i are the neighbours"},
    )
    context_offset: int = field(
        default=0,
        metadata={"help": "audio context: window offset O ((2,0) = next segment, (2,-1) = previous, (3,-1) = both)"},
    )
    context_neighbour_grad: bool = field(
        default=True,
        metadata={"help": "audio context: back-propagate into wav2vec2 through the neighbours' encoding (the CA paper's choice)"},
    )
    context_layer: Optional[int] = field(
        default=None,
        metadata={
            "help": "apply the context fusion (and the student) before transformer layer k "
            "(0 = before the first) instead of at the encoder output; a negative k counts from "
            "the top like a Python index (-1 = before the last layer, -n = before the first of "
            "n). Default and k = the number of layers: the output, as in the papers. "
            "cross_attention only below the top"
        },
    )


def check_choice(name: str, value, choices) -> None:
    """Reject a value outside its choice set, naming the option and the choices."""
    if value not in choices:
        raise ValueError(f"{name}={value}: choose one of {', '.join(choices)}")


def validate_context_config(cfg) -> None:
    """Reject unknown choices and option combinations the papers do not define, with a
    message saying why. The one place the context options are checked: hydra's ChoiceEnums
    check the same sets when a config is parsed, this check also covers configs built in code."""
    check_choice("context_source", cfg.context_source, CONTEXT_SOURCES)
    check_choice("context_use", cfg.context_use, CONTEXT_USES)
    check_choice("context_fusion", cfg.context_fusion, CONTEXT_FUSIONS)
    check_choice("context_pooling", cfg.context_pooling, CONTEXT_POOLINGS)
    if cfg.context_source == "none":
        return
    if cfg.context_pooling == "sequence" and cfg.context_use == "aware":
        raise ValueError(
            "context_use=aware distils into one vector: use context_pooling=cls "
            "(the student e_hat is compared with the teacher's [CLS] embedding)"
        )
    if cfg.context_pooling == "sequence" and cfg.context_fusion == "concat":
        raise ValueError("context_fusion=concat appends one vector per utterance: use context_pooling=cls")
    if cfg.context_source == "audio":
        if cfg.context_fusion != "concat":
            raise ValueError("context_source=audio uses the CA paper's fusion: set context_fusion=concat")
        if cfg.context_window < 2:
            raise ValueError(f"context_window={cfg.context_window}: the window must hold the segment and at least one neighbour")
        if not -(cfg.context_window - 1) <= cfg.context_offset <= 0:
            raise ValueError(
                f"context_offset={cfg.context_offset} with context_window={cfg.context_window}: the window "
                f"i+O .. i+O+L-1 must contain the segment i (O from {-(cfg.context_window - 1)} to 0)"
            )
    if cfg.context_dim <= 0 or cfg.context_embed_dim <= 0:
        raise ValueError(f"context_dim ({cfg.context_dim}) and context_embed_dim ({cfg.context_embed_dim}) must be positive")


def build_context_head(cfg, frame_dim: int):
    """The :class:`ContextHead` the options describe, built from its parts, or ``None`` for
    ``context_source=none``. Validates the options (:func:`validate_context_config`)."""
    validate_context_config(cfg)
    if cfg.context_source == "none":
        return None
    if cfg.context_source == "audio":
        # The CA paper: e = FC(pool(Z)) is D-dim and appended as is. The encoder computes
        # e_j (neighbours) or e_i (current) with its AudioContext module and injects it.
        return ContextHead(ConcatFusion(frame_dim, cfg.context_dim))
    # The student is built before the fusion: a seed gives the same weights as before.
    student = ContextStudent(frame_dim, cfg.context_embed_dim) if cfg.context_use == "aware" else None
    if cfg.context_fusion == "cross_attention":
        fusion = ContextCrossAttention(frame_dim, cfg.context_embed_dim, cfg.context_dim)
    else:
        fusion = ConcatFusion(frame_dim, cfg.context_dim, cfg.context_embed_dim)
    return ContextHead(fusion, student)


def build_audio_context(cfg, frame_dim: int):
    """The CA paper's context module for ``context_source=audio``, else ``None``."""
    return AudioContext(frame_dim, cfg.context_dim) if cfg.context_source == "audio" else None
