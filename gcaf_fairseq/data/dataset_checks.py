"""A split's inputs checked once, at the task's dataset load, before fairseq reads them.

fairseq's ``FileAudioDataset`` and ``audio_finetuning`` meet bad inputs with tracebacks that
name no file or line (``AssertionError: <the row>``, ``labels length (12) and dataset length
(11) do not match``), some of them misleading, or late (a missing file is retried with sleeps
in the middle of an epoch), or not at all (stereo is averaged to mono; a repeated utterance
is decoded twice). :func:`check_split` reads the manifest ``{split}.tsv``, the label file
``{split}.{labels}`` and every audio file's header, and raises :class:`DatasetInputError`
naming the file and line (and the utterance id) of each problem, what is wrong and what to do:

- the manifest: a first line that is an utterance row instead of the audio root; a row
  without exactly two tab-separated columns; a number of samples that is not a positive
  integer;
- the labels: a line count other than the manifest's row count; an empty label line;
- the audio (header only, never decoded): a missing or unreadable file; a sample rate other
  than the task's ``sample_rate``; more than one channel (unless ``allow_stereo``); a frame
  count other than the manifest's; fewer samples than the feature extractor's receptive
  field (400 for wav2vec2's convolutions: such an utterance yields no frame);
- repeated utterance ids (unless ``allow_duplicate_ids``).

What fairseq itself leaves out is counted and logged, with the first ids: rows shorter than
``min_sample_size`` (fairseq skips them with their label lines), and rows longer than
``max_sample_size`` (fairseq crops them at random to that size in every batch).

Utterances longer than ``--max-tokens`` are checked when batches are made
(:func:`check_max_tokens`; the task has no ``max_tokens`` at load).

Cost: a FLAC header is read directly (its STREAMINFO block, 42 bytes), any other format
through soundfile; about 20 microseconds per FLAC file and 100-150 per other file on a local
disk (2,000 files: 0.05 s, resp. 0.25 s), with 8 threads for network file systems.
``skip_audio_header_check=true`` skips the audio part. A manifest whose audio passed is
remembered in a stamp beside it (:class:`AudioCheckStamp`), so later process starts of the
same, unchanged manifest skip the headers.
"""

import logging
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from .audio_headers import audio_header
from .manifest import ManifestError, ManifestRow, file_audio_dataset, manifest_utterance_ids, read_manifest

logger = logging.getLogger(__name__)

DEFAULT_RECEPTIVE_FIELD = 400  # samples: wav2vec2's conv stack [(512,10,5)] + [(512,3,2)]*4 + [(512,2,2)]*2
HEADER_THREADS = 8
SHOWN = 10  # problems listed in one error


class DatasetInputError(ValueError):
    """A manifest, label file or audio file that the task cannot train or decode on."""


@dataclass
class SplitCheck:
    """What :func:`check_split` found: the rows fairseq keeps and what it leaves out."""

    manifest: str
    root: str = ""
    rows: List[ManifestRow] = field(default_factory=list)
    kept: List[ManifestRow] = field(default_factory=list)  # in dataset order
    skipped_short: int = 0  # below min_sample_size: fairseq skips them
    cropped_long: int = 0  # above max_sample_size: fairseq crops them in every batch
    multi_channel: int = 0  # allowed by allow_stereo: averaged to mono
    duplicates: int = 0  # rows repeating an earlier id, allowed by allow_duplicate_ids
    headers_checked: int = 0
    headers_unchecked: int = 0  # rows in zip archives (path:offset:length)


