"""Attention pooling over time (CA paper, section 2.1)."""

import torch
from torch import nn


class AttentionPooling(nn.Module):
    """Score every frame with a linear layer, softmax over time, weighted sum.

    Args:
        input_dim: feature size of the frames.

    Shapes:
        frames: ``(batch, frame, input_dim)``
        padding_mask: ``(batch, frame)``, ``True`` at padded frames (optional)
        returns: ``(batch, input_dim)``

    A row whose frames are all padding pools to the zero vector instead of NaN.
    """

    def __init__(self, input_dim: int):
        super().__init__()
        self.score = nn.Linear(input_dim, 1)

    def forward(self, frames: torch.Tensor, padding_mask: torch.Tensor = None) -> torch.Tensor:
        scores = self.score(frames).squeeze(-1).float()
        if padding_mask is not None:
            scores = scores.masked_fill(padding_mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        # softmax over an all -inf row is NaN: an empty row pools to zero.
        weights = torch.nan_to_num(weights, nan=0.0).to(frames.dtype)
        return torch.bmm(weights.unsqueeze(1), frames).squeeze(1)
