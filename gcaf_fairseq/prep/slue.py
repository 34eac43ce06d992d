"""SLUE v0.2 (VoxPopuli: ASR + NER; VoxCeleb: ASR + sentiment): the files of SLUE-toolkit's
``create_manifest`` and ``create_dict`` steps, plus our utterance tables.

Input: a release folder (``--data``)::

    slue-voxpopuli/slue-voxpopuli_{fine-tune,dev}.tsv
                   slue-voxpopuli_test.tsv  (labelled) or  slue-voxpopuli_test_blind.tsv
                   {split}/ID.ogg
    slue-voxceleb/ slue-voxceleb_{fine-tune,dev}.tsv, slue-voxceleb_test[_blind].tsv
                   {split}_raw/ID.flac      (clips cut to [start_second, end_second])

Tab-separated files with a header line; the columns read are, VoxPopuli: ``id,
normalized_text, normalized_ner``; VoxCeleb: ``id, normalized_text, sentiment,
start_second, end_second`` (blind test files: ``id``, and VoxCeleb's two times).

Output (``--out``), ``{split}`` in ``fine-tune``, ``dev``, ``test``::

    {split}.tsv              manifest, rows in tsv order: root = RELEASE/{split} (VoxPopuli,
                             ID.ogg) or CLIPS/{split} (VoxCeleb cut clips, ID.flac)
    {split}.wrd, {split}.ltr ASR words and letters (no final |); not for a blind test
    dict.ltr.txt, dict.wrd.txt             from fine-tune (count descending, ties in order of
                                           first appearance: SLUE-toolkit's create_dict)
    {split}.utterances.jsonl               the utterance table (in stream order)
    {split}.coverage.json                  neighbours found, unparsed ids, dropped rows
    VoxCeleb:  {split}.sent, labels.sent.txt
    VoxPopuli: e2e_ner/{split}.{raw,combined}.{wrd,ltr}, e2e_ner/{split}.tsv (link to
               ../{split}.tsv), e2e_ner/dict.{raw,combined}.{wrd,ltr}.txt (from fine-tune),
               nlp_ner/{split}.{raw,combined}.tsv (word<TAB>BIO tag lines, blank line after
               each utterance)

Text rules (SLUE-toolkit's): VoxPopuli ASR text drops ``. ; ? !`` and squeezes white
space (commas stay); VoxCeleb ASR text is ``normalized_text`` as it is; NER labels follow
:mod:`gcaf_fairseq.prep.ner_labels`. VoxCeleb rows whose sentiment is not Negative,
Neutral or Positive (``<mixed>``, ``Disagreement``) are dropped from the split (counted in the coverage report) but stay
in their stream: when they neighbour a kept clip they get a table row with
``in_split: false``; a sentiment that is a near miss of a class name (``positive``,
``Negative `` with a space) is an error naming the tsv line, not a drop.

VoxCeleb clips are cut from the raw file as SLUE-toolkit cuts them: samples
``int(start_second * 16000)`` to ``int(end_second * 16000)``, the end capped at the raw file's
length. The manifest length of a clip is the number of samples cut. This differs from
SLUE-toolkit on purpose: its manifest (and DATA.md's description of it) carries
``int(16000 * (end_second - start_second))``, which in floating point disagrees with the cut
for about 29% of random two-decimal start/end pairs, mostly by one sample (``16000 * (1.3 -
1.1)`` is 3199.99..., 3199 where 3200 samples are cut), and is too long for a clip capped at
the raw file's end. fairseq uses the
length only for batching, so SLUE never noticed; our dataset checks compare it with the
audio, and training would stop at the first such clip of real VoxCeleb.

An utterance shorter than wav2vec2's receptive field (400 samples, 25 ms: it yields no
frame) is refused here, naming its tsv line, rather than at training or decoding: a VoxPopuli
file, or a VoxCeleb clip by its times.

Streams (utterance table): VoxPopuli id ``SESSION-LANG_TIMESTAMP_SEGMENT`` -> stream
``SESSION``, ordered by timestamp then segment; VoxCeleb id ``SPEAKER_VIDEO_CLIP`` ->
stream ``SPEAKER_VIDEO``, ordered by clip index; ``position`` is the index in that order
among the rows of the split's tsv (less dropped rows without audio). Neighbours are looked
for within the split only. Ids that do not parse get a row without stream,
position or neighbours and are listed in the coverage report. A blind test has no text:
its rows have ``text: null``.
"""

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import soundfile
from tqdm import tqdm

