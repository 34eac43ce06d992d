"""The texts file ``gcaf-embed-context --texts`` reads: JSON lines, one utterance's id and
context text per line (previous-text files, generation files, ...)."""

import json
from typing import Callable, List, Optional, Tuple

from ..data.json_lines import read_json_objects


class TextsFileError(ValueError):
    """A malformed line in the texts file; the message names the file and the line."""


def read_text_records(path: str, id_field: str, text_field: str) -> List[Tuple[str, str]]:
    """Reads ``(id, text)`` records from a JSON-lines file, in file order.

    Ids may be strings or integers (stored as strings). A null text is read as ``""``
    (no context). Blank lines are skipped. Raises :class:`TextsFileError` naming the file
    and line for invalid JSON, a missing id or text field, a bad id, a text that is neither
    a string nor null, or a duplicate id.
    """

    def text_of(where: str, utterance_id: str, text) -> str:
        if text is None:
            return ""
        if not isinstance(text, str):
            raise TextsFileError(
                f"{where}: text field {text_field!r} of id {utterance_id!r} must be a string or null, "
                f"got {type(text).__name__}"
            )
        return text

    return _read_records(path, id_field, text_field, "text", text_of)


def read_text_list_records(path: str, id_field: str, texts_field: str) -> List[Tuple[str, List[str]]]:
    """Reads ``(id, [text, ...])`` records (``gcaf-context-texts --join separate``) from a
    JSON-lines file, in file order; the same checks as :func:`read_text_records`, and
    ``texts_field`` must hold a list of strings (an empty list: no context)."""

    def texts_of(where: str, utterance_id: str, texts) -> List[str]:
        if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
            raise TextsFileError(
                f"{where}: texts field {texts_field!r} of id {utterance_id!r} must be a list of strings "
                f"(written by gcaf-context-texts --join separate), got {json.dumps(texts)[:80]}"
            )
        return list(texts)

    return _read_records(path, id_field, texts_field, "texts", texts_of)


def _read_records(path: str, id_field: str, value_field: str, value_kind: str, checked_value: Callable) -> List[tuple]:
    """``(id, checked_value(where, id, value))`` per line, in file order: the id checks and
    the duplicate check shared by both record shapes (``value_kind`` names the field in errors)."""
    records = []
    line_of_id = {}
    for where, line_number, record in read_json_objects(path, TextsFileError):
        if id_field not in record:
            raise TextsFileError(f"{where}: missing id field {id_field!r}")
        if value_field not in record:
            raise TextsFileError(f"{where}: missing {value_kind} field {value_field!r}")
        utterance_id = record[id_field]
        if isinstance(utterance_id, bool) or not isinstance(utterance_id, (str, int)) or utterance_id == "":
            raise TextsFileError(
                f"{where}: id field {id_field!r} must be a non-empty string or an integer, got {utterance_id!r}"
            )
        utterance_id = str(utterance_id)
        value = checked_value(where, utterance_id, record[value_field])
        if utterance_id in line_of_id:
            raise TextsFileError(
                f"{where}: duplicate id {utterance_id!r} (first seen at line {line_of_id[utterance_id]})"
            )
        line_of_id[utterance_id] = line_number
        records.append((utterance_id, value))
    return records


def previous_count(path: str) -> Optional[int]:
    """How many previous utterances the texts of a ``gcaf-context-texts`` file hold: the
    longest ``prev_ids`` list (``--previous K``, K > 1 or ``--join separate``), 1 for a
    file with ``prev_id`` only (the papers' setting), ``None`` for any other texts file
    (current texts, generations). Recorded in the store's metadata as ``previous``."""
    count = None
    for _where, _line, record in read_json_objects(path, TextsFileError):
        if isinstance(record.get("prev_ids"), list):
            count = max(count or 0, len(record["prev_ids"]))
        elif "prev_id" in record and count is None:
            count = 1
    return count
