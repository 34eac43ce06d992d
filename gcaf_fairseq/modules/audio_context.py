"""Audio context (CA paper): the context module ``e = FC(attention_pool(Z))`` and the
joining of each utterance's neighbours.

The CA paper encodes every neighbouring segment with the same wav2vec2, concatenates the
representations of one utterance's neighbours over time and pools them into ``e_j``
(injected: row (b)); the aware model (row B) computes ``e_i`` of the current segment with
the same module, fuses it, and learns it towards ``e_j``. Encoding the neighbours needs the
speech encoder: the model does it (``Wav2VecContextEncoder.neighbour_context``) and hands
the frames to :meth:`AudioContext.from_neighbours`.
"""

import torch

from .context_head import ContextStudent


def join_neighbour_frames(frames, padding_mask, neighbour_owner, batch_size: int):
    """Concatenate over time the frames of each utterance's neighbours, in the given order.

    Shapes:
        frames: ``(neighbour, frame, dim)``: every neighbour of the batch, encoded
        padding_mask: ``(neighbour, frame)``, ``True`` at padding, or ``None``
        neighbour_owner: ``(neighbour,)``: the batch row each neighbour belongs to
        returns: joined ``(batch, joined_frame, dim)`` and its padding mask
            ``(batch, joined_frame)``; a row without neighbours is all padding
    """
    if padding_mask is None:
        valid = torch.ones(frames.shape[:2], dtype=torch.bool, device=frames.device)
    else:
        valid = ~padding_mask
    per_utterance = [[] for _ in range(batch_size)]
    for neighbour, owner in enumerate(neighbour_owner.tolist()):
        per_utterance[owner].append(frames[neighbour][valid[neighbour]])
    joined = [torch.cat(parts) if parts else frames.new_zeros(0, frames.size(-1)) for parts in per_utterance]
    longest = max(1, max(len(utterance_frames) for utterance_frames in joined))
    padded = frames.new_zeros(batch_size, longest, frames.size(-1))
    joined_padding_mask = torch.ones(batch_size, longest, dtype=torch.bool, device=frames.device)
    for row, utterance_frames in enumerate(joined):
        padded[row, : len(utterance_frames)] = utterance_frames
        joined_padding_mask[row, : len(utterance_frames)] = False
    return padded, joined_padding_mask


class AudioContext(ContextStudent):
    """The CA paper's context module ``e = FC(attention_pool(Z))``, ``D``-dim (CA Fig. 1).

    Args:
        frame_dim: feature size of the frames.
        context_dim: size ``D`` of ``e`` (the CA paper's 32).

    ``forward(frames, padding_mask)``: ``e_i`` of the current segment, frames
    ``(batch, frame, frame_dim)`` -> ``(batch, context_dim)`` (row B's student).
    :meth:`from_neighbours`: ``e_j`` of the neighbours (row (b)'s context, row B's teacher).
    """

    def __init__(self, frame_dim: int, context_dim: int):
        super().__init__(frame_dim, context_dim)
        self.context_dim = context_dim

    def from_neighbours(self, frames, padding_mask, neighbour_owner, batch_size: int):
        """``e_j`` ``(batch, context_dim)`` from the encoded neighbours (shapes as in
        :func:`join_neighbour_frames`); zero for an utterance without neighbours."""
        joined, joined_padding_mask = join_neighbour_frames(frames, padding_mask, neighbour_owner, batch_size)
        has_neighbour = ~joined_padding_mask.all(dim=1)
        return self(joined, joined_padding_mask) * has_neighbour.unsqueeze(1).to(joined.dtype)

    def no_neighbours(self, like: torch.Tensor, batch_size: int):
        """``e_j`` of a batch in which no utterance has a neighbour: zeros ``(batch, context_dim)``."""
        return like.new_zeros(batch_size, self.context_dim)
