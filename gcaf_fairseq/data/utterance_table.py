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

``text`` is null in a blind test split; ``stream`` and ``position`` are null for an id
whose stream is not known (it has no neighbours). Links join rows of one stream, agree
with each other (A's ``next_id`` is B, then B's ``prev_id`` is A or null) and form no
cycle. A link to an id without a row (a neighbour not listed) is read as an unknown
neighbour and counted in a warning; everything else that breaks these rules is an error
naming the file and line.
"""

import json
import logging
from typing import Callable, Dict, List, Optional, Tuple

from .atomic_files import write_text_atomically
from .json_lines import read_json_objects

logger = logging.getLogger(__name__)

UTTERANCE_FIELDS = ("id", "stream", "position", "audio", "text", "prev_id", "next_id", "in_split")
LINK_FIELDS = ("prev_id", "next_id")
REVERSE_LINK = {"prev_id": "next_id", "next_id": "prev_id"}
MAX_LISTED_LINKS = 5


class UtteranceTableError(ValueError):
    """A malformed utterance table: the message names the file and line and says what to do."""


def field_type_problem(row: dict) -> Optional[str]:
    """What is wrong with the types of a row's fields, or None. ``text`` may be null (a
    blind test split), ``stream`` and ``position`` too (an id that does not parse)."""
    if not isinstance(row["id"], str) or not row["id"]:
        return f"id {row['id']!r} must be a non-empty string"
    for name in ("stream", "text") + LINK_FIELDS:
        if row[name] is not None and not isinstance(row[name], str):
            return f"{name} of {row['id']} must be a string or null, got {type(row[name]).__name__} {row[name]!r}"
    if row["position"] is not None and (not isinstance(row["position"], int) or isinstance(row["position"], bool)):
        return f"position of {row['id']} must be an integer or null, got {row['position']!r}"
    if not isinstance(row["audio"], str) or not row["audio"]:
        return f"audio of {row['id']} must be a non-empty path, got {row['audio']!r}"
    if not isinstance(row["in_split"], bool):
        return f"in_split of {row['id']} must be true or false, got {row['in_split']!r}"
    for name in LINK_FIELDS:
        if row[name] == row["id"]:
            return f"{name} of {row['id']} points at the utterance itself (a cycle)"
    return None


def check_links(rows: List[Dict], places: List[str], source) -> int:
    """Check the ``prev_id`` / ``next_id`` links of a table's rows (``places``: where each
    row is, ``path:line``; ``source``: the table, for the warning) and return the number of
    *dangling* links (to an id without a row: the neighbour is not listed, e.g. a table cut
    down to a subset; readers treat it as unknown, never as a stream edge).

    Errors (:class:`UtteranceTableError`, naming the row's place): a link to a row of another
    stream; a link whose target links back elsewhere (A's ``next_id`` is B but B's
    ``prev_id`` is C); a cycle of ``prev_id`` or ``next_id`` links. A one-way link (B's
    reverse link is null) is allowed: a table made for text generation may fill only
    ``prev_id``.
    """
    index_of = {row["id"]: index for index, row in enumerate(rows)}
    dangling = []
    for index, row in enumerate(rows):
        where = places[index]
        for name in LINK_FIELDS:
            target_id = row[name]
            if target_id is None:
                continue
            if target_id not in index_of:
                dangling.append(f"{places[index]} {name} {target_id!r}")
                continue
            target = rows[index_of[target_id]]
            target_where = f"at {places[index_of[target_id]]}"
            if target["stream"] != row["stream"]:
                raise UtteranceTableError(
                    f"{where}: {name} of {row['id']} (stream {row['stream']!r}) is {target_id}, of stream "
                    f"{target['stream']!r} ({target_where}): neighbours are utterances of the same stream; fix the link"
                )
            back = target[REVERSE_LINK[name]]
            if back is not None and back != row["id"]:
                raise UtteranceTableError(
                    f"{where}: {name} of {row['id']} is {target_id}, but {REVERSE_LINK[name]} of {target_id} "
                    f"({target_where}) is {back}: the links contradict each other; fix one of them"
                )
    for name in LINK_FIELDS:
        state = [0] * len(rows)  # 0: not seen, 1: on the current walk, 2: done
        for start in range(len(rows)):
            walk, index = [], start
            while index is not None and state[index] == 0:
                state[index] = 1
                walk.append(index)
                target_id = rows[index][name]
                index = index_of.get(target_id) if target_id is not None else None
            if index is not None and state[index] == 1:
                cycle = walk[walk.index(index):]
                members = " -> ".join(rows[member]["id"] for member in cycle + [index])
                raise UtteranceTableError(
                    f"{places[index]}: the {name} links form a cycle ({members}): a stream has a "
                    "first and a last utterance; set the first one's prev_id and the last one's next_id to null"
                )
            for member in walk:
                state[member] = 2
    if dangling:
        shown = "; ".join(dangling[:MAX_LISTED_LINKS])
        more = f" ... ({len(dangling) - MAX_LISTED_LINKS} more)" if len(dangling) > MAX_LISTED_LINKS else ""
        logger.warning(
            f"{source}: {len(dangling)} neighbour link(s) point at ids without a row ({shown}{more}); those neighbours count as unknown (no previous text, a missing neighbour's audio). "
            "Add their rows (with in_split false) if they should be used"
        )
    return len(dangling)


def read_utterance_table(path) -> List[Dict]:
    """Read and check a table; errors (:class:`UtteranceTableError`) name the file and the
    line: a missing field, a field of the wrong type (a null or non-string id, a text that
    is not a string or null, ...), a repeated id, a link to the row itself, to another
    stream or contradicting its target's reverse link, a cycle of links. A link to an id
    without a row is allowed and counted in one warning (see :func:`check_links`)."""
    rows, places, seen = [], [], {}
    for where, line_number, row in read_json_objects(path, UtteranceTableError):
        absent = [name for name in UTTERANCE_FIELDS if name not in row]
        if absent:
            raise UtteranceTableError(f"{where}: missing field(s) {', '.join(absent)}")
        problem = field_type_problem(row)
        if problem:
            raise UtteranceTableError(f"{where}: {problem}")
        if row["id"] in seen:
            raise UtteranceTableError(f"{where}: id {row['id']} repeats line {seen[row['id']]}")
        seen[row["id"]] = line_number
        rows.append(row)
        places.append(where)
    check_links(rows, places, path)
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
    """Write a table atomically, with the fields in :data:`UTTERANCE_FIELDS` order; a row
    that :func:`read_utterance_table` would refuse (a missing field, a wrong type, a
    repeated id, a bad link) is refused before anything is written, naming the row
    (row ``k`` becomes line ``k``)."""
    seen = set()
    lines = []
    for number, row in enumerate(rows, start=1):
        absent = [name for name in UTTERANCE_FIELDS if name not in row]
        if absent:
            raise UtteranceTableError(f"row {number} (id {row.get('id')!r}): missing field(s) {', '.join(absent)}")
        problem = field_type_problem(row)
        if problem:
            raise UtteranceTableError(f"row {number}: {problem}")
        if row["id"] in seen:
            raise UtteranceTableError(f"row {number}: id {row['id']} repeats")
        seen.add(row["id"])
        lines.append(json.dumps({name: row[name] for name in UTTERANCE_FIELDS}, ensure_ascii=False) + "\n")
    check_links(rows, [f"row {number}" for number in range(1, len(rows) + 1)], f"rows to write to {path}")
    write_text_atomically(path, "".join(lines))
