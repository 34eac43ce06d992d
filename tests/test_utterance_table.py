"""Neighbour links of utterance-table rows (gcaf_fairseq.data.utterance_table.link_stream_neighbours),
the one function that prep and the demo corpora link rows with."""

from pathlib import Path

from gcaf_demo.corpus import Utterance, utterance_rows
from gcaf_fairseq.data.utterance_table import link_stream_neighbours


def row(utterance_id, stream, position, in_split=True):
    return {"id": utterance_id, "stream": stream, "position": position, "audio": f"{utterance_id}.flac",
            "text": utterance_id, "prev_id": None, "next_id": None, "in_split": in_split}


def links(rows):
    return [(r["id"], r["prev_id"], r["next_id"]) for r in rows]


def test_consecutive_positions_of_a_stream_are_linked_and_sorted():
    rows = link_stream_neighbours([row("b1", "b", 1), row("a0", "a", 0), row("b0", "b", 0), row("a1", "a", 1)])
    assert links(rows) == [("a0", None, "a1"), ("a1", "a0", None), ("b0", None, "b1"), ("b1", "b0", None)]


def test_a_gap_breaks_the_link():
    assert links(link_stream_neighbours([row("s0", "s", 0), row("s2", "s", 2)])) == [("s0", None, None), ("s2", None, None)]


def test_rows_outside_the_split_are_kept_only_next_to_the_split():
    candidates = [row("s0", "s", 0, False), row("s1", "s", 1, False), row("s2", "s", 2), row("s3", "s", 3, False)]
    rows = link_stream_neighbours(candidates)
    assert links(rows) == [("s1", None, "s2"), ("s2", "s1", "s3"), ("s3", "s2", None)]
    assert [r["in_split"] for r in rows] == [False, True, False]


def test_rows_without_stream_come_last_unlinked_and_stream_order_is_used():
    candidates = [row("x", None, None), row("10-1", "10", 0), row("9-1", "9", 0), row("9-2", "9", 1)]
    rows = link_stream_neighbours(candidates, stream_order=int)
    assert links(rows) == [("9-1", None, "9-2"), ("9-2", "9-1", None), ("10-1", None, None), ("x", None, None)]


def test_demo_chapter_rows_are_linked_by_the_same_function():
    chapter = [Utterance(101, 2001, position, f"SENTENCE {position}", "en-us", 160) for position in range(3)]
    rows = utterance_rows(chapter, Path("/audio"))
    assert links(rows) == [
        ("101-2001-0000", None, "101-2001-0001"),
        ("101-2001-0001", "101-2001-0000", "101-2001-0002"),
        ("101-2001-0002", "101-2001-0001", None),
    ]
    assert rows[0]["audio"] == "/audio/101/2001/101-2001-0000.flac" and all(r["in_split"] for r in rows)
