"""End-to-end NER labels of SLUE-VoxPopuli: tag characters written into the words.

One source of truth for the tag tables (the scoring code parses decoded words with the
same tables) and for the text rules of SLUE-toolkit's ``prepare_voxpopuli.py``:

* NER spans ``[[TAG, char_start, char_len], ...]`` index the *normalized* text.
* Label text drops ``. , ! ? ;`` and splits apostrophes: ``won't`` -> ``won 't``,
  ``council's`` -> ``council 's``, ``o'clock`` -> ``o 'clock``; a trailing ``'`` is dropped
  and a word that is only ``'s`` stays whole.
* An entity is written ``START_CHAR word ... ]``. ``raw`` labels use one start character
  per OntoNotes tag (18); ``combined`` labels map the raw tags to 7 and leave the words of
  discarded tags (FAC, EVENT, WORK_OF_ART, PRODUCT, LANGUAGE) as plain words.
* ``.wrd`` lines are the labelled words joined by spaces; ``.ltr`` lines their characters
  separated by spaces, ``|`` for spaces, and a final ``|``:
  ``in & article twenty one ] in`` -> ``i n | & | a r t i c l e | ... | ] | i n |``.

Example (raw labels)::

    >>> e2e_ner_labels("the council's plan for paris.", [("ORG", 0, 13), ("GPE", 23, 5)], "raw")[1]
    "` the council 's ] plan for % paris ]"
"""

import ast
from typing import Dict, List, Sequence, Tuple

from ..data.letters import letters_line

END_CHAR = "]"

RAW_TAG_START_CHARS: Dict[str, str] = {
    "CARDINAL": "!",
    "DATE": "@",
    "EVENT": "#",
    "FAC": "$",
    "GPE": "%",
    "LANGUAGE": "^",
    "LAW": "&",
    "LOC": "*",
    "MONEY": "(",
    "NORP": ")",
    "ORDINAL": "~",
    "ORG": "`",
    "PERCENT": "{",
    "PERSON": "}",
    "PRODUCT": "[",
    "QUANTITY": "<",
    "TIME": ">",
    "WORK_OF_ART": "?",
}

COMBINED_TAG_START_CHARS: Dict[str, str] = {
    "LAW": "!",
    "NORP": "@",
    "ORG": "#",
    "PERSON": "$",
    "PLACE": "%",
    "QUANT": "^",
    "WHEN": "&",
}

# Raw tags absent from this map are discarded by the combined labels.
COMBINED_TAG_OF_RAW_TAG: Dict[str, str] = {
    "DATE": "WHEN",
    "TIME": "WHEN",
    "CARDINAL": "QUANT",
    "ORDINAL": "QUANT",
    "QUANTITY": "QUANT",
    "MONEY": "QUANT",
    "PERCENT": "QUANT",
    "GPE": "PLACE",
    "LOC": "PLACE",
    "NORP": "NORP",
    "ORG": "ORG",
    "LAW": "LAW",
    "PERSON": "PERSON",
}
DISCARDED_RAW_TAGS = frozenset(RAW_TAG_START_CHARS) - frozenset(COMBINED_TAG_OF_RAW_TAG)

LABEL_TYPES = ("raw", "combined")
NER_PUNCTUATION = ".,!?;"
# Non-entity words SLUE-toolkit skips.
SKIPPED_PLAIN_WORDS = ("", "'")

Span = Tuple[str, int, int]  # (tag, char_start, char_len)


def tag_start_chars(label_type: str) -> Dict[str, str]:
    """``{tag: start character}`` of ``label_type`` (``raw`` or ``combined``)."""
    if label_type == "raw":
        return RAW_TAG_START_CHARS
    if label_type == "combined":
        return COMBINED_TAG_START_CHARS
    raise ValueError(f"unknown NER label type {label_type!r}; expected one of {', '.join(LABEL_TYPES)}")


def tag_of_start_char(label_type: str) -> Dict[str, str]:
    """``{start character: tag}`` of ``label_type``: how decoded words are read back."""
    return {char: tag for tag, char in tag_start_chars(label_type).items()}


def parse_ner_spans(value: str) -> List[Span]:
    """The raw spans of a ``normalized_ner`` field: ``"[['LAW', 86, 18], ['ORG', 110, 25]]"``
    -> ``[("LAW", 86, 18), ("ORG", 110, 25)]``; ``"None"``, ``"[]"`` and ``""`` -> ``[]``.

    Raises ValueError for a field that is not such a list or names an unknown tag.
    """
    value = value.strip()
    if value in ("", "None", "[]"):
        return []
    try:
        items = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise ValueError(f"NER field {value!r} is not a list of [TAG, start, length]") from None
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"NER field {value!r} is not a list of [TAG, start, length]")
    spans = []
    for item in items:
        if (
            not isinstance(item, (list, tuple))
            or len(item) != 3
            or not isinstance(item[0], str)
            or not all(isinstance(number, int) and not isinstance(number, bool) for number in item[1:])
        ):
            raise ValueError(f"NER span {item!r} is not [TAG, start, length]")
        tag, start, length = item
        if tag not in RAW_TAG_START_CHARS:
            raise ValueError(f"unknown NER tag {tag!r}; known tags: {', '.join(RAW_TAG_START_CHARS)}")
        if start < 0 or length <= 0:
            raise ValueError(f"NER span {item!r} has a negative start or a non-positive length")
        spans.append((tag, start, length))
    return spans


