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
from typing import Callable, Dict, List, Tuple

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


def link_stream_neighbours(candidates: List[Dict], stream_order: Callable[[str], object] = str) -> List[Dict]:
    """Table rows with ``prev_id`` / ``next_id`` filled in (in place): the one place where
    neighbours are linked (data preparation and the demo corpora).

    ``candidates`` are rows (``id``, ``stream``, ``position``, ``in_split``, ...) where
    positions within a stream are consecutive integers for consecutive utterances; a row
    whose ``stream`` is None (id not understood) gets no neighbours. Every ``in_split``
    row is kept; a row outside the split is kept only when it neighbours one inside, so
    every kept neighbour of the split is listed and nothing else. Links point only at
    kept rows. Rows come back sorted by (``stream_order(stream)``, position), then the
    rows without a stream in their given order.
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
