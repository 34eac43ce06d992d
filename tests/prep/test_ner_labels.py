"""End-to-end NER label encoding of SLUE-VoxPopuli (gcaf_fairseq.prep.ner_labels)."""

import pytest

from gcaf_fairseq.prep.ner_labels import (
    COMBINED_TAG_OF_RAW_TAG,
    COMBINED_TAG_START_CHARS,
    DISCARDED_RAW_TAGS,
    END_CHAR,
    RAW_TAG_START_CHARS,
    e2e_ner_labels,
    e2e_ner_letters,
    e2e_ner_words,
    parse_ner_spans,
    split_apostrophes,
    strip_ner_punctuation,
    tag_of_start_char,
    tag_start_chars,
    word_tags,
)


def span(text: str, tag: str, phrase: str, occurrence: int = 0) -> list:
    """``[tag, start, length]`` of the ``occurrence``-th ``phrase`` in ``text``."""
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(phrase, start + 1)
    return [tag, start, len(phrase)]


def test_tag_tables_match_data_md():
    assert RAW_TAG_START_CHARS == {
        "CARDINAL": "!", "DATE": "@", "EVENT": "#", "FAC": "$", "GPE": "%", "LANGUAGE": "^", "LAW": "&",
        "LOC": "*", "MONEY": "(", "NORP": ")", "ORDINAL": "~", "ORG": "`", "PERCENT": "{", "PERSON": "}",
        "PRODUCT": "[", "QUANTITY": "<", "TIME": ">", "WORK_OF_ART": "?",
    }
    assert COMBINED_TAG_START_CHARS == {
        "LAW": "!", "NORP": "@", "ORG": "#", "PERSON": "$", "PLACE": "%", "QUANT": "^", "WHEN": "&",
    }
    assert DISCARDED_RAW_TAGS == {"FAC", "EVENT", "WORK_OF_ART", "PRODUCT", "LANGUAGE"}
    assert set(COMBINED_TAG_OF_RAW_TAG.values()) == set(COMBINED_TAG_START_CHARS)
    # 18 start characters + the shared end character: 19 distinct extra symbols.
    assert len(set(RAW_TAG_START_CHARS.values()) | {END_CHAR}) == 19
    assert len(set(COMBINED_TAG_START_CHARS.values()) | {END_CHAR}) == 8
    assert tag_of_start_char("raw")["`"] == "ORG" and tag_of_start_char("combined")["%"] == "PLACE"
    with pytest.raises(ValueError, match="unknown NER label type"):
        tag_start_chars("fine")


@pytest.mark.parametrize(
    "word, pieces",
    [
        ("won't", ["won", "'t"]),
        ("council's", ["council", "'s"]),
        ("o'clock", ["o", "'clock"]),
        ("members'", ["members"]),
        ("'s", ["'s"]),
        ("rock'n'roll", ["rock", "n", "'roll"]),
        ("plain", ["plain"]),
        ("'tis", ["'tis"]),
    ],
)
def test_split_apostrophes(word, pieces):
    assert split_apostrophes(word) == pieces


def test_ner_punctuation_is_dot_comma_bang_question_semicolon():
    assert strip_ner_punctuation("yes, no. why? stop! so; a-b: c") == "yes no why stop so a-b: c"


def test_parse_ner_spans():
    assert parse_ner_spans("[['LAW', 86, 18], ['ORG', 110, 25]]") == [("LAW", 86, 18), ("ORG", 110, 25)]
    assert parse_ner_spans("None") == [] and parse_ner_spans("[]") == [] and parse_ner_spans("") == []
    with pytest.raises(ValueError, match="unknown NER tag 'COUNTRY'"):
        parse_ner_spans("[['COUNTRY', 0, 3]]")
    with pytest.raises(ValueError, match="is not a list"):
        parse_ner_spans("[['ORG', 0, 3]")
    with pytest.raises(ValueError, match="is not \\[TAG, start, length\\]"):
        parse_ner_spans("[['ORG', 0]]")
    with pytest.raises(ValueError, match="non-positive length"):
        parse_ner_spans("[['ORG', 3, 0]]")


def test_data_md_example():
    text = "as laid down in article twenty one in the treaty"
    _, wrd, ltr = e2e_ner_labels(text, [tuple(span(text, "LAW", "article twenty one"))], "raw")
    assert wrd == "as laid down in & article twenty one ] in the treaty"
    assert ltr.startswith("a s | l a i d | d o w n | i n | & | a r t i c l e |") and ltr.endswith("t r e a t y |")