from ..data.atomic_files import atomic_path, write_lines, write_symlink_atomically, write_text_atomically
from ..data.audio_headers import AudioHeader, audio_header
from ..data.dataset_checks import too_short_problem
from ..data.manifest import SAMPLE_RATE, write_manifest
from ..data.label_near_miss import near_miss
from ..data.letters import letters_line
from ..data.symbol_dictionary import count_symbols, write_dictionary
from ..data.neighbour_index import write_neighbour_index
from ..data.utterance_table import link_stream_neighbours, write_utterance_table
from .source_checks import PrepareError, checked_audio_headers, problems_message
from .ner_labels import LABEL_TYPES, e2e_ner_labels, parse_ner_spans

DATASETS = ("voxpopuli", "voxceleb")
SPLITS = ("fine-tune", "dev", "test")
SENTIMENTS = ("Negative", "Neutral", "Positive")
TRAIN_SPLIT = "fine-tune"
VOXPOPULI_ID = re.compile(
    r"(?P<session>.+)-(?P<language>[a-z]{2})_(?P<timestamp>\d{8}-\d{2}:\d{2}:\d{2})_(?P<segment>\d+)"
)
VOXCELEB_ID = re.compile(r"(?P<speaker>id\d+)_(?P<video>.+)_(?P<clip>\d+)")
ASR_DROPPED_PUNCTUATION = re.compile(r"[\.;?!]")
WHITE_SPACE = re.compile(r"\s+")

REQUIRED_COLUMNS = {
    ("voxpopuli", False): ("id", "normalized_text", "normalized_ner"),
    ("voxpopuli", True): ("id",),
    ("voxceleb", False): ("id", "normalized_text", "sentiment", "start_second", "end_second"),
    ("voxceleb", True): ("id", "start_second", "end_second"),
}


@dataclass
class TsvRow:
    """One data line of a SLUE tsv: ``where`` is ``path:line``."""

    where: str
    values: Dict[str, str]


def read_tsv(path: Path, required_columns: Sequence[str]) -> List[TsvRow]:
    """The data lines of a tab-separated file with a header line; errors name the file and
    line: a missing column, a line with another number of fields, an empty or repeated id."""
    with open(path, encoding="utf-8", newline="") as lines:
        header_line = lines.readline()
        columns = header_line.rstrip("\r\n").split("\t")
        missing = [name for name in required_columns if name not in columns]
        if missing:
            raise PrepareError(f"{path}:1: missing column(s) {', '.join(missing)} (header: {', '.join(columns)})")
        rows, line_of_id = [], {}
        for line_number, line in enumerate(lines, start=2):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            where = f"{path}:{line_number}"
            values = line.split("\t")
            if len(values) != len(columns):
                raise PrepareError(f"{where}: {len(values)} tab-separated fields, the header has {len(columns)}")
            row = TsvRow(where, dict(zip(columns, values)))
            utterance_id = row.values["id"]
            if not utterance_id:
                raise PrepareError(f"{where}: empty id")
            if utterance_id in line_of_id:
                raise PrepareError(f"{where}: id {utterance_id} repeats line {line_of_id[utterance_id]}")
            line_of_id[utterance_id] = line_number
            rows.append(row)
    return rows


@dataclass
class Utterance:
    """One tsv row, checked. ``in_split`` is false for VoxCeleb rows dropped for their
    sentiment; ``text`` is None in a blind test."""

    id: str
    where: str
    text: Optional[str]
    in_split: bool = True
    sentiment: Optional[str] = None
    start_second: float = 0.0
    end_second: float = 0.0
    ner_labels: Dict[str, tuple] = field(default_factory=dict)  # label type -> (word_tags, wrd, ltr)


@dataclass
class Split:
    """A split read from its tsv: ``audio_folder`` holds the audio the manifest lists."""

    name: str
    tsv: Path
    blind: bool
    utterances: List[Utterance]  # the split's rows, and dropped rows whose audio exists
    dropped_sentiments: List[str]  # of every dropped row
    audio_folder: Path
    source_audio: Dict[str, Path]  # id -> audio file read (VoxCeleb: the raw clip)
    headers: Dict[Path, AudioHeader] = field(default_factory=dict)  # of source_audio


