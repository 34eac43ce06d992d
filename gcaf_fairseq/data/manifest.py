"""fairseq's wav2vec audio manifest ``{split}.tsv``: its one home (reader, writer, utterance
ids, sample rate, size).

Format (fairseq's ``wav2vec_manifest.py``)::

    /absolute/audio/root
    relative/path.flac<TAB>num_samples
    ...

one row per utterance, in the order of the split's label files (``.ltr``, ``.wrd``, ...); a
path may also be absolute. An utterance's id is its file name without folder and extension
(``SPEAKER-CHAPTER-0001.flac`` -> ``SPEAKER-CHAPTER-0001``). fairseq's own manifest script
lists files in no particular order: neighbours are found by id, never by row order.

Pure Python: importable without torch or fairseq. :func:`file_audio_dataset` and
:func:`manifest_utterance_ids` take the dataset fairseq built from a manifest and import
fairseq when called.
"""

import numbers
import os
from dataclasses import dataclass
from typing import Iterable, List, Tuple

from .atomic_files import write_lines

SAMPLE_RATE = 16000  # Hz, mono: what wav2vec2 is pretrained on

_IDS_ATTRIBUTE = "_gcaf_utterance_ids"  # the ids, computed once per dataset object


class ManifestError(ValueError):
    """A manifest that cannot be read or written as fairseq's format; the message names the
    file and line."""


@dataclass(frozen=True)
class ManifestRow:
    """One utterance row of a manifest."""

    line: int  # 1-based line number in the manifest (the root is line 1)
    path: str  # as written (relative to the root, or absolute)
    samples: int

    @property
    def utterance_id(self) -> str:
        return utterance_id_of(self.path)


def utterance_id_of(path: str) -> str:
    """The utterance id of a manifest path: the file name without folder and extension."""
    return os.path.splitext(os.path.basename(path))[0]


def read_manifest(path) -> Tuple[str, List[ManifestRow]]:
    """``(audio root, rows)`` of a manifest, read as fairseq reads it (each line stripped,
    split on tabs). Raises :class:`ManifestError` naming the file and line: a missing or
    empty file, a first line that is an utterance row instead of the root, a row without
    exactly two columns, a number of samples that is not a positive integer, text that is
    not UTF-8."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ManifestError(f"manifest {path} does not exist: write it with gcaf-prepare-librispeech / gcaf-prepare-slue")
    rows: List[ManifestRow] = []
    with open(path, encoding="utf-8") as lines:
        try:
            root_line = lines.readline()
            if not root_line:
                raise ManifestError(
                    f"{path} is empty: a manifest starts with the audio root folder, then one "
                    "`relative/path<TAB>num_samples` row per utterance"
                )
            root = root_line.strip()
            if "\t" in root:
                raise ManifestError(
                    f"{path}:1: the first line is an utterance row ({root!r}), not the audio root folder: "
                    "fairseq would take it as the root and count one utterance less than the label file has. "
                    "Insert the folder the audio paths are relative to as the first line"
                )
            for line_number, line in enumerate(lines, start=2):
                columns = line.strip().split("\t")
                if len(columns) != 2:
                    raise ManifestError(
                        f"{path}:{line_number}: expected 2 tab-separated columns (audio path, number of samples), "
                        f"found {len(columns)}: {line.rstrip(chr(10))!r}. Each manifest row is "
                        "`relative/path<TAB>num_samples` (fairseq's wav2vec_manifest.py layout)"
                    )
                try:
                    samples = int(columns[1])
                except ValueError:
                    samples = None
                if samples is None or samples <= 0:
                    raise ManifestError(
                        f"{path}:{line_number}: the number of samples {columns[1]!r} is not a positive integer. "
                        "Write each file's number of samples (soundfile.info(path).frames) in the second column"
                    )
                rows.append(ManifestRow(line_number, columns[0], samples))
        except UnicodeDecodeError as error:
            raise ManifestError(f"{path}: not UTF-8 text ({error})") from error
    return root, rows


def write_manifest(path, audio_root, entries: Iterable[Tuple[str, int]]) -> None:
    """Write a manifest atomically: ``audio_root`` then ``relative_path<TAB>num_samples`` per
    entry. Refuses (:class:`ManifestError`, naming the row) what :func:`read_manifest` would
    refuse: a path with a tab or a line break, a number of samples that is not a positive
    integer."""
    rows = []
    for row_number, (relative_path, num_samples) in enumerate(entries, start=1):
        relative_path = str(relative_path)
        if any(character in relative_path for character in "\t\r\n") or not relative_path.strip():
            raise ManifestError(f"{path}: row {row_number}: audio path {relative_path!r} is empty or holds a tab or line break")
        if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral) or num_samples <= 0:
            raise ManifestError(
                f"{path}: row {row_number} ({relative_path}): the number of samples {num_samples!r} is not a positive integer"
            )
        rows.append(f"{relative_path}\t{int(num_samples)}")
    write_lines(path, [str(audio_root)] + rows)


def manifest_size(path) -> Tuple[int, float]:
    """``(utterances, audio seconds)`` of a manifest, from its sample counts at
    :data:`SAMPLE_RATE`."""
    _, rows = read_manifest(path)
    return len(rows), sum(row.samples for row in rows) / SAMPLE_RATE


def file_audio_dataset(dataset):
    """The fairseq ``FileAudioDataset`` under fairseq's dataset wrappers."""
    from fairseq.data.audio.raw_audio_dataset import FileAudioDataset

    audio = dataset
    while not isinstance(audio, FileAudioDataset) and hasattr(audio, "dataset"):
        audio = audio.dataset
    if not isinstance(audio, FileAudioDataset):
        raise ValueError(
            f"context needs a tsv manifest (FileAudioDataset), got {type(audio).__name__}: "
            "binarized and multi-corpus datasets are not supported"
        )
    return audio


def manifest_utterance_ids(dataset) -> List[str]:
    """Utterance ids of a fairseq audio dataset, in dataset order (:func:`utterance_id_of`
    of each manifest path fairseq kept).

    Computed once per split (cached on its ``FileAudioDataset``, whose file list does not
    change): the context join, the decoding output and label prediction all ask. Each call
    returns a new list."""
    audio = file_audio_dataset(dataset)
    cached = audio.__dict__.get(_IDS_ATTRIBUTE)
    if cached is None or len(cached) != len(audio.fnames):
        names = audio.fnames if isinstance(audio.fnames, list) else [name.as_py() for name in audio.fnames]
        cached = tuple(utterance_id_of(audio.text_compressor.decompress(name)) for name in names)
        setattr(audio, _IDS_ATTRIBUTE, cached)
    return list(cached)
