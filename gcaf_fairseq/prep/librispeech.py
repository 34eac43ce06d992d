"""LibriSpeech and Libri-light: fairseq manifest, labels and utterance table of one split.

The source folder is anything in LibriSpeech layout, walked recursively: a Libri-light
fold (``librispeech_finetuning/1h/0``), the ``1h`` or ``9h`` folder, the whole
``librispeech_finetuning`` folder (10 h), or a LibriSpeech split (``train-clean-100``,
``dev-other``, ...). Chapters are found by their ``SPEAKER-CHAPTER.trans.txt`` files
(``ID WORDS...`` lines, upper case); each listed ``ID`` has ``ID.flac`` beside it. No
audio is left out silently: a FLAC without a transcript line, a folder of FLACs without a
transcript and a transcript named in another case (``84-121123.TRANS.txt``) are errors.
Every audio file is decoded in full (``verify_audio``) and must give the length its header
states; a zero or unknown length is an error either way, and so is a length below wav2vec2's
receptive field (400 samples, 25 ms: such an utterance yields no frame, and training or decoding
would refuse it later).

Outputs in the output folder, for split name ``SPLIT``::

    SPLIT.tsv                 fairseq manifest: the source folder (absolute), then
                              relative/path.flac<TAB>num_samples, sorted by id
    SPLIT.wrd                 the words, one line per manifest row
    SPLIT.ltr                 letters as fairseq's libri_labels.py writes them: H I | Y O U |
    dict.ltr.txt              fairseq's released LibriSpeech letter dictionary
    SPLIT.utterances.jsonl    the utterance table (gcaf_fairseq.data.utterance_table)
    SPLIT.coverage.json       where the previous / next utterances were found (a chapter's
                              end is known from a context root, or from a source chapter
                              numbered 0..N without a gap)

Utterance ``SPK-CHAP-NNNN`` has stream ``SPK-CHAP`` and position ``NNNN``; its neighbours
are ``NNNN - 1`` and ``NNNN + 1`` of the same chapter, taken from the source folder or,
when absent there (Libri-light keeps a few utterances per chapter), from the
``context_roots`` (full LibriSpeech trees): those get their own rows with
``in_split: false``.
"""

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

from ..data.atomic_files import write_lines, write_text_atomically
from ..data.manifest import SAMPLE_RATE, write_manifest
from ..data.letters import WORD_BOUNDARY, letters_line
from ..data.symbol_dictionary import FAIRSEQ_LETTER_DICTIONARY, write_dictionary
from ..data.neighbour_index import write_neighbour_index
from ..data.utterance_table import link_stream_neighbours, write_utterance_table
from .source_checks import PrepareError, checked_audio_headers, problems_message

TRANSCRIPT_LETTERS = frozenset(symbol for symbol, _ in FAIRSEQ_LETTER_DICTIONARY if symbol != WORD_BOUNDARY)
TRANSCRIPT_NAME = re.compile(r"(\d+)-(\d+)\.trans\.txt")
TRANSCRIPT_SUFFIX = ".trans.txt"
AUDIO_SUFFIX = ".flac"
UTTERANCE_ID = re.compile(r"(\d+)-(\d+)-(\d+)")


@dataclass(frozen=True)
class Utterance:
    """One transcript line: ``where`` is ``trans_path:line``, ``audio`` the FLAC beside it."""

    id: str
    speaker: int
    chapter: int
    number: int
    text: str
    audio: Path
    where: str

    @property
    def stream(self) -> str:
        return f"{self.speaker}-{self.chapter}"

    def neighbour_id(self, step: int) -> str:
        """Id of utterance ``number + step`` of the chapter (same zero padding)."""
        width = len(self.id.rsplit("-", 1)[1])
        return f"{self.stream}-{self.number + step:0{width}d}"


def stream_order(stream: str) -> Tuple[int, int]:
    """Chapters in numeric (speaker, chapter) order."""
    speaker, chapter = stream.split("-")
    return int(speaker), int(chapter)


def find_transcripts(root: Path) -> List[Path]:
    """Every ``*.trans.txt`` below ``root`` (symbolic links followed), in any case of the
    suffix (:func:`read_transcript` refuses a name in another case), sorted."""
    found = []
    for folder, _, names in os.walk(root, followlinks=True):
        found.extend(Path(folder) / name for name in names if name.lower().endswith(TRANSCRIPT_SUFFIX))
    return sorted(found)


