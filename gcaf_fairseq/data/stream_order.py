"""The order of the sequential decoding pass: each stream in order, position by position.

A deployed decoder has, for utterance ``t`` of a recording, its own output for ``t - 1``
and that utterance's encoding: the sequential pass (``fairseq-generate --sequential-context``)
decodes position 0 of every stream, then position 1, ..., so that everything of position
``t - 1`` is decoded before ``t``. Streams and positions come from the utterance table's
``prev_id`` links (never from manifest order), restricted to the utterances decoded in the
pass (the split's manifest):

- an utterance whose ``prev_id`` is null starts a stream (position 0, no context);
- one whose previous utterance is not decoded in this pass (a neighbour outside the split,
  listed for context only) starts a chain of its own, without the previous text; it is
  counted (``previous_not_decoded``), the same as ``gcaf-context-texts --hypotheses`` does;
- one whose ``prev_id`` has no row in the table is counted as ``previous_unknown``;
- one absent from the table is an error, or under ``context_missing=zero`` a stream of its
  own (counted as ``not_in_table``).

:class:`StreamOrderDataset` makes fairseq's batches follow that order: every batch holds
utterances of one position, of as many streams as ``--max-tokens`` / ``--batch-size``
allow, sorted by length within the position as fairseq sorts them.
"""

import logging
from dataclasses import dataclass, field
from typing import Dict, Sequence

import numpy as np
from fairseq.data import BaseWrapperDataset

from .neighbour_index import DANGLING, EDGE, NeighbourIndex

logger = logging.getLogger(__name__)


@dataclass
class StreamOrder:
    """Where each utterance of a split (dataset order) sits in its stream."""

    previous: np.ndarray  # (utterances,) int64: dataset index of the previous utterance decoded in the pass, -1: none
    position: np.ndarray  # (utterances,) int64: 0 for the first utterance of a chain, then 1, 2, ...
    counts: Dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.previous)


def stream_order(utterance_ids: Sequence[str], index: NeighbourIndex, context_missing: str = "error", where: str = "") -> StreamOrder:
    """The :class:`StreamOrder` of ``utterance_ids`` (a split, dataset order) from the
    table's neighbour index (``where`` names the split in errors)."""
    dataset_index = {utterance_id: k for k, utterance_id in enumerate(utterance_ids)}
    if len(dataset_index) != len(utterance_ids):
        raise ValueError(f"{where}: utterance ids must be unique to decode streams in order")
    row_of = dict(zip(index.ids, range(len(index.ids))))
    previous = np.full(len(utterance_ids), -1, dtype=np.int64)
    counts = {"utterances": len(utterance_ids), "stream_starts": 0, "previous_not_decoded": 0, "previous_unknown": 0, "not_in_table": 0}
    absent = []
    for k, utterance_id in enumerate(utterance_ids):
        row = row_of.get(utterance_id)
        if row is None:
            absent.append(utterance_id)
            continue
        link = int(index.prev[row])
        if link == EDGE:
            counts["stream_starts"] += 1
        elif link == DANGLING:
            counts["previous_unknown"] += 1
        elif index.ids[link] in dataset_index:
            previous[k] = dataset_index[index.ids[link]]
        else:
            counts["previous_not_decoded"] += 1
    if absent:
        if context_missing != "zero":
            shown = ", ".join(absent[:5]) + (f", ... ({len(absent) - 5} more)" if len(absent) > 5 else "")
            raise ValueError(
                f"{len(absent)} utterances of {where} are not in the utterance table {index.table}, so their stream "
                f"is unknown: {shown}. Add them to the table, or set task.context_missing=zero to decode each "
                "as a stream of its own (no context)"
            )
        counts["not_in_table"] = len(absent)
    return StreamOrder(previous, chain_positions(previous, where), counts)


def chain_positions(previous: np.ndarray, where: str = "") -> np.ndarray:
    """Each utterance's number of predecessors along ``previous`` (-1 ends a chain)."""
    position = np.full(len(previous), -1, dtype=np.int64)
    for start in range(len(previous)):
        walk, k = [], start
        while k >= 0 and position[k] < 0:
            if len(walk) > len(previous):
                raise ValueError(f"{where}: the prev_id links run in a cycle through dataset index {start}")
            walk.append(k)
            k = int(previous[k])
        known = position[k] if k >= 0 else -1
        for step, member in enumerate(reversed(walk), start=1):
            position[member] = known + step
    return position


class StreamOrderDataset(BaseWrapperDataset):
    """Batches in stream order (see the module docstring): position by position, each
    position's utterances longest first, batched by the wrapped dataset (which keeps a
    short last batch: every utterance is decoded)."""

    def __init__(self, dataset, order: StreamOrder):
        super().__init__(dataset)
        if len(order) != len(dataset):
            raise ValueError(f"the stream order covers {len(order)} utterances, the dataset {len(dataset)}")
        self.order = order

    def ordered_indices(self):
        sizes = np.asarray(self.dataset.sizes)
        return np.lexsort((-sizes, self.order.position))

    def batch_by_size(self, indices, max_tokens=None, max_sentences=None, required_batch_size_multiple=1):
        indices = np.asarray(indices, dtype=np.int64)
        positions = self.order.position[indices]
        batches = []
        for position in np.unique(positions):  # ascending: all of t - 1 before t
            batches.extend(
                self.dataset.batch_by_size(
                    indices[positions == position],  # keeps ordered_indices' order within the position
                    max_tokens=max_tokens,
                    max_sentences=max_sentences,
                    required_batch_size_multiple=required_batch_size_multiple,
                )
            )
        return batches
