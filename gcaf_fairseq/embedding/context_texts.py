"""The context-text file of ``gcaf-context-texts``: each utterance's previous (or current)
ground-truth text, read from ``{split}.utterances.jsonl``, written as the texts file
``gcaf-embed-context`` reads.

One JSON object per utterance of the split (``in_split`` rows, in table order):

===================== ==================================================================
``--current``         ``{"id", "text"}``: the utterance's own transcript (C3/C4)
``--previous K``      ``{"id", "prev_id", "text"}``: the K previous utterances of the
``--join concat``     stream joined into one text (C1/C2); with K > 1 also ``"prev_ids"``
``--previous K``      ``{"id", "prev_id", "prev_ids", "texts"}``: the K previous texts as a
``--join separate``   list, for ``gcaf-embed-context --texts-field texts --pooling
                      cls-per-text`` (one [CLS] row per text in a sequence store)
===================== ==================================================================

Decisions (K previous utterances, K = 1 being the papers' setting):

- **Order**: oldest first, the most recent last, as they were spoken; ``prev_ids`` and
  ``texts`` follow the same order, and ``prev_id`` is the immediately previous utterance.
- **Separator** (``concat``): one space by default (``--separator``); the texts are joined
  literally, an empty transcript included. A text encoder truncates at its
  ``--max-length`` from the end, so an over-long concatenation loses the most recent text
  first: ``gcaf-embed-context`` counts such texts (``n_truncated``).
- **Stream starts**: the walk follows ``prev_id`` back at most K steps and stops at the
  first utterance without one. The k-th utterance of a stream (k < K) gets its k - 1
  previous texts; the first gets none: an empty ``text`` / ``texts``, which
  ``gcaf-embed-context`` turns into "no context" (zero rows), as with K = 1. A ``prev_id``
  without a row in the table also ends the walk (counted as ``unknown_previous``). The
  prepared tables list only the direct neighbours of a split's utterances, so an utterance
  whose previous utterance lies outside the split has at most that one previous text.

``--previous 1 --join concat`` writes exactly the records of
:func:`gcaf_fairseq.data.utterance_table.previous_texts` (today's previous-text file).
"""

import json
from typing import Dict, List, Optional, Tuple

from ..data.atomic_files import write_lines
from ..data.utterance_table import read_utterance_table

JOINS = ("concat", "separate")
DEFAULT_SEPARATOR = " "


def previous_rows(row: Dict, row_of_id: Dict[str, Dict], previous: int, where: str = "") -> Tuple[List[Dict], bool]:
    """The up to ``previous`` utterances before ``row`` in its stream, oldest first, by the
    ``prev_id`` links; and whether the walk stopped at an unknown previous utterance (a
    ``prev_id`` without a row, or a row whose text is null)."""
    chain, seen = [], {row["id"]}
    previous_id = row["prev_id"]
    while previous_id is not None and len(chain) < previous:
        previous_row = row_of_id.get(previous_id)
        if previous_row is None or previous_row["text"] is None:
            return chain[::-1], True
        if previous_row["id"] in seen:
            raise ValueError(
                f"{where or 'utterance table'}: the prev_id links of utterance {row['id']} run in a cycle through "
                f"{previous_row['id']}; fix the table's prev_id fields"
            )
        seen.add(previous_row["id"])
        chain.append(previous_row)
        previous_id = previous_row["prev_id"]
    return chain[::-1], False


def context_text_records(
    rows: List[Dict],
    previous: Optional[int] = 1,
    current: bool = False,
    join: str = "concat",
    separator: str = DEFAULT_SEPARATOR,
    where: str = "",
) -> Tuple[List[Dict], Dict[str, int]]:
    """The records of the context-text file (see the module docstring) for the ``in_split``
    rows of an utterance table, and counts: ``utterances``, ``without_previous`` (no
    previous text at all), ``fewer_than_previous`` (some, fewer than ``previous``) and
    ``unknown_previous`` (an unknown previous utterance ended the walk: a ``prev_id``
    without a row, or a null text). The current text of a blind split is null (no context),
    counted as ``without_text``."""
    if join not in JOINS:
        raise ValueError(f"join must be one of {', '.join(JOINS)}, got {join!r}")
    if current:
        if join != "concat":
            raise ValueError("the current text is one text: --join separate goes with --previous K only")
        records = [{"id": row["id"], "text": row["text"]} for row in rows if row["in_split"]]
        return records, {"utterances": len(records), "without_text": sum(record["text"] is None for record in records)}
    if isinstance(previous, bool) or not isinstance(previous, int) or previous < 1:
        raise ValueError(f"the number of previous utterances must be an integer >= 1, got {previous!r}")
    row_of_id = {row["id"]: row for row in rows}
    records = []
    counts = {"utterances": 0, "without_previous": 0, "fewer_than_previous": 0, "unknown_previous": 0}
    for row in rows:
        if not row["in_split"]:
            continue
        chain, unknown = previous_rows(row, row_of_id, previous, where)
        counts["utterances"] += 1
        counts["without_previous"] += not chain
        counts["fewer_than_previous"] += 0 < len(chain) < previous
        counts["unknown_previous"] += unknown
        record = {"id": row["id"], "prev_id": row["prev_id"]}
        if join == "separate" or previous > 1:
            record["prev_ids"] = [link["id"] for link in chain]
        texts = [link["text"] for link in chain]
        if join == "separate":
            record["texts"] = texts
        else:
            record["text"] = separator.join(texts)
        records.append(record)
    return records, counts


def write_context_texts(
    utterances,
    out,
    previous: Optional[int] = 1,
    current: bool = False,
    join: str = "concat",
    separator: str = DEFAULT_SEPARATOR,
) -> Dict:
    """Read the utterance table ``utterances``, write the context-text file ``out``
    atomically; returns the counts of :func:`context_text_records` with the settings."""
    records, counts = context_text_records(
        read_utterance_table(utterances), previous, current, join, separator, where=str(utterances)
    )
    write_lines(out, (json.dumps(record) for record in records))
    settings = {"current": True} if current else {"previous": previous, "join": join}
    if not current and join == "concat":
        settings["separator"] = separator
    return {**counts, **settings, "out": str(out)}