# Each kind of problem, and what to do about it.
HINTS = {
    "labels": "the label file needs one line per manifest row, in the same order",
    "empty_label": "give each utterance its label, or remove the utterance from the manifest and the label file",
    "missing": "restore the audio, fix the manifest's root line or paths, or remove the rows",
    "unreadable": "re-encode or restore the audio, or remove the rows",
    "sample_rate": "resample the audio to the task's sample_rate (e.g. sox in.flac -r 16000 out.flac) and rewrite the manifest's lengths",
    "stereo": "downmix to mono (sox in.flac -c 1 out.flac), or set task.allow_stereo=true to let fairseq average the channels",
    "frames": "rewrite the manifest's lengths from the audio (they decide batching and --max-tokens)",
    "too_short": "remove these utterances, or set task.min_sample_size to the receptive field to let fairseq skip them (counted)",
    "duplicate": "keep one row per utterance, or set task.allow_duplicate_ids=true to use each row as given",
}


def too_short_problem(samples: int, field_size: int = DEFAULT_RECEPTIVE_FIELD) -> Optional[str]:
    """Why an utterance of ``samples`` samples cannot be used, or None: with fewer samples
    than the feature extractor's receptive field (``field_size``; wav2vec2's 400, 25 ms, by
    default) it yields no frame. The one home of this rule: the task's dataset checks and
    data preparation both apply it."""
    if samples >= field_size:
        return None
    return f"has {samples} samples, fewer than the feature extractor's receptive field of {field_size}: it yields no frame"


def receptive_field(model_cfg) -> int:
    """Samples the feature extractor needs for one frame, from the model's
    ``conv_feature_layers`` (``[(dim, kernel, stride), ...]``); 400 (wav2vec2's) when the
    model or its pretrained config is not known yet."""
    layers = None
    for holder in (model_cfg, _get(model_cfg, "w2v_args"), _get(_get(model_cfg, "w2v_args"), "model")):
        layers = _get(holder, "conv_feature_layers")
        if layers:
            break
    if not layers:
        return DEFAULT_RECEPTIVE_FIELD
    try:
        spec = eval(str(layers), {"__builtins__": {}})  # fairseq's own reading of this string
        field_size, jump = 1, 1
        for _, kernel, stride in spec:
            field_size += (int(kernel) - 1) * jump
            jump *= int(stride)
        return field_size
    except Exception:  # an unexpected spelling: keep wav2vec2's value
        logger.warning(f"conv_feature_layers {layers!r} not understood; assuming a receptive field of {DEFAULT_RECEPTIVE_FIELD} samples")
        return DEFAULT_RECEPTIVE_FIELD


def _get(holder, name):
    if holder is None:
        return None
    try:
        return holder.get(name) if hasattr(holder, "get") else getattr(holder, name, None)
    except Exception:
        return None


def _is_zip_slice(path: str) -> bool:
    """fairseq's ``archive.zip:offset:length`` paths (see ``fairseq.data.audio.audio_utils.parse_path``)."""
    parts = path.split(":")
    return len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit()


def _read_header(path: str):
    try:
        return audio_header(path)
    except FileNotFoundError:
        return "missing"
    except Exception as error:  # soundfile's LibsndfileError, a folder, no permission, ...
        return error


