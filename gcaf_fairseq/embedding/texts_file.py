"""The texts file ``gcaf-embed-context --texts`` reads: JSON lines, one utterance's id and
context text per line (previous-text files, generation files, ...)."""

import json
from typing import List, Optional, Tuple

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
    records = []
    line_of_id = {}
    for where, line_number, record in read_json_objects(path, TextsFileError):
        if id_field not in record:
            raise TextsFileError(f"{where}: missing id field {id_field!r}")
        if text_field not in record:
            raise TextsFileError(f"{where}: missing text field {text_field!r}")
        utterance_id, text = record[id_field], record[text_field]
        if isinstance(utterance_id, bool) or not isinstance(utterance_id, (str, int)) or utterance_id == "":
            raise TextsFileError(
                f"{where}: id field {id_field!r} must be a non-empty string or an integer, got {utterance_id!r}"
            )
        utterance_id = str(utterance_id)
        if text is None:
            text = ""
        elif not isinstance(text, str):
            raise TextsFileError(
                f"{where}: text field {text_field!r} of id {utterance_id!r} must be a string or null, "
                f"got {type(text).__name__}"
            )
        if utterance_id in line_of_id:
            raise TextsFileError(
                f"{where}: duplicate id {utterance_id!r} (first seen at line {line_of_id[utterance_id]})"
            )
        line_of_id[utterance_id] = line_number
        records.append((utterance_id, text))
    return records


def read_text_list_records(path: str, id_field: str, texts_field: str) -> List[Tuple[str, List[str]]]:
    """Reads ``(id, [text, ...])`` records (``gcaf-context-texts --join separate``) from a
    JSON-lines file, in file order; the same checks as :func:`read_text_records`, and
    ``texts_field`` must hold a list of strings (an empty list: no context)."""
    records = []
    line_of_id = {}
    for where, line_number, record in read_json_objects(path, TextsFileError):
        if id_field not in record:
            raise TextsFileError(f"{where}: missing id field {id_field!r}")
        if texts_field not in record:
            raise TextsFileError(f"{where}: missing texts field {texts_field!r}")
        utterance_id, texts = record[id_field], record[texts_field]
        if isinstance(utterance_id, bool) or not isinstance(utterance_id, (str, int)) or utterance_id == "":
            raise TextsFileError(
                f"{where}: id field {id_field!r} must be a non-empty string or an integer, got {utterance_id!r}"
            )
        utterance_id = str(utterance_id)
        if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
            raise TextsFileError(
                f"{where}: texts field {texts_field!r} of id {utterance_id!r} must be a list of strings "
                f"(written by gcaf-context-texts --join separate), got {json.dumps(texts)[:80]}"
            )
        if utterance_id in line_of_id:
            raise TextsFileError(
                f"{where}: duplicate id {utterance_id!r} (first seen at line {line_of_id[utterance_id]})"
            )
        line_of_id[utterance_id] = line_number
        records.append((utterance_id, list(texts)))
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
