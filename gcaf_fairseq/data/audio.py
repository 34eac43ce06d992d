"""Audio conventions shared by data preparation and the demo corpora: wav2vec2's sample
rate and fairseq's audio manifest ``{split}.tsv``. Pure Python.

Manifest format (fairseq's ``wav2vec_manifest.py``)::

    /absolute/audio/root
    relative/path.flac<TAB>num_samples
    ...

one row per utterance, in the order of the split's label files (``.ltr``, ``.wrd``, ...).
"""

from typing import Iterable, Tuple

from .atomic_files import write_lines

SAMPLE_RATE = 16000  # Hz, mono: what wav2vec2 is pretrained on


def write_manifest(path, audio_root, entries: Iterable[Tuple[str, int]]) -> None:
    """Write a fairseq manifest atomically: ``audio_root`` then ``relative_path<TAB>num_samples``
    per entry."""
    rows = [f"{relative_path}\t{num_samples}" for relative_path, num_samples in entries]
    write_lines(path, [str(audio_root)] + rows)
