"""The neighbouring segments' audio for audio context (CA paper), found through the
utterance table and carried in fairseq batches."""

import os
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

import soundfile
import torch
from fairseq.data import BaseWrapperDataset


@dataclass
class NeighbourLookup:
    """For each utterance of a split (dataset order), the audio paths of its neighbours."""

    paths: List[List[str]]
    missing: List[str] = field(default_factory=list)  # "ID: why" for neighbours that should exist but do not
    edge_slots: int = 0  # window slots beyond the start or end of a stream (no neighbour there)

    def counts(self) -> Dict[str, int]:
        with_some = sum(1 for p in self.paths if p)
        return {
            "utterances": len(self.paths),
            "with_neighbours": with_some,
            "without_neighbours": len(self.paths) - with_some,
            "edge_slots": self.edge_slots,
            "missing": len(self.missing),
        }


def find_neighbours(rows: Sequence[dict], utterance_ids: Sequence[str], relative_positions: Sequence[int], table_path: str) -> NeighbourLookup:
    """Follow ``prev_id`` / ``next_id`` links from each utterance to the window's positions.

    A link that is null is a stream edge (no neighbour, counted); a link to an id without a
    row, an utterance absent from the table, or an audio file that does not exist is
    *missing* (the task's ``context_missing`` policy decides). Relative audio paths are
    relative to the table's folder.
    """
    by_id = {row["id"]: row for row in rows}
    folder = os.path.dirname(os.path.abspath(table_path))
    lookup = NeighbourLookup(paths=[])
    for utterance_id in utterance_ids:
        found = []
        if utterance_id not in by_id:
            lookup.missing.append(f"{utterance_id}: not in {table_path}")
            lookup.paths.append(found)
            continue
        for relative in relative_positions:
            row, link = by_id[utterance_id], "prev_id" if relative < 0 else "next_id"
            for _ in range(abs(relative)):
                next_id = row[link]
                if next_id is None:
                    row = None
                    lookup.edge_slots += 1
                    break
                if next_id not in by_id:
                    lookup.missing.append(f"{utterance_id}: its neighbour {next_id} has no row in {table_path}")
                    row = None
                    break
                row = by_id[next_id]
            if row is None:
                continue
            path = row["audio"] if os.path.isabs(row["audio"]) else os.path.join(folder, row["audio"])
            if not os.path.exists(path):
                lookup.missing.append(f"{utterance_id}: the audio of its neighbour {row['id']} ({path}) does not exist")
                continue
            found.append(path)
        lookup.paths.append(found)
    return lookup


class NeighbourAudioDataset(BaseWrapperDataset):
    """Adds the neighbours' audio to each utterance of fairseq's audio dataset.

    Batches gain ``net_input["neighbour_source"]`` ``(neighbours, samples)``,
    ``net_input["neighbour_padding_mask"]`` (``True`` at padding), ``net_input["neighbour_owner"]``
    (the batch row each neighbour belongs to, in window order) and ``context_present``
    ``(batch,)`` (the utterance has at least one neighbour).

    Args:
        dataset: the wrapped dataset (an ``AddTargetDataset`` over a ``FileAudioDataset``).
        neighbour_paths: per utterance (dataset order), its neighbours' audio files.
        audio: the ``FileAudioDataset``, whose ``postprocess`` (mono, sample rate check,
            ``normalize``) the neighbours get too.
    """

    def __init__(self, dataset, neighbour_paths: List[List[str]], audio):
        super().__init__(dataset)
        if len(neighbour_paths) != len(dataset):
            raise ValueError("neighbour_paths must list the neighbours of every utterance")
        self.neighbour_paths = neighbour_paths
        self.audio = audio

    def load(self, path) -> torch.Tensor:
        samples, sample_rate = soundfile.read(path, dtype="float32")
        try:
            return self.audio.postprocess(torch.from_numpy(samples), sample_rate)
        except Exception as error:
            raise ValueError(f"{path}: {error} (wav2vec2 needs {self.audio.sample_rate} Hz audio)") from error

    def __getitem__(self, index):
        item = self.dataset[index]
        item["neighbours"] = [self.load(path) for path in self.neighbour_paths[index]]
        return item

    def collater(self, samples):
        batch = self.dataset.collater(samples)
        if not batch:
            return batch
        neighbours_by_id = {sample["id"]: sample["neighbours"] for sample in samples}
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