def check_split(cfg, split: str, saved_cfg=None, model_cfg=None) -> Optional[SplitCheck]:
    """Check the manifest, labels and audio of ``split`` (``cfg``: the running task config:
    ``data``, ``labels``, ``sample_rate``, ``min_sample_size``, ``max_sample_size``,
    ``allow_stereo``, ``allow_duplicate_ids``, ``skip_audio_header_check``; ``saved_cfg``: the
    checkpoint's, whose ``sample_rate`` fairseq reads the audio at; ``model_cfg``: the model's,
    for its receptive field). Raises :class:`DatasetInputError`; logs what fairseq leaves out."""
    if _get(cfg, "binarized_dataset") or _get(cfg, "multi_corpus_keys"):
        logger.info(f"{split}: binarized or multi-corpus data; manifest, labels and audio are not checked")
        return None
    manifest = os.path.join(cfg.data, f"{split}.tsv")
    check = SplitCheck(manifest)
    try:
        check.root, check.rows = read_manifest(manifest)
    except ManifestError as error:
        raise DatasetInputError(str(error)) from None
    problems: Dict[str, List[str]] = defaultdict(list)

    # What fairseq leaves out (FileAudioDataset: sz < min_sample_size) or crops (collater).
    min_size = _get(cfg, "min_sample_size")
    max_size = _get(cfg, "max_sample_size")
    short = [row for row in check.rows if min_size is not None and row.samples < min_size]
    check.kept = [row for row in check.rows if not (min_size is not None and row.samples < min_size)]
    check.skipped_short = len(short)
    if short:
        logger.warning(
            f"{split}: fairseq skips {len(short)} of {len(check.rows)} utterances of {manifest} (and their label "
            f"lines): shorter than task.min_sample_size={min_size} samples; first: {_rows(short)}"
        )
    long = [row for row in check.kept if max_size is not None and row.samples > max_size]
    check.cropped_long = len(long)
    if long:
        logger.warning(
            f"{split}: {len(long)} utterances of {manifest} are longer than task.max_sample_size={max_size} "
            f"samples: fairseq crops them at random to that size in every batch, their labels stay whole; first: {_rows(long)}"
        )

    labels = _get(cfg, "labels")
    if labels:
        _check_labels(os.path.join(cfg.data, f"{split}.{labels}"), manifest, check.rows, problems)

    seen: Dict[str, ManifestRow] = {}
    repeated = []
    for row in check.kept:
        first = seen.setdefault(row.utterance_id, row)
        if first is not row:
            repeated.append(f"{manifest}:{row.line}: utterance {row.utterance_id!r} repeats line {first.line}")
    check.duplicates = len(repeated)
    if repeated and _get(cfg, "allow_duplicate_ids"):
        logger.warning(f"{split}: {len(repeated)} rows of {manifest} repeat an utterance id (allow_duplicate_ids); first: {repeated[0]}")
    else:
        problems["duplicate"] += [f"{text}: utterance ids must be unique" for text in repeated]

    field_size = receptive_field(model_cfg)
    for row in check.kept:
        problem = too_short_problem(row.samples, field_size)
        if problem:
            problems["too_short"].append(f"{manifest}:{row.line}: utterance {row.utterance_id!r} {problem}")

    if not _get(cfg, "skip_audio_header_check"):
        sample_rate = _get(saved_cfg, "sample_rate") or cfg.sample_rate
        allow_stereo = bool(_get(cfg, "allow_stereo"))
        stamp = AudioCheckStamp(manifest, sample_rate, allow_stereo)
        if stamp.holds(check):
            logger.info(f"{split}: the audio headers of {manifest} passed before and it is unchanged ({stamp.path})")
        else:
            _check_audio(check, sample_rate, allow_stereo, problems)
            if not any(problems.get(kind) for kind in AUDIO_PROBLEMS):
                stamp.record(check)
        if check.multi_channel:
            logger.warning(f"{split}: {check.multi_channel} multi-channel files of {manifest} are averaged to mono (allow_stereo)")

    problems = {kind: problems[kind] for kind in HINTS if problems.get(kind)}  # in a fixed order
    if problems:
        raise DatasetInputError(_problem_report(split, manifest, problems))
    logger.info(
        f"{split}: {manifest}: {len(check.rows)} utterances, {len(check.kept)} kept"
        + (f", {check.headers_checked} audio headers checked" if check.headers_checked else "")
        + (f", {check.headers_unchecked} in zip archives not checked" if check.headers_unchecked else "")
    )
    return check


AUDIO_PROBLEMS = ("missing", "unreadable", "sample_rate", "stereo", "frames")


