"""Shared pieces of data preparation: fairseq manifests and labels, dictionaries, audio
header checks, neighbour links of utterance tables, and atomic writes.

Every file is written atomically (:mod:`gcaf_fairseq.data.atomic_files`).

Formats written here (see ``/work/shared/DATA.md``):

* manifest ``{split}.tsv``: the audio root folder, then ``relative/path<TAB>num_samples``;
* labels: one line per manifest row;
* dictionary ``dict.*.txt``: ``SYMBOL COUNT`` lines, most frequent first (ties keep the
  order of first appearance, as ``collections.Counter.most_common`` gives them).
"""

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Sequence, Tuple, Union

import numpy as np
import soundfile
from tqdm import tqdm

from ..data.atomic_files import temporary_sibling, write_text_atomically

SAMPLE_RATE = 16000
MAX_LISTED_PROBLEMS = 20


class PrepareError(ValueError):
    """Malformed input: the message names the file (and line) and says what is wrong."""


def problems_message(problems: Sequence[str]) -> str:
    """One message listing the first :data:`MAX_LISTED_PROBLEMS` problems and how many more."""
    listed = list(problems[:MAX_LISTED_PROBLEMS])
    if len(problems) > MAX_LISTED_PROBLEMS:
        listed.append(f"... and {len(problems) - MAX_LISTED_PROBLEMS} more")
    return "\n".join(listed)


def write_lines(path: Path, lines: Iterable[str]) -> None:
    """Write one line per item, atomically."""
    write_text_atomically(path, "".join(line + "\n" for line in lines))


def write_manifest(path: Path, audio_root: Path, entries: Iterable[Tuple[str, int]]) -> None:
    """A fairseq manifest: ``audio_root`` then ``relative_path<TAB>num_samples`` per entry."""
    rows = [f"{relative_path}\t{num_samples}" for relative_path, num_samples in entries]
    write_lines(path, [str(audio_root)] + rows)


def asr_letters(text: str, final_bar: bool) -> str:
    """A ``.ltr`` line: the characters of ``text`` separated by spaces, ``|`` for each
    space, and, with ``final_bar`` (LibriSpeech, as fairseq's ``libri_labels.py``), a final
    `` |``: ``HI YOU`` -> ``H I | Y O U |``; without it (SLUE ASR) ``H I | Y O U``."""
    letters = " ".join(text.replace(" ", "|"))
    return letters + " |" if final_bar else letters


def symbol_counts(lines: Iterable[str]) -> List[Tuple[str, int]]:
    """``(symbol, count)`` of the whitespace-separated symbols of ``lines``, most frequent
    first; ties in order of first appearance (SLUE-toolkit's ``create_dict``)."""
    counter = Counter()
    for line in lines:
        counter.update(line.strip().split())
    return counter.most_common()


def write_dictionary(path: Path, counts: Iterable[Tuple[str, int]]) -> None:
    """A fairseq Dictionary file: ``SYMBOL COUNT`` lines."""
    write_lines(path, [f"{symbol} {count}" for symbol, count in counts])


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


def link_stream_neighbours(
    candidates: List[Dict], stream_order: Callable[[str], object] = str
) -> List[Dict]:
    """Utterance table rows with ``prev_id`` / ``next_id`` filled in (in place).

    ``candidates`` are rows (``id``, ``stream``, ``position``, ``in_split``, ...) where
    positions within a stream are consecutive integers for consecutive utterances; a row
    whose ``stream`` is None (id not understood) gets no neighbours. Every ``in_split``
    row is kept; a row outside the split is kept only when it neighbours one inside, so
    every kept neighbour of the split is listed and nothing else. Links point only at
    kept rows. Rows come back sorted by (stream, position), then the rows without a
    stream in their given order.
    """
    by_place = {(row["stream"], row["position"]): row for row in candidates if row["stream"] is not None}

    def neighbour(row, step):
        return by_place.get((row["stream"], row["position"] + step)) if row["stream"] is not None else None

    kept_ids = {row["id"] for row in candidates if row["in_split"]}
    for row in candidates:
        if row["in_split"]:
            kept_ids.update(other["id"] for other in (neighbour(row, -1), neighbour(row, 1)) if other is not None)
    kept = [row for row in candidates if row["id"] in kept_ids]
    for row in kept:
        previous, following = neighbour(row, -1), neighbour(row, 1)
        row["prev_id"] = previous["id"] if previous is not None and previous["id"] in kept_ids else None
        row["next_id"] = following["id"] if following is not None and following["id"] in kept_ids else None
    placed = [row for row in kept if row["stream"] is not None]
    placed.sort(key=lambda row: (stream_order(row["stream"]), row["position"]))
    return placed + [row for row in kept if row["stream"] is None]
