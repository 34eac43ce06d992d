"""The per-split utterance table ``{split}.utterances.jsonl``: one source of truth.

One JSON object per line, one line per utterance, with exactly these fields:

========== =========================================================================
``id``       utterance id, the manifest file name without extension
``stream``   the recording it comes from (LibriSpeech chapter ``SPEAKER-CHAPTER``,
             VoxCeleb speaker + video, VoxPopuli session)
``position`` its index in the stream (int)
``audio``    path of its audio file
``text``     its transcript
``prev_id``  id of the previous utterance of the same stream, or null
``next_id``  id of the next one, or null
``in_split`` false for neighbours outside the split that are listed only for context
========== =========================================================================
"""

import json
from typing import Dict, List, Tuple

from .atomic_files import write_text_atomically
from .json_lines import read_json_objects

UTTERANCE_FIELDS = ("id", "stream", "position", "audio", "text", "prev_id", "next_id", "in_split")


def read_utterance_table(path) -> List[Dict]:
    """Read and check a table; errors name the file and the line."""
    rows, seen = [], {}
    for where, line_number, row in read_json_objects(path):
        absent = [name for name in UTTERANCE_FIELDS if name not in row]
        if absent:
            raise ValueError(f"{where}: missing field(s) {', '.join(absent)}")
        if row["id"] in seen:
            raise ValueError(f"{where}: id {row['id']} repeats line {seen[row['id']]}")
        seen[row["id"]] = line_number
        rows.append(row)
    return rows


def previous_texts(rows: List[Dict]) -> Tuple[List[Dict], int]:
    """For every utterance of the split (``in_split``), the text of its previous utterance.

    Returns records ``{"id", "prev_id", "text"}`` and the number of utterances whose
    previous utterance is unknown (no ``prev_id``, or a ``prev_id`` without a row): their
    ``text`` is empty, which the context store turns into "no context".
    """
    text_by_id = {row["id"]: row["text"] for row in rows}
    records, without_previous = [], 0
    for row in rows:
        if not row["in_split"]:
            continue
        previous = text_by_id.get(row["prev_id"]) if row["prev_id"] is not None else None
        without_previous += previous is None
        records.append({"id": row["id"], "prev_id": row["prev_id"], "text": previous or ""})
    return records, without_previous


def write_utterance_table(path, rows: List[Dict]) -> None:
    """Write a table atomically, with the
    fields in :data:`UTTERANCE_FIELDS` order; a row missing a field or repeating an id is
    refused before anything is written."""
    seen = set()
    lines = []
    for number, row in enumerate(rows, start=1):
        absent = [name for name in UTTERANCE_FIELDS if name not in row]
        if absent:
            raise ValueError(f"row {number} (id {row.get('id')!r}): missing field(s) {', '.join(absent)}")
        if row["id"] in seen:
            raise ValueError(f"row {number}: id {row['id']} repeats")
        seen.add(row["id"])
        lines.append(json.dumps({name: row[name] for name in UTTERANCE_FIELDS}, ensure_ascii=False) + "\n")
    write_text_atomically(path, "".join(lines))
