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

**Hypotheses** (``--hypotheses FILE``, two-pass decoding): the texts are a first decoding
pass's hypotheses instead of the ground truth (:mod:`.hypothesis_texts` reads the file), with
the same layouts, order and stream edges. Every utterance of the split needs a hypothesis
(else an error naming the first ids) and the file holds no other utterance. A neighbour
outside the split (``in_split`` false) was not decoded: it has no text, and the walk stops
there as at a stream start (counted as ``previous_not_decoded``); the sequential pass
(``fairseq-generate --sequential-context``) treats such an utterance the same way.
"""

import json
import os
from typing import Dict, List, Optional, Tuple

from ..data.atomic_files import write_lines
from ..data.utterance_table import read_utterance_table
from .hypothesis_texts import read_hypotheses

JOINS = ("concat", "separate")
DEFAULT_SEPARATOR = " "


def previous_rows(row: Dict, row_of_id: Dict[str, Dict], previous: int, where: str = "") -> Tuple[List[Dict], Optional[str]]:
    """The up to ``previous`` utterances before ``row`` in its stream, oldest first, by the
    ``prev_id`` links; and the id of the unknown previous utterance that stopped the walk (a
    ``prev_id`` without a row, or a row whose text is null), or None."""
    chain, seen = [], {row["id"]}
    previous_id = row["prev_id"]
    while previous_id is not None and len(chain) < previous:
        previous_row = row_of_id.get(previous_id)
        if previous_row is None or previous_row["text"] is None:
            return chain[::-1], previous_id
        if previous_row["id"] in seen:
            raise ValueError(
                f"{where or 'utterance table'}: the prev_id links of utterance {row['id']} run in a cycle through "
                f"{previous_row['id']}; fix the table's prev_id fields"
            )
        seen.add(previous_row["id"])
        chain.append(previous_row)
        previous_id = previous_row["prev_id"]
    return chain[::-1], None


def with_hypotheses(rows: List[Dict], hypotheses: Dict[str, str], where: str = "hypotheses") -> List[Dict]:
    """Table rows whose ``text`` is the hypothesis of each utterance of the split, and null
    (not decoded) for the neighbours outside it. Every ``in_split`` row needs a hypothesis,
    and ``hypotheses`` (``where`` names it in errors) may hold no other utterance."""
    in_split = {row["id"] for row in rows if row["in_split"]}
    without = [row["id"] for row in rows if row["in_split"] and row["id"] not in hypotheses]
    if without:
        raise ValueError(
            f"{where} has no hypothesis for {len(without)} of the {len(in_split)} utterances of the split; "
            f"first: {', '.join(without[:5])}. Decode the whole split in the first pass"
        )
    foreign = [utterance_id for utterance_id in hypotheses if utterance_id not in in_split]
    if foreign:
        raise ValueError(
            f"{where} holds {len(foreign)} hypotheses of utterances outside the split (first: "
            f"{', '.join(foreign[:5])}): is it the decoding of this split?"
        )
    return [{**row, "text": hypotheses[row["id"]] if row["in_split"] else None} for row in rows]


def context_text_records(
    rows: List[Dict],
    previous: Optional[int] = 1,
    current: bool = False,
    join: str = "concat",
    separator: str = DEFAULT_SEPARATOR,
    where: str = "",
    hypotheses: Optional[Dict[str, str]] = None,
    hypotheses_where: str = "hypotheses",
) -> Tuple[List[Dict], Dict[str, int]]:
    """The records of the context-text file (see the module docstring) for the ``in_split``
    rows of an utterance table, and counts: ``utterances``, ``without_previous`` (no
    previous text at all), ``fewer_than_previous`` (some, fewer than ``previous``) and
    ``unknown_previous`` (an unknown previous utterance ended the walk: a ``prev_id``
    without a row, or a null text). The current text of a blind split is null (no context),
    counted as ``without_text``.

    With ``hypotheses`` (``{id: text}`` of a first decoding pass, named ``hypotheses_where``
    in errors) the texts are those (:func:`with_hypotheses`); a walk that stops at a
    neighbour outside the split (not decoded) is counted as ``previous_not_decoded``, not as
    unknown."""
    if join not in JOINS:
        raise ValueError(f"join must be one of {', '.join(JOINS)}, got {join!r}")
    not_decoded = set()
    if hypotheses is not None:
        not_decoded = {row["id"] for row in rows if not row["in_split"]}
        rows = with_hypotheses(rows, hypotheses, hypotheses_where)
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
    if hypotheses is not None:
        counts["previous_not_decoded"] = 0
    for row in rows:
        if not row["in_split"]:
            continue
        chain, stop = previous_rows(row, row_of_id, previous, where)
        counts["utterances"] += 1
        counts["without_previous"] += not chain
        counts["fewer_than_previous"] += 0 < len(chain) < previous
        if stop in not_decoded:
            counts["previous_not_decoded"] += 1
        else:
            counts["unknown_previous"] += stop is not None
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
    hypotheses=None,
    manifest=None,
) -> Dict:
    """Read the utterance table ``utterances``, write the context-text file ``out``
    atomically; returns the counts of :func:`context_text_records` with the settings.
    ``hypotheses``: a first pass's hypothesis file (``manifest``: the split's manifest, for
    a fairseq-generate output; see :mod:`.hypothesis_texts`) for the texts."""
    decoded = None if hypotheses is None else read_hypotheses(hypotheses, manifest)
    records, counts = context_text_records(
        read_utterance_table(utterances), previous, current, join, separator, where=str(utterances),
        hypotheses=decoded, hypotheses_where=str(hypotheses),
    )
    write_lines(out, (json.dumps(record) for record in records))
    settings = {"current": True} if current else {"previous": previous, "join": join}
    if not current and join == "concat":
        settings["separator"] = separator
    if hypotheses is not None:
        settings["hypotheses"] = os.path.abspath(hypotheses)
    return {**counts, **settings, "out": str(out)}
