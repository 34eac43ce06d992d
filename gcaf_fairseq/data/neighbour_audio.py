"""The neighbouring segments' audio for audio context (CA paper), found through the
utterance table's neighbour index (:mod:`gcaf_fairseq.data.neighbour_index`) and carried in
fairseq batches."""

from typing import Dict, List, Sequence, Union

import soundfile
import torch
from fairseq.data import BaseWrapperDataset

from .neighbour_index import NeighbourIndex, NeighbourLookup

__all__ = ["NeighbourAudioDataset", "NeighbourLookup", "find_neighbours"]


def find_neighbours(rows: Sequence[dict], utterance_ids: Sequence[str], relative_positions: Sequence[int], table_path: str) -> NeighbourLookup:
    """Follow ``prev_id`` / ``next_id`` links from each utterance to the window's positions,
    on table ``rows`` in memory (see :meth:`NeighbourIndex.neighbours`: null links are
    stream edges, counted; links to ids without a row, utterances absent from the table and
    audio files that do not exist are *missing*)."""
    return NeighbourIndex.from_rows(rows, table_path).neighbours(utterance_ids, relative_positions)


class NeighbourAudioDataset(BaseWrapperDataset):
    """Adds the neighbours' audio to each utterance of fairseq's audio dataset.

    Batches gain ``net_input["neighbour_source"]`` ``(neighbours, samples)``,
    ``net_input["neighbour_padding_mask"]`` (``True`` at padding), ``net_input["neighbour_owner"]``
    (the batch row each neighbour belongs to, in window order) and ``context_present``
    ``(batch,)`` (the utterance has at least one neighbour).

    Items carry only their neighbours' paths; the collater reads each distinct neighbour
    file of a batch once (a neighbour shared by two utterances of the batch, e.g. the
    segment between them under window (3, -1), is read and decoded once). Memory bound: the
    decoded waves of one batch's distinct neighbours, at most ``batch size x (L - 1)``
    waves (no more than the batch's ``neighbour_source`` itself), dropped with the batch;
    nothing is kept across batches.

    Args:
        dataset: the wrapped dataset (an ``AddTargetDataset`` over a ``FileAudioDataset``).
        neighbours: a :class:`NeighbourLookup` (dataset order), or per utterance its
            neighbours' audio files.
        audio: the ``FileAudioDataset``, whose ``postprocess`` (mono, sample rate check,
            ``normalize``) the neighbours get too.
    """

    def __init__(self, dataset, neighbours: Union[NeighbourLookup, List[List[str]]], audio):
        super().__init__(dataset)
        if len(neighbours) != len(dataset):
            raise ValueError("the neighbours must list the neighbours of every utterance")
        self.neighbours = neighbours
        self.audio = audio

    def paths_of(self, index) -> List[str]:
        if isinstance(self.neighbours, NeighbourLookup):
            return self.neighbours.paths_of(index)
        return list(self.neighbours[index])

    def expected_samples(self, index) -> List[int]:
        if isinstance(self.neighbours, NeighbourLookup):
            return self.neighbours.num_samples_of(index)
        return [-1] * len(self.neighbours[index])

    def load(self, path, expected_samples: int = -1) -> torch.Tensor:
        samples, sample_rate = soundfile.read(path, dtype="float32")
        if expected_samples >= 0 and len(samples) != expected_samples:
            raise ValueError(
                f"{path}: {len(samples)} samples, but its neighbour index says {expected_samples}: the audio "
                "changed after data preparation; prepare the data again (or delete the .neighbours.npz index)"
            )
        try:
            return self.audio.postprocess(torch.from_numpy(samples), sample_rate)
        except Exception as error:
            raise ValueError(f"{path}: {error} (wav2vec2 needs {self.audio.sample_rate} Hz audio)") from error

    def __getitem__(self, index):
        item = self.dataset[index]
        item["neighbour_paths"] = list(zip(self.paths_of(index), self.expected_samples(index)))
        return item

    def collater(self, samples):
        batch = self.dataset.collater(samples)
        if not batch:
            return batch
        decoded: Dict[str, torch.Tensor] = {}  # this batch's distinct neighbours
        neighbours_by_id = {}
        for sample in samples:
            waves = []
            for path, expected in sample["neighbour_paths"]:
                if path not in decoded:
                    decoded[path] = self.load(path, expected)
                waves.append(decoded[path])
            neighbours_by_id[sample["id"]] = waves
        waves, owners = [], []
        for row, index in enumerate(batch["id"].tolist()):
            for wave in neighbours_by_id[index]:
                waves.append(wave)
                owners.append(row)
        longest = max([len(w) for w in waves], default=1)
        source = torch.zeros(len(waves), longest)
        padding_mask = torch.ones(len(waves), longest, dtype=torch.bool)
        for n, wave in enumerate(waves):
            source[n, : len(wave)] = wave
            padding_mask[n, : len(wave)] = False
        batch["net_input"]["neighbour_source"] = source
        batch["net_input"]["neighbour_padding_mask"] = padding_mask
        batch["net_input"]["neighbour_owner"] = torch.tensor(owners, dtype=torch.long)
        batch["context_present"] = torch.tensor([bool(neighbours_by_id[i]) for i in batch["id"].tolist()])
        return batch
