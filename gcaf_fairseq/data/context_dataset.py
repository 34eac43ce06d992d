"""Adds each utterance's context embedding to fairseq batches, and never drops a batch."""

from typing import List, Optional

import numpy as np
import torch
from fairseq.data import BaseWrapperDataset

from .context_store import ContextStore


def collate_context(contexts: List[torch.Tensor], pooling: str, dim: int):
    """Pad per-utterance contexts into a batch.

    Args:
        contexts: one ``(rows, dim)`` tensor per utterance; ``rows == 0`` means no context.
        pooling: ``cls`` (at most one row each) or ``sequence``.

    Returns:
        context ``(batch, context_len, dim)`` float32: for ``cls`` ``context_len == 1`` and an
            absent context is the zero vector (the "zero context");
        context_padding_mask ``(batch, context_len)``: ``True`` at padding; for ``sequence``
            an absent context is an all-padding row (the "empty mask");
        context_present ``(batch,)`` bool.
    """
    lengths = torch.tensor([c.size(0) for c in contexts], dtype=torch.long)
    context_len = 1 if pooling == "cls" else max(1, int(lengths.max()) if len(contexts) else 1)
    context = torch.zeros(len(contexts), context_len, dim, dtype=torch.float32)
    for i, rows in enumerate(contexts):
        context[i, : rows.size(0)] = rows
    if pooling == "cls":
        padding_mask = torch.zeros(len(contexts), 1, dtype=torch.bool)
    else:
        padding_mask = torch.arange(context_len).unsqueeze(0) >= lengths.unsqueeze(1)
    return context, padding_mask, lengths > 0


class ContextDataset(BaseWrapperDataset):
    """Wraps fairseq's audio dataset (an ``AddTargetDataset``).

    Args:
        dataset: the wrapped dataset.
        store: the split's :class:`ContextStore`, or ``None`` for a model without context
            (then the batches are the wrapped dataset's own).
        context_rows: ``(len(dataset),)`` int array, the store index of each utterance, ``-1``
            where it has none (``context_missing=zero``).

    Batches gain ``net_input["context"]``, ``net_input["context_padding_mask"]`` and
    ``context_present`` (see :func:`collate_context`).

    fairseq's ``batch_by_size`` discards the last batch when its size is not a multiple of
    ``required_batch_size_multiple`` (8 by default): here that batch is kept, so training,
    validation and decoding see every utterance.
    """

    def __init__(self, dataset, store: Optional[ContextStore] = None, context_rows: Optional[np.ndarray] = None):
        super().__init__(dataset)
        if store is not None and (context_rows is None or len(context_rows) != len(dataset)):
            raise ValueError("context_rows must give one store index per utterance of the dataset")
        self.store = store
        self.context_rows = context_rows

    def context(self, index) -> torch.Tensor:
        row = int(self.context_rows[index])
        if row < 0:
            return torch.zeros(0, self.store.dim)
        return torch.from_numpy(np.array(self.store.get_by_index(row), dtype=np.float32))

    def __getitem__(self, index):
        item = self.dataset[index]
        if self.store is not None:
            item["context"] = self.context(index)
        return item

    def collater(self, samples):
        batch = self.dataset.collater(samples)
        if not batch or self.store is None:
            return batch
        context_by_id = {sample["id"]: sample["context"] for sample in samples}
        contexts = [context_by_id[index] for index in batch["id"].tolist()]
        context, padding_mask, present = collate_context(contexts, self.store.pooling, self.store.dim)
        batch["net_input"]["context"] = context
        batch["net_input"]["context_padding_mask"] = padding_mask
        batch["context_present"] = present
        return batch

    def batch_by_size(self, indices, max_tokens=None, max_sentences=None, required_batch_size_multiple=1):
        batches = list(
            self.dataset.batch_by_size(
                indices,
                max_tokens=max_tokens,
                max_sentences=max_sentences,
                required_batch_size_multiple=required_batch_size_multiple,
            )
        )
        batched = np.concatenate(batches) if batches else np.zeros(0, dtype=np.int64)
        if len(batched) < len(indices):
            indices = np.asarray(indices)
            # The discarded tail batch respected max_tokens/max_sentences already.
            batches.append(indices[~np.isin(indices, batched)])
        return batches
