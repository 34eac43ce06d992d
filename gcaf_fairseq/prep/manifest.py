"""Shared pieces of data preparation: input errors, audio header checks and atomic
audio and link writes.

The formats themselves have their own homes, shared with the demo corpora (see
``/work/shared/DATA.md``):

* manifest ``{split}.tsv`` and the 16 kHz rate: :mod:`gcaf_fairseq.data.audio`;
* ``.ltr`` letters: :mod:`gcaf_fairseq.data.letters`;
* dictionaries ``dict.*.txt``: :mod:`gcaf_fairseq.data.symbol_dictionary`;
* utterance tables and their neighbour links: :mod:`gcaf_fairseq.data.utterance_table`;
* line files, atomically: :func:`gcaf_fairseq.data.atomic_files.write_lines`.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Sequence, Union

import numpy as np
import soundfile
from tqdm import tqdm

from ..data.atomic_files import temporary_sibling
from ..data.audio import SAMPLE_RATE

MAX_LISTED_PROBLEMS = 20


class PrepareError(ValueError):
    """Malformed input: the message names the file (and line) and says what is wrong."""


def problems_message(problems: Sequence[str]) -> str:
    """One message listing the first :data:`MAX_LISTED_PROBLEMS` problems and how many more."""
    listed = list(problems[:MAX_LISTED_PROBLEMS])
    if len(problems) > MAX_LISTED_PROBLEMS:
        listed.append(f"... and {len(problems) - MAX_LISTED_PROBLEMS} more")
    return "\n".join(listed)


def write_symlink_atomically(link: Path, target: str) -> None:
    """Make ``link`` a symbolic link to ``target`` (relative to the link's folder),
    replacing whatever ``link`` was in one rename."""
    link = Path(link)
    link.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(link)
    os.symlink(target, temporary)
    try:
        os.replace(temporary, link)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_audio_atomically(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Write ``samples`` ((frames,) or (frames, channels)) to ``path`` as 16-bit FLAC through
    a temporary file in the same folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(path)
    try:
        soundfile.write(str(temporary), samples, sample_rate, format="FLAC", subtype="PCM_16")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class AudioHeader:
    """What ``soundfile.info`` says about an audio file."""

    sample_rate: int
    channels: int
    frames: int


def read_audio_header(path: Path) -> Union[AudioHeader, str]:
    """The header of ``path``, or why it cannot be read."""
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, OSError) as error:  # soundfile raises LibsndfileError(RuntimeError)
        return f"{path}: cannot read the audio header: {error}"
    return AudioHeader(info.samplerate, info.channels, info.frames)


def checked_audio_headers(
    where_listed: Dict[Path, str], jobs: int, progress: bool, description: str
) -> Dict[Path, AudioHeader]:
    """``{path: AudioHeader}`` of every audio file of ``where_listed`` (``{path: "file:line"
    that lists it}``), read with ``jobs`` threads (libsndfile releases the GIL) behind a
    progress bar on stderr when ``progress``.

    Raises PrepareError listing every file that cannot be read or is not 16 kHz mono,
    with the line that lists it.
    """
    paths = sorted(where_listed)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        reads = pool.map(read_audio_header, paths)
        headers = list(tqdm(reads, total=len(paths), desc=description, disable=not progress, unit="file"))
    problems = []
    for path, header in zip(paths, headers):
        if isinstance(header, str):
            problems.append(f"{header} (listed at {where_listed[path]})")
        elif header.sample_rate != SAMPLE_RATE or header.channels != 1:
            problems.append(
                f"{path} (listed at {where_listed[path]}): {header.sample_rate} Hz, {header.channels} channel(s); "
                "wav2vec2 needs 16 kHz mono audio: convert it first, e.g. sox IN -r 16000 -c 1 -b 16 OUT"
            )
    if problems:
        raise PrepareError(problems_message(problems))
    return dict(zip(paths, headers))