def split_tsv(data_dir: Path, dataset: str, split: str) -> Tuple[Path, bool]:
    """``(tsv path, blind)``: the test split takes the labelled tsv when there is one."""
    labelled = data_dir / f"slue-{dataset}_{split}.tsv"
    if split != "test" or labelled.is_file():
        if not labelled.is_file():
            raise PrepareError(f"{labelled} is missing (a SLUE v0.2 release folder has it)")
        return labelled, False
    blind = data_dir / f"slue-{dataset}_test_blind.tsv"
    if not blind.is_file():
        raise PrepareError(f"neither {labelled} nor {blind} exists")
    return blind, True


def voxpopuli_asr_text(normalized_text: str) -> str:
    """SLUE-toolkit's VoxPopuli ASR words: ``. ; ? !`` removed, white space squeezed."""
    return WHITE_SPACE.sub(" ", ASR_DROPPED_PUNCTUATION.sub("", normalized_text))


def parse_seconds(row: TsvRow, column: str) -> float:
    """A time column of a VoxCeleb row, in seconds."""
    try:
        return float(row.values[column])
    except ValueError:
        raise PrepareError(f"{row.where}: {column} {row.values[column]!r} is not a number of seconds") from None


def read_voxpopuli_row(row: TsvRow, blind: bool) -> Utterance:
    """A VoxPopuli row with its ASR text and NER labels (both label types) computed."""
    if blind:
        return Utterance(row.values["id"], row.where, None)
    normalized_text = row.values["normalized_text"]
    try:
        raw_spans = parse_ner_spans(row.values["normalized_ner"])
        ner_labels = {label_type: e2e_ner_labels(normalized_text, raw_spans, label_type) for label_type in LABEL_TYPES}
    except ValueError as error:
        raise PrepareError(f"{row.where}: {error}") from None
    return Utterance(row.values["id"], row.where, voxpopuli_asr_text(normalized_text), ner_labels=ner_labels)


def read_voxceleb_row(row: TsvRow, blind: bool) -> Utterance:
    """A VoxCeleb row; ``in_split`` is false when its sentiment is not one of the three."""
    start_second, end_second = parse_seconds(row, "start_second"), parse_seconds(row, "end_second")
    if not 0 <= start_second < end_second:
        raise PrepareError(f"{row.where}: need 0 <= start_second < end_second, got {start_second} and {end_second}")
    if blind:
        return Utterance(row.values["id"], row.where, None, start_second=start_second, end_second=end_second)
    sentiment = row.values["sentiment"]
    if sentiment not in SENTIMENTS:
        near = sentiment_near_miss(sentiment)
        if near is not None:
            raise PrepareError(
                f"{row.where}: sentiment {sentiment!r} is not one of {', '.join(SENTIMENTS)} but looks like "
                f"{near!r} (case, white space or a typo): fix the label; other labels (such as <mixed>) are "
                "dropped from the split and counted"
            )
    return Utterance(
        row.values["id"],
        row.where,
        row.values["normalized_text"],
        in_split=sentiment in SENTIMENTS,
        sentiment=sentiment,
        start_second=start_second,
        end_second=end_second,
    )


def sentiment_near_miss(label: str) -> Optional[str]:
    """The SLUE class ``label`` is a near miss of (same letters in another case or with
    white space around them, or one or two letters off), or None."""
    return near_miss(label, SENTIMENTS)


def read_split(data_dir: Path, dataset: str, split: str) -> Split:
    """Read and check one split's tsv and find its audio (errors name the tsv line)."""
    tsv, blind = split_tsv(data_dir, dataset, split)
    read_row = read_voxpopuli_row if dataset == "voxpopuli" else read_voxceleb_row
    utterances = [read_row(row, blind) for row in read_tsv(tsv, REQUIRED_COLUMNS[dataset, blind])]
    if dataset == "voxpopuli":
        audio_folder = data_dir / split
        source_audio = {utterance.id: audio_folder / f"{utterance.id}.ogg" for utterance in utterances}
    else:
        audio_folder = data_dir / f"{split}_raw"
        source_audio = {utterance.id: audio_folder / f"{utterance.id}.flac" for utterance in utterances}
    for utterance in utterances:
        if utterance.in_split and not source_audio[utterance.id].is_file():
            raise PrepareError(f"{utterance.where}: audio {source_audio[utterance.id]} is missing")
    dropped_sentiments = [utterance.sentiment for utterance in utterances if not utterance.in_split]
    # A dropped row serves only as a neighbour's context: without audio it is left out.
    usable = [utterance for utterance in utterances if utterance.in_split or source_audio[utterance.id].is_file()]
    return Split(split, tsv, blind, usable, dropped_sentiments, audio_folder, source_audio)