class AudioCheckStamp:
    """Remembers that a manifest's audio headers passed, so that the next process start of an
    unchanged manifest skips reading them (at LibriSpeech-960 size, 281k headers take seconds
    at every start). The stamp ``.{split}.tsv.audio-checked.json`` sits beside the manifest and
    holds a fingerprint of the manifest and of its audio folders' modification times, the
    sample rate and ``allow_stereo`` it passed with, and the count of multi-channel files. A
    changed manifest, setting or audio folder checks again; so does a deleted stamp (delete it
    after overwriting audio files in place, which leaves their folder's time unchanged).
    Where the folder is not writable, nothing is remembered."""

    def __init__(self, manifest: str, sample_rate: int, allow_stereo: bool):
        folder, name = os.path.split(manifest)
        self.path = os.path.join(folder, f".{name}.audio-checked.json")
        self.manifest = manifest
        self.settings = {"sample_rate": int(sample_rate), "allow_stereo": allow_stereo}

    def _fingerprint(self, check: "SplitCheck") -> str:
        """The manifest's bytes and the modification times of the folders holding its audio
        (a file added, removed or renamed there changes its folder's time): one ``stat`` per
        folder, not per file."""
        import hashlib

        from .fingerprints import update_with_file

        digest = hashlib.sha256()
        update_with_file(digest, self.manifest)
        for folder in sorted({os.path.dirname(os.path.join(check.root, row.path)) for row in check.kept}):
            try:
                digest.update(f"{folder}\t{os.stat(folder).st_mtime_ns}\n".encode())
            except OSError:
                digest.update(f"{folder}\tmissing\n".encode())
        return digest.hexdigest()

    def holds(self, check: "SplitCheck") -> bool:
        import json

        try:
            with open(self.path, encoding="utf-8") as stamp_file:
                stamp = json.load(stamp_file)
        except (OSError, ValueError):
            return False
        if stamp.get("fingerprint") != self._fingerprint(check) or stamp.get("settings") != self.settings:
            return False
        check.multi_channel = int(stamp.get("multi_channel", 0))
        return True

    def record(self, check: "SplitCheck") -> None:
        import json

        from .atomic_files import write_text_atomically

        stamp = {"fingerprint": self._fingerprint(check), "settings": self.settings,
                 "headers_checked": check.headers_checked, "multi_channel": check.multi_channel}
        try:
            write_text_atomically(self.path, json.dumps(stamp) + "\n")
        except OSError as error:
            logger.info(f"audio header check of {self.manifest} not remembered ({error}): it runs again at the next start")


def _check_labels(path: str, manifest: str, rows: Sequence[ManifestRow], problems) -> None:
    if not os.path.exists(path):
        raise DatasetInputError(f"label file {path} does not exist (one label per row of {manifest}; task.labels names its extension)")
    count = 0
    with open(path, encoding="utf-8") as lines:
        try:
            for count, line in enumerate(lines, start=1):  # as fairseq counts them
                if not line.strip():
                    row = rows[count - 1] if count <= len(rows) else None
                    of = f" (utterance {row.utterance_id!r}, {manifest}:{row.line})" if row else ""
                    problems["empty_label"].append(f"{path}:{count}: empty label{of}")
        except UnicodeDecodeError as error:
            raise DatasetInputError(f"{path}: not UTF-8 text ({error})") from error
    if count != len(rows):
        problems["labels"].append(
            f"{path} has {count} lines but {manifest} has {len(rows)} utterance rows"
            + (" (is the manifest's first line, the audio root, missing?)" if count == len(rows) + 1 else "")
        )


