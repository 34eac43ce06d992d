"""The generation file: one source of truth for LLM generations (GCAF 2.2.1).

A generation file is a pair:

``GEN.jsonl``
    one JSON object per utterance, one line each, with the fields of
    :data:`RECORD_FIELDS`: ``id``, ``prev_id``, ``prompt_id``, ``previous_text`` (the
    text the prompt was applied to), ``prompt_sent`` (exactly what was sent, template
    included), ``generation`` (null when the utterance has no previous utterance),
    ``finish_reason`` (``stop``, ``length``, or ``no_previous``), ``prompt_tokens``,
    ``completion_tokens`` (null where unknown), ``settings_id`` and ``input_sha256``
    (:func:`input_fingerprint`: the SHA-256 of the record's input, the JSON array
    ``[prev_id, previous_text]``; what turns that input into the request, the prompt,
    template, model and decoding, is in the header's settings). Every line is a
    self-contained record, so ``gcaf-embed-context --texts GEN.jsonl --text-field
    generation`` embeds the file as it is (a null generation is "no context").
``GEN.jsonl.header.json``
    the header: format and version, the settings that made the records (model, backend,
    template, prompt, decoding, source of the previous texts), their digest
    ``settings_id`` (repeated in every record, so records stay tied to their settings),
    the shard (``"K/N"`` or null), and information that is not compared (creation time,
    model location, utterance table).

Records are appended in batches, each batch in one write followed by flush and fsync.
A job killed in the middle of a write can leave an incomplete last line: the reader
ignores an incomplete LAST line (one without its newline) and reports it; any other bad
line is an error naming the file and the line. The writer cuts such a tail off before
appending, and refuses to append to a file whose header has other settings or another
shard. Records are in processing order; :func:`merge_generations` writes them in
utterance-table order after checking that the shards cover every utterance exactly once.

A file holds one record per id, always. When a resumed run finds records whose input has
changed since they were made (the utterance table's previous texts or links were edited),
:meth:`GenerationWriter.check_inputs` refuses to go on, naming how many and which; asked
to redo them (``--redo-changed``), it rewrites the file without those records (atomically:
a temporary file renamed over it, other lines kept byte for byte) and the run generates
them again. Records written before ``input_sha256`` existed lack the field; it is then
computed from their own ``prev_id`` and ``previous_text``, so their changes are detected
too. A stored ``input_sha256`` that disagrees with its record's fields is an error (the
line was edited by hand).
"""

import datetime
import fcntl
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from ..data.atomic_files import write_bytes_atomically

logger = logging.getLogger(__name__)

FORMAT_NAME = "gcaf-generations"
FORMAT_VERSION = 1
HEADER_SUFFIX = ".header.json"
RECORD_FIELDS = (
    "id",
    "prev_id",
    "prompt_id",
    "previous_text",
    "prompt_sent",
    "generation",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "settings_id",
    "input_sha256",
)
# Files written before the input fingerprint lack it: the fields a record must have.
REQUIRED_FIELDS = RECORD_FIELDS[:-1]
NO_PREVIOUS = "no_previous"


class GenerationFileError(ValueError):
    """A malformed or incompatible generation file; the message names the file (and line)."""


def header_path(path) -> str:
    """The header file that goes with the generation file ``path``."""
    return os.fspath(path) + HEADER_SUFFIX


def settings_digest(settings: dict) -> str:
    """A short, order-independent digest of ``settings`` (16 hex digits)."""
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def parse_shard(text: str) -> Tuple[int, int]:
    """``"K/N"`` (1 <= K <= N) -> ``(K, N)``."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"shard must look like K/N (e.g. 1/4), got {text!r}") from None
    if not 1 <= index <= count:
        raise ValueError(f"shard {text!r}: K must be between 1 and N")
    return index, count


def shard_of(utterance_id: str, shard_count: int) -> int:
    """The shard (1..N) an utterance belongs to: a hash of its id, so the slice depends
    neither on the order of the table nor on the machine."""
    digest = hashlib.sha256(str(utterance_id).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shard_count + 1


def input_fingerprint(prev_id: Optional[str], previous_text: Optional[str]) -> str:
    """The SHA-256 (hex) of a record's input: the JSON array ``[prev_id, previous_text]``."""
    canonical = json.dumps([prev_id, previous_text], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def record_input_fingerprint(record: dict) -> str:
    """The input fingerprint of a read record: its ``input_sha256``, or for a record written
    before the field existed, the one of its ``prev_id`` and ``previous_text``."""
    return record.get("input_sha256") or input_fingerprint(record["prev_id"], record["previous_text"])


def make_header(settings: dict, shard: Optional[str] = None, **info) -> dict:
    """A header for records made with ``settings``; ``info`` is recorded, not compared."""
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "settings_id": settings_digest(settings),
        "settings": settings,
        "shard": shard,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **info,
    }