def stream_place(dataset: str, utterance_id: str) -> Optional[Tuple[str, tuple]]:
    """``(stream, order key)`` of an id, or None when the id does not parse."""
    if dataset == "voxpopuli":
        match = VOXPOPULI_ID.fullmatch(utterance_id)
        return None if match is None else (match["session"], (match["timestamp"], int(match["segment"]), utterance_id))
    match = VOXCELEB_ID.fullmatch(utterance_id)
    return None if match is None else (f"{match['speaker']}_{match['video']}", (int(match["clip"]), utterance_id))


def utterance_table_rows(dataset: str, split: Split, audio_of: Dict[str, Path]) -> Tuple[List[dict], List[dict]]:
    """``(table rows, unparsed ids)``: rows linked in stream order (see the module docstring);
    unparsed ids as ``{"id", "where"}``."""
    places, unparsed = {}, []
    for utterance in split.utterances:
        place = stream_place(dataset, utterance.id)
        if place is None:
            if utterance.in_split:
                unparsed.append({"id": utterance.id, "where": utterance.where})
        else:
            places[utterance.id] = place
    order_in_stream = sorted(places, key=lambda utterance_id: places[utterance_id])
    positions, next_position = {}, {}
    for utterance_id in order_in_stream:
        stream = places[utterance_id][0]
        positions[utterance_id] = next_position.get(stream, 0)
        next_position[stream] = positions[utterance_id] + 1
    candidates = [
        {
            "id": utterance.id,
            "stream": places[utterance.id][0] if utterance.id in places else None,
            "position": positions.get(utterance.id),
            "audio": str(audio_of[utterance.id].absolute()),
            "text": utterance.text.strip() if utterance.text is not None else None,
            "prev_id": None,
            "next_id": None,
            "in_split": utterance.in_split,
        }
        for utterance in split.utterances
        if utterance.in_split or utterance.id in places
    ]
    return link_stream_neighbours(candidates), unparsed


def neighbour_coverage(rows: List[dict]) -> dict:
    """Counts over the split's utterances of previous / next neighbours ``in_split``,
    ``outside_split`` (dropped VoxCeleb rows), or ``none`` (stream start or end, or an
    unparsed id)."""
    in_split_ids = {row["id"] for row in rows if row["in_split"]}
    coverage = {direction: {"in_split": 0, "outside_split": 0, "none": 0} for direction in ("prev", "next")}
    for row in rows:
        if row["in_split"]:
            for direction, neighbour in (("prev", row["prev_id"]), ("next", row["next_id"])):
                kind = "none" if neighbour is None else "in_split" if neighbour in in_split_ids else "outside_split"
                coverage[direction][kind] += 1
    return coverage


def check_audio(dataset: str, splits: List[Split], jobs: int, progress: bool, verify: bool = True) -> None:
    """Read every source audio header into ``split.headers``; refuse audio that is not
    16 kHz mono or has a zero or unknown length, with ``verify`` audio that does not decode
    to its header's length, and VoxPopuli audio too short for wav2vec2 (VoxCeleb's raw files
    are cut later: :func:`check_voxceleb_clips` checks the clips)."""
    for split in splits:
        where_listed = {split.source_audio[utterance.id]: utterance.where for utterance in split.utterances}
        split.headers = checked_audio_headers(
            where_listed, jobs, progress, f"audio headers ({split.name})", verify=verify,
            **({"min_frames": None} if dataset == "voxceleb" else {}),
        )


def clip_frames(utterance: Utterance, header: AudioHeader) -> Tuple[int, int]:
    """``(start, stop)`` frames of a VoxCeleb clip in its raw file, as SLUE-toolkit slices them
    (the end capped at the raw file's length): the clip holds ``stop - start`` samples, the
    length its manifest row gets."""
    start_frame = int(utterance.start_second * header.sample_rate)
    return start_frame, min(int(utterance.end_second * header.sample_rate), header.frames)


def clip_length(split: Split, utterance: Utterance) -> int:
    """The number of samples of a VoxCeleb utterance's cut clip (see :func:`clip_frames`)."""
    start_frame, stop_frame = clip_frames(utterance, split.headers[split.source_audio[utterance.id]])
    return stop_frame - start_frame


