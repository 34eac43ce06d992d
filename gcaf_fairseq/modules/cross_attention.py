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
        single_key_shortcut: with one key per utterance (``context_len == 1``: every [CLS]
            store, and a student's ``e_hat``), compute ``out(value(e))`` once per utterance
            instead of per frame (see below). Exact; ``False`` runs the general path (the
            overhead benchmark times both).

    Shapes:
        frames: ``(batch, frame, frame_dim)``
        context: ``(batch, context_len, context_embed_dim)``; a single [CLS] vector is
            ``context_len == 1``
        context_padding_mask: ``(batch, context_len)``, ``True`` at padded context
            positions (optional)
        returns: ``(batch, frame, frame_dim)``

    With one key the attention weight is 1 for every frame, so ``CA(Z, e)`` adds the same
    vector, ``out(value(e))``, to every frame of an utterance. A row whose context is all
    padding (an empty sequence) attends to nothing: ``CA`` is zero there and ``Z~ = Z``.

    The single-key shortcut (:meth:`attend_single_key`) computes that vector once per
    utterance and broadcasts it over the frames; a query per frame, a softmax per frame and
    the output projection per frame would give the same numbers. The query and key still
    run, on one frame: their gradient is exactly zero either way (the derivative of a
    softmax over one key), and keeping them in the autograd graph gives them that zero
    gradient instead of none, which PyTorch DDP without ``find_unused_parameters`` needs.
    """

    def __init__(self, frame_dim: int, context_embed_dim: int, attention_dim: int = 32, single_key_shortcut: bool = True):
        super().__init__()
        self.output_dim = frame_dim
        self.attention_dim = attention_dim
        self.single_key_shortcut = single_key_shortcut
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
        """``CA(Z, e)`` without the residual, ``(batch, frame, frame_dim)`` (with one key, a
        view that repeats one vector per utterance over the frames)."""
        if self.single_key_shortcut and context.size(1) == 1:
            return self.attend_single_key(frames, context, context_padding_mask).unsqueeze(1).expand(-1, frames.size(1), -1)
        weights = self.attention_weights(frames, context, context_padding_mask)
        attended = torch.bmm(weights, self.value(context))
        has_key = weights.sum(-1, keepdim=True) > 0
        # An utterance without any context key gets no contribution, not out.bias.
        return self.out(attended) * has_key.to(frames.dtype)

    def attend_single_key(self, frames, context, context_padding_mask=None):
        """``CA(Z, e)`` of every frame when ``e`` is one key ``(batch, 1, context_embed_dim)``:
        ``out(value(e))``, zero where the key is padding; ``(batch, frame_dim)``.

        The weight is the softmax over one key, 1, computed from the first frame's query (any
        frame's gives the same): its derivative is 0, so query and key get exactly the zero
        gradient the per-frame path gives them, and so do the frames and the context through
        them (hence the detached inputs: no zero gradient is carried back). A few small
        operations per utterance, where the general path runs a query, a softmax and the
        output projection per frame (and their backward): the head stays cheap where kernel
        launches dominate (GPU)."""
        key = context[:, 0]
        # in float32, as attention_weights: a half-precision score above 65504 would be inf
        query, key_projection = self.query(frames[:, 0].detach()).float(), self.key(key.detach()).float()
        score = (query * key_projection).sum(-1, keepdim=True)  # (batch, 1)
        weight = torch.softmax(score, dim=-1).to(frames.dtype)  # 1
        attended = self.out(self.value(key) * weight)
        if context_padding_mask is None:
            return attended
        # An utterance without its context key gets no contribution, not out.bias.
        return attended.masked_fill(context_padding_mask[:, :1], 0.0)

    def forward(self, frames, context, context_padding_mask=None):
        if self.single_key_shortcut and context.size(1) == 1:
            return frames + self.attend_single_key(frames, context, context_padding_mask).unsqueeze(1)  # GCAF Eq. 1
        return frames + self.attend(frames, context, context_padding_mask)  # GCAF Eq. 1
