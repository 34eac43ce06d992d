"""What every preparation checks in its source data, and how it reports it: the error type
(:class:`PrepareError`, whose message names the file and line), the list of problems in one
message, and the audio checks of the listed files (:func:`checked_audio_headers`).

The formats themselves have their own homes, shared with the task and the demo corpora (see
``/work/shared/DATA.md``):

* manifest ``{split}.tsv`` and the 16 kHz rate: :mod:`gcaf_fairseq.data.manifest`;
* audio headers: :mod:`gcaf_fairseq.data.audio_headers`;
* ``.ltr`` letters: :mod:`gcaf_fairseq.data.letters`;
* dictionaries ``dict.*.txt``: :mod:`gcaf_fairseq.data.symbol_dictionary`;
* utterance tables and their neighbour links: :mod:`gcaf_fairseq.data.utterance_table`;
* line files, links and streams, atomically: :mod:`gcaf_fairseq.data.atomic_files`.
"""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Optional, Sequence

from tqdm import tqdm

from ..data.audio_headers import AudioHeader, audio_header_or_problem
from ..data.dataset_checks import DEFAULT_RECEPTIVE_FIELD, too_short_problem
from ..data.manifest import SAMPLE_RATE

MAX_LISTED_PROBLEMS = 20


class PrepareError(ValueError):
    """Malformed input: the message names the file (and line) and says what is wrong."""


def problems_message(problems: Sequence[str]) -> str:
    """One message listing the first :data:`MAX_LISTED_PROBLEMS` problems and how many more."""
    listed = list(problems[:MAX_LISTED_PROBLEMS])
    if len(problems) > MAX_LISTED_PROBLEMS:
        listed.append(f"... and {len(problems) - MAX_LISTED_PROBLEMS} more")
    return "\n".join(listed)


def checked_audio_headers(
    where_listed: Dict[Path, str],
    jobs: int,
    progress: bool,
    description: str,
    verify: bool = False,
    min_frames: Optional[int] = DEFAULT_RECEPTIVE_FIELD,
) -> Dict[Path, AudioHeader]:
    """``{path: AudioHeader}`` of every audio file of ``where_listed`` (``{path: "file:line"
    that lists it}``), read with ``jobs`` threads (libsndfile releases the GIL) behind a
    progress bar on stderr when ``progress``; with ``verify``, every file is also decoded in
    full and must give the header's length (see
    :func:`gcaf_fairseq.data.audio_headers.audio_header_or_problem`).

    Raises PrepareError listing every file that cannot be read, has a zero or unknown
    length, does not decode (``verify``), is not 16 kHz mono, or holds fewer than ``min_frames``
    samples, with the line that lists it. ``min_frames`` defaults to wav2vec2's receptive field
    (400 samples, 25 ms: a shorter utterance yields no frame, and training or decoding would
    refuse it later, see :func:`gcaf_fairseq.data.dataset_checks.too_short_problem`); None for
    files that are cut into utterances later (their cuts are checked instead).
    """
    paths = sorted(where_listed)
    if verify:
        description = description.replace("audio headers", "decoding audio")
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        reads = pool.map(lambda path: audio_header_or_problem(path, verify), paths)
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
        elif min_frames is not None and too_short_problem(header.frames, min_frames):
            problems.append(
                f"{path} (listed at {where_listed[path]}) {too_short_problem(header.frames, min_frames)}; "
                "remove the utterance from the source (its line and its audio), or restore its full audio"
            )
    if problems:
        raise PrepareError(problems_message(problems))
    return dict(zip(paths, headers))