def audio_folders(root: Path) -> Dict[Path, List[str]]:
    """``{folder: sorted FLAC names}`` of every folder below ``root`` that holds FLAC files
    (``.flac`` in any case; symbolic links followed)."""
    found = {}
    for folder, _, names in os.walk(root, followlinks=True):
        flacs = sorted(name for name in names if name.lower().endswith(AUDIO_SUFFIX))
        if flacs:
            found[Path(folder)] = flacs
    return found


def listed_names(names: Sequence[str], count: int = 5) -> str:
    """The first ``count`` names, comma-separated, and how many more there are."""
    more = f" ... ({len(names) - count} more)" if len(names) > count else ""
    return ", ".join(names[:count]) + more


def transcript_name_problem(path: Path) -> str:
    """Why ``path`` (a ``*.trans.txt`` in any case) is not a chapter transcript name, or ''."""
    if TRANSCRIPT_NAME.fullmatch(path.name) is not None:
        return ""
    name_match = TRANSCRIPT_NAME.fullmatch(path.name.lower())
    if name_match is not None:
        wanted = f"{name_match.group(1)}-{name_match.group(2)}{TRANSCRIPT_SUFFIX}"
        return (
            f"{path}: a transcript file must be named SPEAKER-CHAPTER.trans.txt in lower case: "
            f"rename it to {wanted}, or its chapter's audio is left out"
        )
    return f"{path}: a transcript file must be named SPEAKER-CHAPTER.trans.txt"


