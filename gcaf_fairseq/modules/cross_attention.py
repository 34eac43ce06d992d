"""Single-head cross-attention from speech frames to a context embedding (GCAF Eq. 1)."""

import math

import torch
from torch import nn


class ContextCrossAttention(nn.Module):
    """``Z~ = CA(Z, e) + Z`` (GCAF Eq. 1): one head, queries from the frames ``Z``,
    keys and values from the context ``e``.

    Args:
        frame_dim: feature size of the frames (768 for wav2vec2 base).
        context_embed_dim: feature size of the context vectors (768 for BERT base).
        attention_dim: size of queries, keys and values (the papers' 32).

    Shapes:
        frames: ``(batch, frame, frame_dim)``
        context: ``(batch, context_len, context_embed_dim)``; a single [CLS] vector is
            ``context_len == 1``
        context_padding_mask: ``(batch, context_len)``, ``True`` at padded context
            positions (optional)
        returns: ``(batch, frame, frame_dim)``

    With one key the attention weight is 1 for every frame, so ``CA(Z, e)`` adds the same
    vector to every frame of an utterance. A row whose context is all padding (an empty
    sequence) attends to nothing: ``CA`` is zero there and ``Z~ = Z``.
    """

    def __init__(self, frame_dim: int, context_embed_dim: int, attention_dim: int = 32):
        super().__init__()
        self.output_dim = frame_dim
        self.attention_dim = attention_dim
        self.query = nn.Linear(frame_dim, attention_dim)
        self.key = nn.Linear(context_embed_dim, attention_dim)
        self.value = nn.Linear(context_embed_dim, attention_dim)
        self.out = nn.Linear(attention_dim, frame_dim)

    def attention_weights(self, frames, context, context_padding_mask=None):
        """Softmax weights ``(batch, frame, context_len)``; all-zero rows where no key exists."""
        query = self.query(frames)
        key = self.key(context)
        # in float32: a half-precision dot product above 65504 is inf, and the softmax of [inf]
        # is NaN, zeroed below, which would drop the key (E's only one) under --fp16
        scores = torch.bmm(query.float(), key.float().transpose(1, 2)) / math.sqrt(self.attention_dim)
        if context_padding_mask is not None:
            scores = scores.masked_fill(context_padding_mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        return torch.nan_to_num(weights, nan=0.0).to(frames.dtype)

    def attend(self, frames, context, context_padding_mask=None):
        """``CA(Z, e)`` without the residual, ``(batch, frame, frame_dim)``."""
        weights = self.attention_weights(frames, context, context_padding_mask)
        attended = torch.bmm(weights, self.value(context))
        has_key = weights.sum(-1, keepdim=True) > 0
        # An utterance without any context key gets no contribution, not out.bias.
        return self.out(attended) * has_key.to(frames.dtype)

    def forward(self, frames, context, context_padding_mask=None):
        return frames + self.attend(frames, context, context_padding_mask)  # GCAF Eq. 1