def test_entities_at_start_adjacent_inside_and_at_the_end():
    text = "yesterday germany's chancellor merkel spoke for ten minutes, about the schengen agreement?"
    spans = parse_ner_spans(str([
        span(text, "DATE", "yesterday"),
        span(text, "GPE", "germany's"),
        span(text, "PERSON", "merkel"),
        span(text, "QUANTITY", "ten minutes"),
        span(text, "LAW", "schengen agreement"),
    ]))
    tagged, wrd, ltr = e2e_ner_labels(text, spans, "raw")
    assert wrd == (
        "@ yesterday ] % germany 's ] chancellor } merkel ] spoke for < ten minutes ] about the & schengen agreement ]"
    )
    assert ltr == " ".join(wrd.replace(" ", "|")) + " |"
    assert ltr.endswith("a g r e e m e n t | ] |")
    assert tagged[:5] == [
        ("yesterday", "B-DATE"), ("germany", "B-GPE"), ("'s", "I-GPE"), ("chancellor", "O"), ("merkel", "B-PERSON"),
    ]
    _, combined_wrd, _ = e2e_ner_labels(text, spans, "combined")
    assert combined_wrd == (
        "& yesterday ] % germany 's ] chancellor $ merkel ] spoke for ^ ten minutes ] about the ! schengen agreement ]"
    )


def test_discarded_tags_stay_plain_words_in_combined_labels():
    text = "european parliament members met in the louise weiss building in strasbourg, they won't wait."
    spans = parse_ner_spans(str([
        span(text, "ORG", "european parliament"),
        span(text, "FAC", "the louise weiss building"),
        span(text, "GPE", "strasbourg"),
    ]))
    assert e2e_ner_labels(text, spans, "raw")[1] == (
        "` european parliament ] members met in $ the louise weiss building ] in % strasbourg ] they won 't wait"
    )
    assert e2e_ner_labels(text, spans, "combined")[1] == (
        "# european parliament ] members met in the louise weiss building in % strasbourg ] they won 't wait"
    )


def test_entity_words_lose_punctuation_and_split_apostrophes():
    text = "at eight o'clock, the u.s. members' vote was clear; no."
    spans = parse_ner_spans(str([span(text, "TIME", "eight o'clock"), span(text, "GPE", "u.s.")]))
    assert e2e_ner_labels(text, spans, "raw")[1] == "at > eight o 'clock ] the % us ] members vote was clear no"


def test_repeated_phrase_and_same_tag_twice_in_a_row():
    text = "france and france france"
    spans = parse_ner_spans(str([span(text, "GPE", "france", 1), span(text, "GPE", "france", 2)]))
    assert e2e_ner_labels(text, spans, "raw")[1] == "france and % france ] % france ]"


def test_spans_given_out_of_order_are_placed_by_offset():
    text = "paris and rome"
    spans = [tuple(span(text, "GPE", "rome")), tuple(span(text, "GPE", "paris"))]
    assert e2e_ner_labels(text, spans, "raw")[1] == "% paris ] and % rome ]"


def test_text_without_entities():
    assert e2e_ner_labels("thank you, mister president.", [], "raw")[1:] == (
        "thank you mister president",
        "t h a n k | y o u | m i s t e r | p r e s i d e n t |",
    )


@pytest.mark.parametrize(
    "spans, message",
    [
        ([("GPE", 0, 5), ("GPE", 3, 4)], "overlaps the previous span"),
        ([("GPE", 10, 9)], "ends after the text"),
        ([("GPE", 5, 5)], "starts or ends with a space"),
        ([("GPE", 0, 7)], "starts or ends with a space once punctuation is removed"),
    ],
)
def test_malformed_spans(spans, message):
    with pytest.raises(ValueError, match=message):
        word_tags("paris ; rome", spans)


def test_empty_text_is_refused():
    with pytest.raises(ValueError, match="no word left"):
        e2e_ner_labels(" . ", [], "raw")


def test_words_and_letters_helpers():
    tagged = [("a", "B-ORG"), ("b", "I-ORG"), ("c", "B-LAW"), ("d", "O")]
    assert e2e_ner_words(tagged, "raw") == "` a b ] & c ] d"
    assert e2e_ner_words(tagged, "combined") == "# a b ] ! c ] d"
    assert e2e_ner_letters("a ] b") == "a | ] | b |"