def read_transcript(path: Path) -> List[Utterance]:
    """The utterances of one ``SPK-CHAP.trans.txt``; errors name the file and line."""
    problem = transcript_name_problem(path)
    if problem:
        raise PrepareError(problem)
    name_match = TRANSCRIPT_NAME.fullmatch(path.name)
    chapter_key = (int(name_match.group(1)), int(name_match.group(2)))
    utterances = []
    with open(path, encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            items = line.split()
            if not items:
                continue
            where = f"{path}:{line_number}"
            id_match = UTTERANCE_ID.fullmatch(items[0])
            if id_match is None:
                raise PrepareError(f"{where}: {items[0]!r} is not an utterance id SPEAKER-CHAPTER-NNNN")
            speaker, chapter, number = (int(part) for part in id_match.groups())
            if (speaker, chapter) != chapter_key:
                raise PrepareError(f"{where}: utterance {items[0]} does not belong to chapter {path.name[:-10]}")
            if len(items) == 1:
                raise PrepareError(f"{where}: utterance {items[0]} has no words")
            utterances.append(
                Utterance(
                    items[0], speaker, chapter, number, " ".join(items[1:]), path.parent / f"{items[0]}.flac", where
                )
            )
    return utterances


def read_source_utterances(source: Path) -> Dict[str, Utterance]:
    """``{id: Utterance}`` of every transcript below ``source``, checked: ids unique, letters
    in the LibriSpeech set, audio present, and no FLAC left out: every folder holding FLAC
    files has a transcript, and every FLAC has a transcript line."""
    transcripts = find_transcripts(source)
    if not transcripts:
        raise PrepareError(f"{source}: no SPEAKER-CHAPTER.trans.txt below this folder (LibriSpeech layout expected)")
    utterances = {}
    listed: Dict[Path, set] = {}
    for transcript in transcripts:
        listed.setdefault(transcript.parent, set())
        for utterance in read_transcript(transcript):
            if utterance.id in utterances:
                first_where = utterances[utterance.id].where
                raise PrepareError(f"{utterance.where}: {utterance.id} is also listed at {first_where}")
            foreign = sorted(set(utterance.text) - TRANSCRIPT_LETTERS - {" "})
            if foreign:
                raise PrepareError(
                    f"{utterance.where}: character(s) {''.join(foreign)!r} outside the LibriSpeech letters "
                    "(upper-case A-Z and apostrophe)"
                )
            if not utterance.audio.is_file():
                raise PrepareError(f"{utterance.where}: audio {utterance.audio} is missing")
            utterances[utterance.id] = utterance
            listed[transcript.parent].add(utterance.audio.name)
    problems = []
    for folder, flacs in sorted(audio_folders(source).items()):
        if folder not in listed:
            problems.append(
                f"{folder}: {len(flacs)} FLAC file(s) ({listed_names(flacs)}) but no SPEAKER-CHAPTER.trans.txt: "
                "add the chapter's transcript, or move the audio out of the source folder"
            )
            continue
        unlisted = [name for name in flacs if name not in listed[folder]]
        if unlisted:
            folder_transcripts = ", ".join(str(path) for path in transcripts if path.parent == folder)
            problems.append(
                f"{folder_transcripts}: no line for {listed_names(unlisted)}: add a line for each, or move the "
                "audio out of the source folder"
            )
    if problems:
        raise PrepareError(problems_message(problems))
    return utterances


def read_context_utterances(context_roots: Sequence[Path], streams: set) -> Tuple[Dict[str, Utterance], set]:
    """``({id: Utterance}, streams found)`` for the chapters ``streams`` in the context roots
    (the first root and file listing an id wins)."""
    utterances, found_streams = {}, set()
    for root in context_roots:
        if not root.is_dir():
            raise PrepareError(f"context root {root} is not a folder")
        for transcript in find_transcripts(root):
            name_match = TRANSCRIPT_NAME.fullmatch(transcript.name.lower())
            if name_match is None or f"{name_match.group(1)}-{name_match.group(2)}" not in streams:
                continue
            found_streams.add(f"{name_match.group(1)}-{name_match.group(2)}")
            for utterance in read_transcript(transcript):
                utterances.setdefault(utterance.id, utterance)
    return utterances, found_streams


def table_row(utterance: Utterance, in_split: bool) -> dict:
    """The utterance table row of ``utterance``, neighbours not yet linked."""
    return {
        "id": utterance.id,
        "stream": utterance.stream,
        "position": utterance.number,
        "audio": str(utterance.audio.absolute()),
        "text": utterance.text,
        "prev_id": None,
        "next_id": None,
        "in_split": in_split,
    }


def chapter_last_numbers(
    utterances: Dict[str, Utterance], context_utterances: Dict[str, Utterance], context_streams: set
) -> Dict[str, int]:
    """``{chapter: its last utterance number}`` of the chapters whose end is known: those
    found in a context root (a full LibriSpeech tree), and those the source holds whole,
    i.e. whose utterances are numbered 0, 1, ..., N without a gap (a LibriSpeech split;
    a Libri-light fold keeps a few utterances of each chapter, so a gap or a missing 0
    leaves its end unknown)."""
    numbers: Dict[str, List[int]] = {}
    for utterance in utterances.values():
        numbers.setdefault(utterance.stream, []).append(utterance.number)
    last_numbers = {
        stream: max(chapter) for stream, chapter in numbers.items() if sorted(chapter) == list(range(len(chapter)))
    }
    for utterance in list(context_utterances.values()) + list(utterances.values()):
        if utterance.stream in context_streams:
            last_numbers[utterance.stream] = max(last_numbers.get(utterance.stream, -1), utterance.number)
    return last_numbers


def neighbour_coverage(rows: List[dict], last_numbers: Dict[str, int]) -> dict:
    """Counts, over the split's utterances, of where the previous / next one was found:
    ``in_split``, ``context_root``, none because the utterance opens (``chapter_start``) or
    closes (``chapter_end``) its chapter, or ``not_found``. ``last_numbers`` holds the last
    utterance number of the chapters whose end is known (:func:`chapter_last_numbers`)."""
    in_split_ids = {row["id"] for row in rows if row["in_split"]}
    coverage = {
        "prev": {"in_split": 0, "context_root": 0, "chapter_start": 0, "not_found": 0},
        "next": {"in_split": 0, "context_root": 0, "chapter_end": 0, "not_found": 0},
    }
    for row in rows:
        if not row["in_split"]:
            continue
        for direction, field in (("prev", "prev_id"), ("next", "next_id")):
            neighbour = row[field]
            if neighbour is not None:
                coverage[direction]["in_split" if neighbour in in_split_ids else "context_root"] += 1
            elif direction == "prev" and row["position"] == 0:
                coverage["prev"]["chapter_start"] += 1
            elif direction == "next" and row["position"] == last_numbers.get(row["stream"]):
                coverage["next"]["chapter_end"] += 1
            else:
                coverage[direction]["not_found"] += 1
    return coverage


def prepare_librispeech(
    source,
    out_dir,
    split: str,
    context_roots: Sequence = (),
    jobs: int = 4,
    progress: bool = True,
    verify_audio: bool = True,
) -> dict:
    """Write the manifest, labels, dictionary, utterance table and coverage report of one
    split (see the module docstring); rerunning with the same inputs rewrites the same bytes.

    Args:
        source: folder in LibriSpeech layout (walked recursively).
        out_dir: output folder (created if needed).
        split: the split name ``SPLIT`` of the output files.
        context_roots: full LibriSpeech trees where neighbours missing from ``source`` are
            looked up.
        jobs: audio headers read (and files decoded) in parallel.
        progress: show a progress bar on stderr.
        verify_audio: decode every audio file in full and check that it gives the length
            its header states (catches truncated or corrupt files that fairseq would fail on
            mid-training); without it only the headers are read.

    Returns:
        The coverage report written to ``SPLIT.coverage.json``: ``split``, ``utterances``,
        ``chapters``, ``duration_s``, ``context_rows`` (neighbours listed from the context
        roots), ``prev`` and ``next`` counts (see :func:`neighbour_coverage`).

    Raises:
        PrepareError: malformed input, naming the file and line (transcript line without
            words or audio, unknown characters, a duplicate id, a FLAC without a transcript
            or a transcript line, audio that is not 16 kHz mono, cannot be read, has a zero
            or unknown length, is shorter than 400 samples or (``verify_audio``) does not
            decode, ...).
    """
    source = Path(source).absolute()
    out_dir = Path(out_dir)
    if not source.is_dir():
        raise PrepareError(f"source {source} is not a folder")
    utterances = read_source_utterances(source)
    streams = {utterance.stream for utterance in utterances.values()}
    context_utterances, context_streams = read_context_utterances(
        [Path(root).absolute() for root in context_roots], streams
    )

    candidates = [table_row(utterance, True) for utterance in utterances.values()]
    neighbours = {}
    for utterance in utterances.values():
        for step in (-1, 1):
            neighbour_id = utterance.neighbour_id(step)
            if neighbour_id not in utterances and neighbour_id in context_utterances:
                neighbours[neighbour_id] = context_utterances[neighbour_id]
    for neighbour in neighbours.values():
        if not neighbour.audio.is_file():
            raise PrepareError(f"{neighbour.where}: audio {neighbour.audio} of a context neighbour is missing")
    candidates += [table_row(neighbour, False) for neighbour in neighbours.values()]
    rows = link_stream_neighbours(candidates, stream_order)

    listed_audio = list(utterances.values()) + list(neighbours.values())
    headers = checked_audio_headers(
        {utterance.audio: utterance.where for utterance in listed_audio},
        jobs,
        progress,
        f"audio headers ({split})",
        verify=verify_audio,
    )

    ordered = sorted(utterances.values(), key=lambda utterance: (stream_order(utterance.stream), utterance.number))
    out_dir.mkdir(parents=True, exist_ok=True)
    write_manifest(
        out_dir / f"{split}.tsv",
        source,
        [(utterance.audio.relative_to(source).as_posix(), headers[utterance.audio].frames) for utterance in ordered],
    )
    write_lines(out_dir / f"{split}.wrd", [utterance.text for utterance in ordered])
    write_lines(out_dir / f"{split}.ltr", [letters_line(utterance.text, final_boundary=True) for utterance in ordered])
    write_dictionary(out_dir / "dict.ltr.txt", FAIRSEQ_LETTER_DICTIONARY)
    write_utterance_table(out_dir / f"{split}.utterances.jsonl", rows)
    write_neighbour_index(out_dir / f"{split}.utterances.jsonl", rows, {u.id: headers[u.audio].frames for u in listed_audio})

    last_numbers = chapter_last_numbers(utterances, context_utterances, context_streams)
    report = {
        "split": split,
        "utterances": len(ordered),
        "chapters": len(streams),
        "duration_s": round(sum(headers[utterance.audio].frames for utterance in ordered) / SAMPLE_RATE, 3),
        "context_rows": len(rows) - len(ordered),
        **neighbour_coverage(rows, last_numbers),
    }
    write_text_atomically(out_dir / f"{split}.coverage.json", json.dumps(report, indent=2) + "\n")
    return report