def cut_clip(raw_path: Path, target: Path, start_frame: int, stop_frame: int) -> None:
    """Write frames [start_frame, stop_frame) of ``raw_path`` to ``target`` as 16-bit FLAC,
    bit-exact; a ``target`` that already has that length at 16 kHz mono is kept."""
    if target.is_file():
        try:
            header = audio_header(target)
        except (RuntimeError, OSError):
            header = None
        if header == AudioHeader(frames=stop_frame - start_frame, sample_rate=SAMPLE_RATE, channels=1):
            return
    samples, sample_rate = soundfile.read(str(raw_path), start=start_frame, stop=stop_frame, dtype="int16")
    target.parent.mkdir(parents=True, exist_ok=True)
    # not fsynced (thousands of clips): a clip a crash left empty or short is cut again, see above
    with atomic_path(target, durable=False) as temporary:
        soundfile.write(str(temporary), samples, sample_rate, format="FLAC", subtype="PCM_16")


def cut_voxceleb_clips(split: Split, clip_ids: Sequence[str], clips_folder: Path, jobs: int, progress: bool) -> None:
    """Cut the clips ``clip_ids`` of a split into ``clips_folder/ID.flac``."""
    by_id = {utterance.id: utterance for utterance in split.utterances}
    tasks = []
    for utterance_id in clip_ids:
        raw_path = split.source_audio[utterance_id]
        start_frame, stop_frame = clip_frames(by_id[utterance_id], split.headers[raw_path])
        tasks.append((raw_path, clips_folder / f"{utterance_id}.flac", start_frame, stop_frame))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        cuts = pool.map(lambda task: cut_clip(*task), tasks)
        list(tqdm(cuts, total=len(tasks), desc=f"cutting clips ({split.name})", disable=not progress, unit="clip"))


def check_voxceleb_clips(split: Split) -> None:
    """Refuse clips whose start is past the end of their raw file, and clips shorter than
    wav2vec2's receptive field (:func:`gcaf_fairseq.data.dataset_checks.too_short_problem`)."""
    problems = []
    for utterance in split.utterances:
        raw_path = split.source_audio[utterance.id]
        header = split.headers[raw_path]
        start_frame, stop_frame = clip_frames(utterance, header)
        if start_frame >= stop_frame:
            problems.append(
                f"{utterance.where}: start_second {utterance.start_second} is past the end of "
                f"{raw_path} ({header.frames / header.sample_rate:.2f} s)"
            )
        elif too_short_problem(stop_frame - start_frame):
            problems.append(
                f"{utterance.where}: the clip {utterance.start_second}-{utterance.end_second} s of {raw_path} "
                f"{too_short_problem(stop_frame - start_frame)}; correct start_second / end_second, or remove the row"
            )
    if problems:
        raise PrepareError(problems_message(problems))


def write_ner_files(out_dir: Path, split: Split, kept: List[Utterance]) -> None:
    """``e2e_ner/{split}.{raw,combined}.{wrd,ltr}`` and ``nlp_ner/{split}.{raw,combined}.tsv``."""
    for label_type in LABEL_TYPES:
        labels = [utterance.ner_labels[label_type] for utterance in kept]
        write_lines(out_dir / "e2e_ner" / f"{split.name}.{label_type}.wrd", [wrd for _, wrd, _ in labels])
        write_lines(out_dir / "e2e_ner" / f"{split.name}.{label_type}.ltr", [ltr for _, _, ltr in labels])
        blocks = ["".join(f"{word}\t{tag}\n" for word, tag in word_tags) + "\n" for word_tags, _, _ in labels]
        write_text_atomically(out_dir / "nlp_ner" / f"{split.name}.{label_type}.tsv", "".join(blocks))