def make_record(
    utterance_id: str,
    prev_id: Optional[str],
    prompt_id: str,
    settings_id: str,
    previous_text: Optional[str] = None,
    prompt_sent: Optional[str] = None,
    generation: Optional[str] = None,
    finish_reason: str = NO_PREVIOUS,
    prompt_tokens: Optional[int] = None,
    completion_tokens: Optional[int] = None,
) -> dict:
    """One record with the fields of :data:`RECORD_FIELDS` in order (``input_sha256`` from
    ``prev_id`` and ``previous_text``); the defaults describe an utterance with no previous
    utterance (no generation)."""
    return {
        "id": utterance_id,
        "prev_id": prev_id,
        "prompt_id": prompt_id,
        "previous_text": previous_text,
        "prompt_sent": prompt_sent,
        "generation": generation,
        "finish_reason": finish_reason,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "settings_id": settings_id,
        "input_sha256": input_fingerprint(prev_id, previous_text),
    }


def read_header(path) -> dict:
    """The header of the generation file ``path`` (its ``.header.json``), checked."""
    location = header_path(path)
    try:
        with open(location, encoding="utf-8") as stream:
            header = json.load(stream)
    except FileNotFoundError:
        raise GenerationFileError(
            f"{location}: missing: every generation file {path} needs its header file "
            "(written by gcaf-generate-context before the first record)"
        ) from None
    except json.JSONDecodeError as error:
        raise GenerationFileError(f"{location}: invalid JSON: {error}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise GenerationFileError(f"{location}: not a {FORMAT_NAME} header")
    if header.get("version") != FORMAT_VERSION:
        raise GenerationFileError(
            f"{location}: format version {header.get('version')!r}, this code reads version {FORMAT_VERSION}"
        )
    if header.get("settings_id") != settings_digest(header.get("settings", {})):
        raise GenerationFileError(f"{location}: settings_id does not match the settings (edited by hand?)")
    return header


def _flatten(settings, prefix="") -> Dict[str, object]:
    if not isinstance(settings, dict):
        return {prefix: settings}
    flat = {}
    for key, value in settings.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else key))
    return flat


def settings_differences(old: dict, new: dict) -> List[str]:
    """``"key: old -> new"`` for every setting that differs (nested keys dotted)."""
    old_flat, new_flat = _flatten(old), _flatten(new)
    return [
        f"{key}: {old_flat.get(key)!r} -> {new_flat.get(key)!r}"
        for key in sorted(set(old_flat) | set(new_flat))
        if old_flat.get(key) != new_flat.get(key)
    ]


def check_compatible(existing: dict, wanted: dict, path) -> None:
    """Refuse to add records made with ``wanted`` to the file ``path`` with header ``existing``."""
    problems = settings_differences(existing["settings"], wanted["settings"])
    if existing.get("shard") != wanted.get("shard"):
        problems.append(f"shard: {existing.get('shard')!r} -> {wanted.get('shard')!r}")
    if problems:
        raise GenerationFileError(
            f"{path} was made with other settings; refusing to append to it. Differences (file -> now): "
            + "; ".join(problems)
            + ". Write to another --out, or delete the file and its header to start again."
        )


@dataclass
class Generations:
    """A read generation file: its header, its records in file order, the line number of
    each record, and whether an incomplete last line was ignored."""

    header: dict
    records: List[dict] = field(default_factory=list)
    line_numbers: List[int] = field(default_factory=list)
    incomplete_last_line: bool = False


def _check_record(record, where: str, settings_id: str) -> None:
    if not isinstance(record, dict):
        raise GenerationFileError(f"{where}: expected a JSON object, got {type(record).__name__}")
    absent = [name for name in REQUIRED_FIELDS if name not in record]
    if absent:
        raise GenerationFileError(f"{where}: missing field(s) {', '.join(absent)}")
    if record["settings_id"] != settings_id:
        raise GenerationFileError(
            f"{where}: settings_id {record['settings_id']!r} differs from the header's {settings_id!r}: "
            "the record was made with other settings"
        )
    if record["generation"] is not None and not isinstance(record["generation"], str):
        raise GenerationFileError(f"{where}: generation must be a string or null")
    if "input_sha256" in record and record["input_sha256"] != input_fingerprint(
        record["prev_id"], record["previous_text"]
    ):
        raise GenerationFileError(
            f"{where}: input_sha256 does not match the record's prev_id and previous_text (edited by hand?): "
            "delete the line, and rerun generation to redo it"
        )


