"""The ``.ltr`` spelling: fairseq's letter targets, one home for every writer.

A ``.ltr`` line spells a ``.wrd`` line (or a lexicon word) one character per token,
tokens separated by single spaces, with :data:`WORD_BOUNDARY` ``|`` for each space::

    HI YOU     -> H I | Y O U |     (final boundary: LibriSpeech, as fairseq's
                                    libri_labels.py writes it; SLUE end-to-end NER)
    HI YOU     -> H I | Y O U       (no final boundary: SLUE ASR, as SLUE-toolkit writes it)
    DON'T      -> D O N ' T |       (a lexicon spelling, :func:`spell`)

Every character is a token, apostrophes and NER marker characters included; text is not
case-folded or cleaned here (that is each dataset's text rule). Written by data
preparation (:mod:`gcaf_fairseq.prep`), the demo corpora (:mod:`gcaf_demo.corpus`) and the
decoding lexicon (:mod:`gcaf_fairseq.data.lexicon`). Pure Python.
"""

from typing import List

WORD_BOUNDARY = "|"


def letters_line(text: str, final_boundary: bool = True) -> str:
    """The ``.ltr`` line of ``text`` (words separated by single spaces): its characters
    separated by spaces, :data:`WORD_BOUNDARY` for each space and, with ``final_boundary``,
    one after the last word: ``"HI YOU"`` -> ``"H I | Y O U |"`` (without:
    ``"H I | Y O U"``). Each space of ``text`` is one boundary, so repeated spaces give
    repeated boundaries, as SLUE-toolkit's and fairseq's scripts write them."""
    letters = " ".join(text.replace(" ", WORD_BOUNDARY))
    return f"{letters} {WORD_BOUNDARY}" if final_boundary else letters


def spell(word: str) -> List[str]:
    """The letter tokens of one word, closed by the boundary (a decoding lexicon's spelling):
    ``"DON'T"`` -> ``["D", "O", "N", "'", "T", "|"]``; ``" ".join`` of it is
    ``letters_line(word)``."""
    return list(word) + [WORD_BOUNDARY]
