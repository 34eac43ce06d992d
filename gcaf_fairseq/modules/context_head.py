"""The context branch that sits on the speech frames: student and fusion assembled."""

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from .attention_pooling import AttentionPooling
from .concat_fusion import ConcatFusion
from .cross_attention import ContextCrossAttention

CONTEXT_USES = ("injection", "aware")
CONTEXT_FUSIONS = ("cross_attention", "concat")


class ContextStudent(nn.Module):
    """``e_hat = FC(pool(Z))`` (GCAF Fig. 2c, CA Fig. 1c): predicts a context embedding from
    the current utterance alone.

    Shapes: frames ``(batch, frame, frame_dim)``, padding_mask ``(batch, frame)`` ->
    ``(batch, embed_dim)``.
    """

    def __init__(self, frame_dim: int, embed_dim: int):
        super().__init__()
        self.pool = AttentionPooling(frame_dim)
        self.fc = nn.Linear(frame_dim, embed_dim)

    def forward(self, frames, padding_mask=None):
        return self.fc(self.pool(frames, padding_mask))


@dataclass
class ContextHeadOutput:
    frames: torch.Tensor  # (batch, frame, output_dim): fused frames
    student_embedding: Optional[torch.Tensor]  # (batch, context_embed_dim) or None


class ContextHead(nn.Module):
    """Student (``aware``) or teacher (``injection``) context, fused into the frames.

    Args:
        frame_dim: feature size of the frames.
        context_use: ``injection``: the given context embedding is fused, at training and
            at inference (rows C, D); ``aware``: a student embedding predicted from the
            frames is fused, and the given (teacher) embedding only enters the loss (row E).
        context_fusion: ``cross_attention`` (GCAF Eq. 1, output size ``frame_dim``) or
            ``concat`` (CA Eq. 1, output size ``frame_dim + context_dim``).
        context_dim: attention size of the cross-attention, or appended size ``D`` of concat.
        context_embed_dim: size of the teacher embedding (768 for BERT base).
        project_context: concat only: map the context to ``context_dim`` with a linear layer
            first (a 768-dim [CLS]); ``False`` when it already has that size (CA's module).

    ``forward(frames, frame_padding_mask, context, context_padding_mask)``: frames
    ``(batch, frame, frame_dim)``, frame_padding_mask ``(batch, frame)`` (``True`` at
    padding), context ``(batch, context_len, context_embed_dim)`` and its padding mask.
    An ``aware`` head ignores ``context`` here (it may be ``None``): the criterion compares
    ``student_embedding`` with the teacher.

    The head is independent of where it is applied: the model applies it to the encoder
    output (the papers), and can apply the same head before an intermediate layer.
    """

    def __init__(self, frame_dim, context_use, context_fusion, context_dim, context_embed_dim, project_context=True):
        super().__init__()
        if context_use not in CONTEXT_USES:
            raise ValueError(f"context_use must be one of {CONTEXT_USES}, got {context_use!r}")
        if context_fusion not in CONTEXT_FUSIONS:
            raise ValueError(f"context_fusion must be one of {CONTEXT_FUSIONS}, got {context_fusion!r}")
        self.context_use = context_use
        self.student = ContextStudent(frame_dim, context_embed_dim) if context_use == "aware" else None
        if context_fusion == "cross_attention":
            self.fusion = ContextCrossAttention(frame_dim, context_embed_dim, context_dim)
            self.output_dim = frame_dim
        else:
            self.fusion = ConcatFusion(frame_dim, context_dim, context_embed_dim if project_context else None)
            self.output_dim = frame_dim + context_dim

    def forward(self, frames, frame_padding_mask=None, context=None, context_padding_mask=None):
        student_embedding = None
        if self.student is not None:
            student_embedding = self.student(frames, frame_padding_mask)
            context, context_padding_mask = student_embedding.unsqueeze(1), None
        elif context is None:
            raise ValueError(
                "context_use=injection needs a context embedding for every utterance; "
                "give the task a context_store"
            )
        fused = self.fusion(frames, context.to(frames.dtype), context_padding_mask)
        return ContextHeadOutput(frames=fused, student_embedding=student_embedding)
