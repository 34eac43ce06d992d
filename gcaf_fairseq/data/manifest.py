"""Utterance ids of a fairseq tsv manifest, read from the audio dataset fairseq built from it."""

import os
from typing import List

from fairseq.data.audio.raw_audio_dataset import FileAudioDataset

_IDS_ATTRIBUTE = "_gcaf_utterance_ids"  # the ids, computed once per dataset object


def file_audio_dataset(dataset) -> FileAudioDataset:
    """The :class:`FileAudioDataset` under fairseq's dataset wrappers."""
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
    """Utterance ids of a fairseq audio dataset, in dataset order: each manifest file name
    without folder and extension (``SPEAKER-CHAPTER-0001.flac`` -> ``SPEAKER-CHAPTER-0001``).

    Computed once per split (cached on its ``FileAudioDataset``, whose file list does not
    change): the context join, the decoding output and label prediction all ask. Each call
    returns a new list."""
    audio = file_audio_dataset(dataset)
    cached = audio.__dict__.get(_IDS_ATTRIBUTE)
    if cached is None or len(cached) != len(audio.fnames):
        names = audio.fnames if isinstance(audio.fnames, list) else [name.as_py() for name in audio.fnames]
        cached = tuple(os.path.splitext(os.path.basename(audio.text_compressor.decompress(name)))[0] for name in names)
        setattr(audio, _IDS_ATTRIBUTE, cached)
    return list(cached)