def prepare_slue(
    dataset: str,
    data_dir,
    out_dir,
    clips_dir=None,
    jobs: int = 4,
    progress: bool = True,
    verify_audio: bool = True,
) -> Dict[str, dict]:
    """Write the SLUE-toolkit manifests, labels and dictionaries of ``dataset`` and our
    utterance tables and coverage reports (see the module docstring). Every input is read
    and checked before anything is written; rerunning rewrites the same bytes.

    Args:
        dataset: ``voxpopuli`` or ``voxceleb``.
        data_dir: the release folder (``slue-voxpopuli/`` or ``slue-voxceleb/``).
        out_dir: the manifest folder (created if needed).
        clips_dir: VoxCeleb only: where the cut clips go, as ``clips_dir/{split}/ID.flac``
            (default: the release folder, as SLUE-toolkit does).
        jobs: audio files read, decoded or cut in parallel.
        progress: show progress bars on stderr.
        verify_audio: decode every source audio file in full and check that it gives the
            length its header states (VoxPopuli OGG, VoxCeleb raw FLAC).

    Returns:
        ``{split: coverage report}``; each report is also written to ``{split}.coverage.json``.

    Raises:
        PrepareError: malformed input, naming the file and line (tsv row, NER field,
            a sentiment that looks like a class name but differs in case or white space,
            missing audio, audio not 16 kHz mono, of zero or unknown length or (with
            ``verify_audio``) not decoding, clip times outside the raw clip, an utterance
            or clip shorter than 400 samples).
    """
    if dataset not in DATASETS:
        raise PrepareError(f"unknown SLUE dataset {dataset!r}; choose {' or '.join(DATASETS)}")
    data_dir = Path(data_dir).absolute()
    out_dir = Path(out_dir)
    clips_dir = Path(clips_dir).absolute() if clips_dir is not None else data_dir
    if not data_dir.is_dir():
        raise PrepareError(f"release folder {data_dir} is not a folder")
    splits = [read_split(data_dir, dataset, split) for split in SPLITS]
    check_audio(dataset, splits, jobs, progress, verify_audio)
    if dataset == "voxceleb":
        for split in splits:
            check_voxceleb_clips(split)

    reports = {}
    for split in splits:
        kept = [utterance for utterance in split.utterances if utterance.in_split]
        if dataset == "voxceleb":
            audio_root = clips_dir / split.name
            audio_of = {utterance.id: audio_root / f"{utterance.id}.flac" for utterance in split.utterances}
            rows, unparsed = utterance_table_rows(dataset, split, audio_of)
            cut_voxceleb_clips(split, [row["id"] for row in rows], audio_root, jobs, progress)
            manifest = [(f"{utterance.id}.flac", clip_length(split, utterance)) for utterance in kept]
        else:
            audio_root = split.audio_folder
            rows, unparsed = utterance_table_rows(dataset, split, split.source_audio)
            manifest = [
                (f"{utterance.id}.ogg", split.headers[split.source_audio[utterance.id]].frames) for utterance in kept
            ]

        out_dir.mkdir(parents=True, exist_ok=True)
        write_manifest(out_dir / f"{split.name}.tsv", audio_root, manifest)
        if not split.blind:
            write_lines(out_dir / f"{split.name}.wrd", [utterance.text for utterance in kept])
            letters = [letters_line(utterance.text, final_boundary=False) for utterance in kept]
            write_lines(out_dir / f"{split.name}.ltr", letters)
            if dataset == "voxceleb":
                write_lines(out_dir / f"{split.name}.sent", [utterance.sentiment for utterance in kept])
            else:
                write_ner_files(out_dir, split, kept)
        if dataset == "voxpopuli":
            write_symlink_atomically(out_dir / "e2e_ner" / f"{split.name}.tsv", f"../{split.name}.tsv")
        write_utterance_table(out_dir / f"{split.name}.utterances.jsonl", rows)
        write_neighbour_index(out_dir / f"{split.name}.utterances.jsonl", rows)

        dropped = split.dropped_sentiments
        report = {
            "dataset": dataset,
            "split": split.name,
            "tsv": str(split.tsv),
            "blind": split.blind,
            "utterances": len(kept),
            "duration_s": round(sum(num_samples for _, num_samples in manifest) / SAMPLE_RATE, 3),
            "streams": len({row["stream"] for row in rows if row["in_split"] and row["stream"] is not None}),
            "dropped": {
                "count": len(dropped),
                "by_sentiment": {value: dropped.count(value) for value in sorted(set(dropped))},
            },
            "unparsed_ids": unparsed,
            **neighbour_coverage(rows),
        }
        write_text_atomically(out_dir / f"{split.name}.coverage.json", json.dumps(report, indent=2) + "\n")
        reports[split.name] = report

    for token_type in ("ltr", "wrd"):
        train_lines = (out_dir / f"{TRAIN_SPLIT}.{token_type}").read_text(encoding="utf-8").splitlines()
        write_dictionary(out_dir / f"dict.{token_type}.txt", count_symbols(train_lines, ties="first_seen"))
    if dataset == "voxceleb":
        write_lines(out_dir / "labels.sent.txt", sorted(SENTIMENTS))
    else:
        for label_type in LABEL_TYPES:
            for token_type in ("wrd", "ltr"):
                train_file = out_dir / "e2e_ner" / f"{TRAIN_SPLIT}.{label_type}.{token_type}"
                counts = count_symbols(train_file.read_text(encoding="utf-8").splitlines(), ties="first_seen")
                write_dictionary(out_dir / "e2e_ner" / f"dict.{label_type}.{token_type}.txt", counts)
    return reports
