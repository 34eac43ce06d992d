"""Fusion by concatenation (CA paper Eq. 1): ``[z_t, e]`` for every frame."""

import torch
from torch import nn


class ConcatFusion(nn.Module):
    """Append one context vector to every frame.

    Args:
        frame_dim: feature size of the frames.
        context_dim: size ``D`` of the appended vector (the CA paper's 32).
        context_embed_dim: size of the incoming context vector. When it is given, a linear
            layer maps it to ``D`` first (a 768-dim BERT [CLS] to 32); when it is ``None``
            the context already has size ``D`` (the CA paper's own context module).

    Shapes:
        frames: ``(batch, frame, frame_dim)``
        context: ``(batch, 1, dim)``: a single vector; sequences need cross-attention
        context_padding_mask: ``(batch, 1)``, ``True`` where the context is absent: the
            appended vector is then zero (optional)
        returns: ``(batch, frame, frame_dim + context_dim)``
    """

    def __init__(self, frame_dim: int, context_dim: int, context_embed_dim: int = None):
        super().__init__()
        self.output_dim = frame_dim + context_dim
        self.context_dim = context_dim
        self.project = None if context_embed_dim is None else nn.Linear(context_embed_dim, context_dim)

    def forward(self, frames, context, context_padding_mask=None):
        if context.dim() != 3 or context.size(1) != 1:
            raise ValueError(
                f"concat fusion takes one context vector per utterance, got context of shape "
                f"{tuple(context.shape)}; use context_fusion=cross_attention for sequences"
            )
        vector = context[:, 0]
        if self.project is not None:
            vector = self.project(vector)
        if vector.size(-1) != self.context_dim:
            raise ValueError(f"context vector has size {vector.size(-1)}, expected {self.context_dim}")
        if context_padding_mask is not None:
            vector = vector.masked_fill(context_padding_mask[:, :1], 0.0)
        expanded = vector.to(frames.dtype).unsqueeze(1).expand(-1, frames.size(1), -1)
        return torch.cat([frames, expanded], dim=-1)
