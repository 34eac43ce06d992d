"""Neighbour links of utterance-table rows (gcaf_fairseq.data.utterance_table.link_stream_neighbours),
the one function that prep and the demo corpora link rows with, and the checks of the one
reader, read_utterance_table."""

import json
import logging
from pathlib import Path

import pytest

from gcaf_demo.corpus import Utterance, utterance_rows
from gcaf_fairseq.data.utterance_table import (
    UtteranceTableError,
    link_stream_neighbours,
    previous_texts,
    read_utterance_table,
    write_utterance_table,
)


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


# --------------------------------------------------------------------------- the reader's checks


def chapter(stream="s", count=3, in_split=True):
    """Rows of one stream, linked both ways."""
    return link_stream_neighbours([row(f"{stream}{k}", stream, k, in_split) for k in range(count)])


def write_raw(path, rows):
    """Write rows as JSON lines without the writer's checks (a hand-made or damaged table)."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    "change, line, message",
    [
        (lambda rows: rows[1].update(id=None), 2, "id None must be a non-empty string"),
        (lambda rows: rows[1].update(id=7), 2, "id 7 must be a non-empty string"),
        (lambda rows: rows[2].update(text=["s2"]), 3, "text of s2 must be a string or null, got list"),
        (lambda rows: rows[2].update(text=3), 3, "text of s2 must be a string or null, got int"),
        (lambda rows: rows[0].update(prev_id=5), 1, "prev_id of s0 must be a string or null"),
        (lambda rows: rows[0].update(position="0"), 1, "position of s0 must be an integer or null"),
        (lambda rows: rows[0].update(in_split="yes"), 1, "in_split of s0 must be true or false"),
        (lambda rows: rows[1].update(next_id="s1"), 2, "next_id of s1 points at the utterance itself (a cycle)"),
        # s2 -> s0 closes s0 -> s1 -> s2 -> s0; s0's prev_id is s2 to keep the links agreeing.
        (lambda rows: (rows[2].update(next_id="s0"), rows[0].update(prev_id="s2")), 1,
         "the prev_id links form a cycle (s0 -> s2 -> s1 -> s0)"),
        (lambda rows: rows[0].update(next_id="s2"), 1,
         "next_id of s0 is s2, but prev_id of s2 (at "),
        (lambda rows: rows[0].update(next_id="t0"), 1, "next_id of s0 (stream 's') is t0, of stream 't'"),
    ],
)
def test_reader_errors_name_the_line(tmp_path, change, line, message):
    rows = chapter() + [row("t0", "t", 0)]
    change(rows)
    path = write_raw(tmp_path / "u.jsonl", rows)
    with pytest.raises(UtteranceTableError) as error_info:
        read_utterance_table(path)
    assert f"{path}:{line}: " in str(error_info.value) and message in str(error_info.value)
    # The writer refuses the same rows before writing anything.
    with pytest.raises(UtteranceTableError):
        write_utterance_table(tmp_path / "w.jsonl", rows)
    assert not (tmp_path / "w.jsonl").exists()


def test_a_next_id_cycle_with_one_way_links_is_an_error(tmp_path):
    rows = [row("a", "s", 0), row("b", "s", 1)]
    rows[0]["next_id"], rows[1]["next_id"] = "b", "a"  # no prev_id: one-way links, but a cycle
    path = write_raw(tmp_path / "u.jsonl", rows)
    with pytest.raises(UtteranceTableError, match=r"u\.jsonl:1: the next_id links form a cycle \(a -> b -> a\)"):
        read_utterance_table(path)


def test_a_dangling_link_is_read_as_unknown_and_counted_in_a_warning(tmp_path, caplog):
    rows = chapter(count=4)
    rows = [r for r in rows if r["id"] != "s1"]  # a table cut down to a subset: s0 and s2 point at s1
    path = write_raw(tmp_path / "u.jsonl", rows)
    with caplog.at_level(logging.WARNING, logger="gcaf_fairseq.data.utterance_table"):
        read = read_utterance_table(path)
    assert read == rows
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"{path}: 2 neighbour link(s) point at ids without a row" in warnings[0]
    assert f"{path}:1 next_id 's1'" in warnings[0] and f"{path}:2 prev_id 's1'" in warnings[0]
    records, without_previous = previous_texts(read)
    assert [record["text"] for record in records] == ["", "", "s2"] and without_previous == 2


def test_what_preparation_legitimately_writes_reads_back_without_a_warning(tmp_path, caplog):
    # Neighbours outside the split (in_split false), a Libri-light neighbour not found (null
    # link), a blind test's null text, an id whose stream is unknown (null stream/position).
    rows = link_stream_neighbours(
        [row("s0", "s", 0, in_split=False), row("s1", "s", 1), row("s3", "s", 3), row("odd", None, None)]
    )
    rows[-1]["text"] = None
    path = tmp_path / "u.jsonl"
    with caplog.at_level(logging.WARNING):
        write_utterance_table(path, rows)
        assert read_utterance_table(path) == rows
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert [(r["id"], r["prev_id"], r["next_id"]) for r in rows] == [
        ("s0", None, "s1"), ("s1", "s0", None), ("s3", None, None), ("odd", None, None),
    ]


def test_one_way_prev_links_are_allowed(tmp_path):
    rows = [row("a", "s", 0), row("b", "s", 1), row("c", "s", 2)]
    rows[1]["prev_id"], rows[2]["prev_id"] = "a", "b"  # a table made for generation: prev_id only
    path = write_raw(tmp_path / "u.jsonl", rows)
    assert [record["text"] for record in previous_texts(read_utterance_table(path))[0]] == ["", "a", "b"]