def _check_audio(check: SplitCheck, sample_rate: int, allow_stereo: bool, problems) -> None:
    rows = [row for row in check.kept if not _is_zip_slice(row.path)]
    check.headers_unchecked = len(check.kept) - len(rows)
    paths = [os.path.join(check.root, row.path) for row in rows]
    if len(paths) > 64:
        with ThreadPoolExecutor(HEADER_THREADS) as pool:  # file opening is latency-bound on network file systems
            headers = list(pool.map(_read_header, paths, chunksize=64))
    else:
        headers = [_read_header(path) for path in paths]
    check.headers_checked = len(rows)
    where = check.manifest
    for row, path, header in zip(rows, paths, headers):
        at = f"{where}:{row.line}: utterance {row.utterance_id!r}: {path}"
        if header == "missing":
            problems["missing"].append(f"{at} does not exist (audio root: {check.root!r})")
        elif isinstance(header, Exception):
            problems["unreadable"].append(f"{at} cannot be read as audio: {header}")
        else:
            if header.sample_rate != sample_rate:
                problems["sample_rate"].append(f"{at} is sampled at {header.sample_rate} Hz, the task reads {sample_rate} Hz")
            if header.channels > 1:
                if allow_stereo:
                    check.multi_channel += 1
                else:
                    problems["stereo"].append(f"{at} has {header.channels} channels; wav2vec2 takes mono audio")
            if header.frames != row.samples:
                problems["frames"].append(f"{at} has {header.frames} samples, the manifest says {row.samples}")


def _rows(rows: Sequence[ManifestRow], count: int = 5) -> str:
    shown = ", ".join(f"{row.utterance_id} (line {row.line}, {row.samples} samples)" for row in rows[:count])
    return shown + (f", ... ({len(rows) - count} more)" if len(rows) > count else "")


def _problem_report(split: str, manifest: str, problems: Dict[str, List[str]]) -> str:
    total = sum(len(texts) for texts in problems.values())
    counts = ", ".join(f"{len(texts)} {kind.replace('_', ' ')}" for kind, texts in problems.items())
    lines = [f"split '{split}' ({manifest}): {total} problem(s) ({counts}):"]
    shown = [text for texts in problems.values() for text in texts[:SHOWN]][:SHOWN]
    lines += [f"  {text}" for text in shown]
    if total > len(shown):
        lines.append(f"  ... and {total - len(shown)} more")
    lines.append("What to do:")
    lines += [f"  - {HINTS[kind]}" for kind in problems]
    return "\n".join(lines)


def check_max_tokens(dataset, manifest: str, max_tokens: Optional[int], ignore_invalid_inputs: bool) -> bool:
    """Utterances of ``dataset`` longer than ``max_tokens`` samples fit in no batch: fairseq
    stops with an assertion that names an index (decoding, validation), or drops them with
    a count (training). Without ``ignore_invalid_inputs`` (``--skip-invalid-size-inputs-valid-test``;
    fairseq's trainer always passes it for training) raise naming them; with it, log them,
    counted and named. Returns whether there are any (the caller has fairseq filter them)."""
    if not max_tokens:
        return False
    try:
        audio = file_audio_dataset(dataset)
    except ValueError:
        return False
    sizes = np.asarray(audio.sizes) if audio.pad else np.minimum(audio.sizes, audio.max_sample_size)
    too_long = np.flatnonzero(sizes > max_tokens)
    if not len(too_long):
        return False
    ids = manifest_utterance_ids(dataset)
    skipped = sorted(getattr(audio, "skipped_indices", ()))
    kept_rows = np.setdiff1d(np.arange(len(sizes) + len(skipped)), np.asarray(skipped, dtype=np.int64))
    longest = too_long[np.argsort(-sizes[too_long], kind="stable")]
    shown = ", ".join(f"{ids[i]} ({manifest}:{kept_rows[i] + 2}, {sizes[i]} samples)" for i in longest[:5])
    more = f", ... ({len(longest) - 5} more)" if len(longest) > 5 else ""
    if not ignore_invalid_inputs:
        raise DatasetInputError(
            f"{len(longest)} utterances of {manifest} are longer than --max-tokens={max_tokens} samples and fit "
            f"in no batch: {shown}{more}. Raise --max-tokens (dataset.max_tokens) to at least {int(sizes[longest[0]])}, "
            "or pass --skip-invalid-size-inputs-valid-test (dataset.skip_invalid_size_inputs_valid_test=true) to skip them"
        )
    logger.warning(f"{manifest}: skipping {len(longest)} utterances longer than max_tokens={max_tokens} samples: {shown}{more}")
    return True
