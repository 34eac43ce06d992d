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


# libsndfile reports SF_COUNT_MAX frames when the header does not tell the length (a FLAC
# whose STREAMINFO total is 0, a streamed file): no real utterance or recording is a day long.
MAX_PLAUSIBLE_FRAMES = SAMPLE_RATE * 24 * 3600
DECODE_BLOCK_FRAMES = 1 << 16
REENCODE_HINT = "re-encode it (e.g. sox IN -r 16000 -c 1 -b 16 OUT.flac), or fetch the file again"
REFETCH_HINT = "fetch or extract the file again (a re-encoded copy would keep only what decodes)"


def decoded_frames(path: Path) -> int:
    """Decode all of ``path`` in blocks and return the number of frames it holds; raises
    what libsndfile raises on a stream that cannot be decoded (e.g. a truncated FLAC)."""
    frames = 0
    with soundfile.SoundFile(str(path)) as audio:
        buffer = np.empty((DECODE_BLOCK_FRAMES, audio.channels), dtype=np.int16)
        while True:
            read = len(audio.read(DECODE_BLOCK_FRAMES, dtype="int16", always_2d=True, out=buffer))
            frames += read
            if read < DECODE_BLOCK_FRAMES:
                return frames


def read_audio_header(path: Path, verify: bool = False) -> Union[AudioHeader, str]:
    """The header of ``path``, or why it cannot be used: it cannot be read, its length is
    zero or not known (garbage), or, when ``verify``, the audio does not decode to the
    length the header gives."""
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, OSError) as error:  # soundfile raises LibsndfileError(RuntimeError)
        return f"{path}: cannot read the audio header: {error}"
    if info.frames <= 0:
        return (
            f"{path}: the audio header gives a length of {info.frames} samples (empty or broken file); {REENCODE_HINT}"
        )
    if info.frames > MAX_PLAUSIBLE_FRAMES:
        return (
            f"{path}: the audio header does not tell the length ({info.frames} samples, more than a day); "
            f"fairseq cannot load such a file: {REENCODE_HINT}"
        )
    if verify:
        try:
            frames = decoded_frames(path)
        except (RuntimeError, OSError) as error:
            return f"{path}: the audio does not decode to its end (truncated or corrupt?): {error}; {REFETCH_HINT}"
        if frames != info.frames:
            return (
                f"{path}: the header gives {info.frames} samples but {frames} decode (truncated or corrupt?); "
                f"{REFETCH_HINT}"
            )
    return AudioHeader(info.samplerate, info.channels, info.frames)


def checked_audio_headers(
    where_listed: Dict[Path, str], jobs: int, progress: bool, description: str, verify: bool = False
) -> Dict[Path, AudioHeader]:
    """``{path: AudioHeader}`` of every audio file of ``where_listed`` (``{path: "file:line"
    that lists it}``), read with ``jobs`` threads (libsndfile releases the GIL) behind a
    progress bar on stderr when ``progress``; with ``verify``, every file is also decoded in
    full and must give the header's length (see :func:`read_audio_header`).

    Raises PrepareError listing every file that cannot be read, has a zero or unknown
    length, does not decode (``verify``) or is not 16 kHz mono, with the line that lists it.
    """
    paths = sorted(where_listed)
    if verify:
        description = description.replace("audio headers", "decoding audio")
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        reads = pool.map(lambda path: read_audio_header(path, verify), paths)
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