def read_generations(path) -> Generations:
    """Read and check a generation file (see the module docstring). An incomplete last
    line is ignored with a warning; duplicate ids, bad JSON or missing fields elsewhere
    raise :class:`GenerationFileError` naming the file and the line."""
    path = os.fspath(path)
    generations = Generations(read_header(path))
    settings_id = generations.header["settings_id"]
    line_of_id = {}
    with open(path, "rb") as stream:
        for line_number, raw_line in enumerate(stream, start=1):
            where = f"{path}:{line_number}"
            if not raw_line.endswith(b"\n"):
                # Only the last line can lack its newline: the write in flight when a job died.
                generations.incomplete_last_line = True
                logger.warning("%s: ignoring an incomplete last line (%d bytes)", where, len(raw_line))
                break
            if not raw_line.strip():
                continue
            try:
                record = json.loads(raw_line)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise GenerationFileError(f"{where}: invalid JSON: {error}") from None
            _check_record(record, where, settings_id)
            if record["id"] in line_of_id:
                raise GenerationFileError(
                    f"{where}: id {record['id']!r} repeats line {line_of_id[record['id']]}"
                )
            line_of_id[record["id"]] = line_number
            generations.records.append(record)
            generations.line_numbers.append(line_number)
    return generations


def _header_bytes(header: dict) -> bytes:
    return (json.dumps(header, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _record_bytes(records: Iterable[dict]) -> bytes:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode("utf-8")


def _cut_incomplete_tail(descriptor: int, path: str) -> None:
    """Truncate the file after its last newline (nothing to do when it ends with one)."""
    size = os.fstat(descriptor).st_size
    if size == 0 or os.pread(descriptor, 1, size - 1) == b"\n":
        return
    end = size
    keep = 0
    while end > 0:
        start = max(0, end - 65536)
        chunk = os.pread(descriptor, end - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            break
        end = start
    logger.warning("%s: cutting off an incomplete last line (%d bytes) before appending", path, size - keep)
    os.ftruncate(descriptor, keep)


class GenerationWriter:
    """Appends records to a generation file, resuming where a previous run stopped.

    Opening takes an exclusive lock on the file (a second process writing the same file
    is refused), writes the header when the file is new or checks it against the
    existing one (:func:`check_compatible`), cuts off an incomplete last line, and reads
    the ids already done into :attr:`finished_ids` (and their input fingerprints, which
    :meth:`check_inputs` compares with the inputs of now). :meth:`write` appends one batch
    with a single write, then flushes and fsyncs it.
    """

    def __init__(self, path, header: dict):
        self.path = os.fspath(path)
        self.header = header
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        self._stream = open(self.path, "a+b")  # readable too: the tail check reads the last bytes
        try:
            try:
                fcntl.flock(self._stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise GenerationFileError(f"{self.path} is being written by another process") from None
            if os.path.exists(header_path(self.path)):
                check_compatible(read_header(self.path), header, self.path)
            elif os.fstat(self._stream.fileno()).st_size > 0:
                raise GenerationFileError(
                    f"{self.path} has content but no header file {header_path(self.path)}: "
                    "it was not written by gcaf-generate-context; choose another --out"
                )
            else:
                write_bytes_atomically(header_path(self.path), _header_bytes(header))
            _cut_incomplete_tail(self._stream.fileno(), self.path)
            records = read_generations(self.path).records
            self.finished_ids = {record["id"] for record in records}
            self._input_fingerprint_of_id = {record["id"]: record_input_fingerprint(record) for record in records}
        except BaseException:
            self._stream.close()
            raise

    def check_inputs(self, input_fingerprint_of_id: Dict[str, str], redo_changed: bool = False) -> List[str]:
        """Compare the records already written with the inputs of now
        (``{id: input_fingerprint(prev_id, previous_text)}``; ids not in it are left alone)
        and return the ids whose input changed. Raises :class:`GenerationFileError` when
        there are some, unless ``redo_changed``: then their records are removed from the
        file (:meth:`discard`), for the caller to generate them again."""
        changed = [
            utterance_id
            for utterance_id, fingerprint in self._input_fingerprint_of_id.items()
            if utterance_id in input_fingerprint_of_id and input_fingerprint_of_id[utterance_id] != fingerprint
        ]
        if changed and not redo_changed:
            raise GenerationFileError(
                f"{self.path}: {len(changed)} record(s) were generated from an input that has changed since "
                f"(the previous utterance or its text differs now): {_examples(changed)}. Rerun with "
                "--redo-changed to generate them again (their old records are dropped), or write to another --out."
            )
        if changed:
            logger.warning(
                "%s: %d record(s) were generated from an input that has changed since; dropping them to "
                "generate them again: %s", self.path, len(changed), _examples(changed),
            )
            self.discard(changed)
        return changed

    def discard(self, ids: Iterable[str]) -> None:
        """Remove the records of ``ids``: the file is rewritten without their lines (the
        others byte for byte) under a temporary name and renamed over itself, so a crash
        leaves the old file or the new one. The lock moves to the new file before the old
        one is let go."""
        ids = set(ids)
        generations = read_generations(self.path)
        dropped = {
            line_number for record, line_number in zip(generations.records, generations.line_numbers)
            if record["id"] in ids
        }
        with open(self.path, "rb") as stream:
            kept = b"".join(line for number, line in enumerate(stream, start=1) if number not in dropped)
        write_bytes_atomically(self.path, kept)
        stream = open(self.path, "a+b")
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stream.close()
            raise GenerationFileError(f"{self.path} is being written by another process") from None
        self._stream.close()
        self._stream = stream
        self.finished_ids -= ids
        for utterance_id in ids:
            self._input_fingerprint_of_id.pop(utterance_id, None)

    def write(self, records: Sequence[dict]) -> None:
        """Append ``records`` durably: one write, flush, fsync."""
        if not records:
            return
        self._stream.write(_record_bytes(records))
        self._stream.flush()
        os.fsync(self._stream.fileno())
        for record in records:
            self.finished_ids.add(record["id"])
            self._input_fingerprint_of_id[record["id"]] = record_input_fingerprint(record)

    def close(self) -> None:
        self._stream.close()  # releases the lock

    def __enter__(self) -> "GenerationWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _examples(ids: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(repr(utterance_id) for utterance_id in ids[:limit])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > limit else "")


def merge_generations(shard_paths: Sequence, expected_ids: Sequence[str], out_path) -> dict:
    """Merge shard files into ``out_path`` (records in ``expected_ids`` order, header with
    shard null), after checking that all shards share one settings digest and that
    together they hold every id of ``expected_ids`` exactly once and no other.

    Returns ``{"out", "utterances", "shards", "generated", "no_previous"}``.
    """
    out_path = os.fspath(out_path)
    if not shard_paths:
        raise GenerationFileError("no shard files to merge")
    resolved_out = os.path.realpath(out_path)
    first_path, first = None, None
    record_of_id, location_of_id = {}, {}
    shard_count = None
    for path in map(os.fspath, shard_paths):
        if os.path.realpath(path) == resolved_out:
            raise GenerationFileError(f"{path}: the merged file cannot be one of the shards")
        generations = read_generations(path)
        if generations.incomplete_last_line:
            logger.warning("%s: its incomplete last line is not merged (rerun that shard to redo it)", path)
        if first is None:
            first_path, first = path, generations.header
        elif generations.header["settings_id"] != first["settings_id"]:
            raise GenerationFileError(
                f"{path} was made with other settings than {first_path}: "
                + "; ".join(settings_differences(first["settings"], generations.header["settings"]))
            )
        if generations.header.get("shard"):
            shard_count = parse_shard(generations.header["shard"])[1]
        for record, line_number in zip(generations.records, generations.line_numbers):
            where = f"{path}:{line_number}"
            if record["id"] in location_of_id:
                raise GenerationFileError(
                    f"{where}: id {record['id']!r} is also in {location_of_id[record['id']]}: "
                    "shards must not overlap"
                )
            location_of_id[record["id"]] = where
            record_of_id[record["id"]] = record

    expected = set(expected_ids)
    unknown = [utterance_id for utterance_id in record_of_id if utterance_id not in expected]
    if unknown:
        raise GenerationFileError(
            f"{location_of_id[unknown[0]]}: {len(unknown)} id(s) are not utterances of the table: {_examples(unknown)}"
        )
    missing = [utterance_id for utterance_id in expected_ids if utterance_id not in record_of_id]
    if missing:
        where = ""
        if shard_count:
            shards = sorted({shard_of(utterance_id, shard_count) for utterance_id in missing})
            where = f" (from shard(s) {', '.join(f'{k}/{shard_count}' for k in shards)}: rerun them to finish)"
        raise GenerationFileError(f"{len(missing)} utterance(s) have no record{where}: {_examples(missing)}")

    ordered = [record_of_id[utterance_id] for utterance_id in expected_ids]
    header = {
        **{key: value for key, value in first.items() if key not in ("shard", "created")},
        "shard": None,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "merged_from": [os.path.abspath(path) for path in map(os.fspath, shard_paths)],
    }
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    write_bytes_atomically(header_path(out_path), _header_bytes(header))
    write_bytes_atomically(out_path, _record_bytes(ordered))
    no_previous = sum(record["finish_reason"] == NO_PREVIOUS for record in ordered)
    return {
        "out": out_path,
        "utterances": len(ordered),
        "shards": len(shard_paths),
        "generated": len(ordered) - no_previous,
        "no_previous": no_previous,
    }
