"""fairseq dictionary files (gcaf_fairseq.data.symbol_dictionary): counts, tie orders, the
released LibriSpeech letter dictionary."""

from collections import Counter

import pytest

from gcaf_fairseq.data.symbol_dictionary import (
    FAIRSEQ_LETTER_DICTIONARY,
    count_symbols,
    read_dictionary_symbols,
    write_dictionary,
)

LINES = ["B A |", "C A | B", "Z"]  # A 2, B 2, | 2, C 1, Z 1; first seen: B, A, |, C, Z


def test_ties_by_symbol_depend_only_on_the_counts():
    expected = [("A", 2), ("B", 2), ("|", 2), ("C", 1), ("Z", 1)]
    assert count_symbols(LINES) == expected
    assert count_symbols(list(reversed(LINES)), ties="symbol") == expected


def test_ties_by_first_appearance_are_counter_most_common():
    assert count_symbols(LINES, ties="first_seen") == [("B", 2), ("A", 2), ("|", 2), ("C", 1), ("Z", 1)]
    counter = Counter()
    for line in LINES:
        counter.update(line.strip().split())
    assert count_symbols(LINES, ties="first_seen") == counter.most_common()


def test_symbols_of_the_other_splits_get_count_zero():
    entries = count_symbols(["A B A"], zero_count_lines=["Q A", "P"])
    assert entries == [("A", 2), ("B", 1), ("P", 0), ("Q", 0)]
    assert count_symbols(["A B A"], ["Q A", "P"], ties="first_seen")[-2:] == [("Q", 0), ("P", 0)]


def test_unknown_tie_order_is_refused():
    with pytest.raises(ValueError, match="tie order 'alphabetical'"):
        count_symbols(LINES, ties="alphabetical")


def test_write_and_read_back(tmp_path):
    path = tmp_path / "sub" / "dict.ltr.txt"
    write_dictionary(path, [("|", 3), ("E", 2)])
    assert path.read_text() == "| 3\nE 2\n"
    assert read_dictionary_symbols(path) == ["|", "E"]
    (tmp_path / "flags.txt").write_text("A 5\n\nmadeupword 0 #fairseq:overwrite\n")
    assert read_dictionary_symbols(tmp_path / "flags.txt") == ["A", "madeupword"]


def test_fairseq_letter_dictionary_is_the_released_one(tmp_path):
    write_dictionary(tmp_path / "dict.ltr.txt", FAIRSEQ_LETTER_DICTIONARY)
    lines = (tmp_path / "dict.ltr.txt").read_text().splitlines()
    assert len(lines) == 28 and lines[:3] == ["| 94802", "E 51860", "T 38431"] and lines[-1] == "Z 213"
    counts = [count for _, count in FAIRSEQ_LETTER_DICTIONARY]
    assert counts == sorted(counts, reverse=True)
    assert {symbol for symbol, _ in FAIRSEQ_LETTER_DICTIONARY} == set("ABCDEFGHIJKLMNOPQRSTUVWXYZ'|")