def spans_of_label_type(raw_spans: Sequence[Span], label_type: str) -> List[Span]:
    """The spans a label type writes: raw spans as they are, or combined tags without the
    discarded ones."""
    tag_start_chars(label_type)
    if label_type == "raw":
        return list(raw_spans)
    return [
        (COMBINED_TAG_OF_RAW_TAG[tag], start, length)
        for tag, start, length in raw_spans
        if tag in COMBINED_TAG_OF_RAW_TAG
    ]


def strip_ner_punctuation(text: str) -> str:
    """Drop ``. , ! ? ;`` and turn each double space this leaves into one space."""
    for mark in NER_PUNCTUATION:
        text = text.replace(mark, "")
    return text.replace("  ", " ")


def split_apostrophes(word: str) -> List[str]:
    """``won't`` -> ``[won, 't]``, ``o'clock`` -> ``[o, 'clock]``, ``members'`` -> ``[members]``,
    ``'s`` -> ``['s]``: a trailing apostrophe is dropped, then the word is cut at its
    apostrophes and the last piece keeps one. Empty pieces are left out."""
    if word.endswith("'"):
        word = word[:-1]
    if "'" in word and word != "'s":
        pieces = word.split("'")
        pieces[-1] = "'" + pieces[-1]
    else:
        pieces = [word]
    return [piece for piece in pieces if piece]


def _plain_words(segment: str) -> List[str]:
    segment = strip_ner_punctuation(segment).strip()
    words = []
    for word in segment.split(" "):
        if word not in SKIPPED_PLAIN_WORDS:
            words.extend(split_apostrophes(word))
    return words


def _entity_words(text: str, tag: str, start: int, end: int) -> List[str]:
    phrase = text[start:end]
    where = f"{tag} span [{start}, {end}) {phrase!r}"
    if phrase != phrase.strip():
        raise ValueError(f"{where} starts or ends with a space")
    phrase = strip_ner_punctuation(phrase)
    if phrase != phrase.strip():
        raise ValueError(f"{where} starts or ends with a space once punctuation is removed")
    words = [piece for word in phrase.split(" ") for piece in split_apostrophes(word)]
    if not words:
        raise ValueError(f"{where} has no word once punctuation is removed")
    return words


def word_tags(normalized_text: str, spans: Sequence[Span]) -> List[Tuple[str, str]]:
    """The words of the label text with BIO tags: ``[(word, "O" | "B-TAG" | "I-TAG"), ...]``.

    ``spans`` are (tag, char_start, char_len) over ``normalized_text`` (already mapped to
    the label type). Text between entities and inside them follows the rules of the module
    docstring. Raises ValueError for spans that overlap, leave the text, or start or end
    with a space.
    """
    pieces = []
    cursor = 0
    for tag, start, length in sorted(spans, key=lambda span: span[1]):
        end = start + length
        if start < cursor:
            raise ValueError(f"{tag} span [{start}, {end}) overlaps the previous span")
        if end > len(normalized_text):
            raise ValueError(f"{tag} span [{start}, {end}) ends after the text ({len(normalized_text)} characters)")
        pieces.extend((word, "O") for word in _plain_words(normalized_text[cursor:start]))
        entity_words = _entity_words(normalized_text, tag, start, end)
        pieces.append((entity_words[0], f"B-{tag}"))
        pieces.extend((word, f"I-{tag}") for word in entity_words[1:])
        cursor = end
    pieces.extend((word, "O") for word in _plain_words(normalized_text[cursor:]))
    return pieces


def e2e_ner_words(tagged_words: Sequence[Tuple[str, str]], label_type: str) -> str:
    """The ``.wrd`` line of BIO-tagged words: each entity becomes ``START_CHAR words ]``."""
    start_chars = tag_start_chars(label_type)
    words = []
    entity_open = False
    for word, bio_tag in tagged_words:
        if bio_tag.startswith("B-"):
            if entity_open:
                words.append(END_CHAR)
            words.append(start_chars[bio_tag[2:]])
            entity_open = True
        elif bio_tag == "O" and entity_open:
            words.append(END_CHAR)
            entity_open = False
        words.append(word)
    if entity_open:
        words.append(END_CHAR)
    return " ".join(words)


def e2e_ner_letters(wrd_line: str) -> str:
    """The ``.ltr`` line of a ``.wrd`` line: characters separated by spaces, ``|`` for
    each space, and a final ``|`` (``a ] b`` -> ``a | ] | b |``): :func:`letters_line`."""
    return letters_line(wrd_line, final_boundary=True)


def e2e_ner_labels(
    normalized_text: str, raw_spans: Sequence[Span], label_type: str
) -> Tuple[List[Tuple[str, str]], str, str]:
    """All labels of one utterance for ``label_type``: ``(word_tags, wrd_line, ltr_line)``.

    ``word_tags`` is what SLUE-toolkit's ``nlp_ner`` tsv lists (one ``word<TAB>tag`` line
    each), ``wrd_line`` and ``ltr_line`` the end-to-end ``.wrd`` / ``.ltr`` lines.
    Raises ValueError for empty text or malformed spans (see :func:`word_tags`).
    """
    tagged_words = word_tags(normalized_text, spans_of_label_type(raw_spans, label_type))
    if not tagged_words:
        raise ValueError(f"no word left in {normalized_text!r} once punctuation is removed")
    wrd_line = e2e_ner_words(tagged_words, label_type)
    return tagged_words, wrd_line, e2e_ner_letters(wrd_line)
