"""The context branch that sits on the speech frames: a fusion and, for ``aware``, a student."""

from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn

from .attention_pooling import AttentionPooling

# The one home of these choice sets: the fairseq configs build their ChoiceEnums from them.
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
        fusion: built fusion module, ``fusion(frames, context, context_padding_mask)`` with
            an ``output_dim``: :class:`ContextCrossAttention` (GCAF Eq. 1, output size
            ``frame_dim``) or :class:`ConcatFusion` (CA Eq. 1, ``frame_dim + context_dim``).
        student: ``None`` for ``injection``: the given context embedding is fused, at
            training and at inference (rows C, D). A :class:`ContextStudent` for ``aware``:
            the embedding it predicts from the frames is fused, and the given (teacher)
            embedding only enters the loss (row E).

    ``forward(frames, frame_padding_mask, context, context_padding_mask)``: frames
    ``(batch, frame, frame_dim)``, frame_padding_mask ``(batch, frame)`` (``True`` at
    padding), context ``(batch, context_len, context_embed_dim)`` and its padding mask.
    An ``aware`` head ignores ``context`` here (it may be ``None``): the criterion compares
    ``student_embedding`` with the teacher.

    The head is independent of where it is applied: the model applies it to the encoder
    output (the papers), and can apply the same head before an intermediate layer.
    ``build_context_head`` in ``gcaf_fairseq.models.context_config`` builds the parts from
    the model options.
    """

    def __init__(self, fusion: nn.Module, student: Optional[ContextStudent] = None):
        super().__init__()
        # Registered student first: checkpoints and optimizer states list parameters in this order.
        self.student = student
        self.fusion = fusion
        self.output_dim = fusion.output_dim

    @property
    def context_use(self) -> str:
        return "aware" if self.student is not None else "injection"

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
