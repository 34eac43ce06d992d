"""Corpus-level word and character error rates, computed as SLUE-toolkit / fairseq do.

WER = (sum over utterances of the word-level Levenshtein distance) * 100.0 / (total
number of reference words). Words are ``text.split()`` (any run of whitespace separates
words; no case folding or punctuation removal), the distance is ``editdistance.eval``:
exactly ``slue_toolkit/eval/infer_asr.py`` (``errs_t * 100.0 / lengths_t``, the value it
logs as ``WER:``) and ``eval_utils.get_wer`` (the same ratio, as a fraction).

CER (SLUE-toolkit has none; our definition): the same over characters of the words
joined by single spaces, ``" ".join(text.split())``, so a word boundary counts as one
character (like fairseq's letter-unit error rate, where ``|`` is a unit), and leading,
trailing or repeated whitespace does not. With no reference words (characters) the rate
is ``None``, as ``infer_asr`` leaves its WER unset.
"""

from typing import Dict, Optional, Sequence

import editdistance


def _rate(errors: int, total: int) -> Optional[float]:
    return errors * 100.0 / total if total > 0 else None


def corpus_wer(refs: Sequence[str], hyps: Sequence[str]) -> Dict[str, object]:
    """Scores aligned ``refs``/``hyps`` (equal length, else ``ValueError``).

    Returns ``wer`` and ``cer`` in percent (unrounded floats, ``None`` without reference
    words/characters) and the counts: ``num_utterances``, ``num_ref_words``,
    ``num_hyp_words``, ``num_word_errors``, ``num_ref_chars``, ``num_char_errors``,
    ``num_sentence_errors`` (utterances whose word sequence differs).
    """
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    n_words = n_hyp_words = n_word_errors = n_chars = n_char_errors = n_sentence_errors = 0
    for ref, hyp in zip(refs, hyps):
        ref_words, hyp_words = ref.split(), hyp.split()
        errors = editdistance.eval(ref_words, hyp_words)
        n_word_errors += errors
        n_words += len(ref_words)
        n_hyp_words += len(hyp_words)
        n_sentence_errors += int(ref_words != hyp_words)
        ref_chars, hyp_chars = " ".join(ref_words), " ".join(hyp_words)
        n_char_errors += editdistance.eval(list(ref_chars), list(hyp_chars))
        n_chars += len(ref_chars)
    return {
        "wer": _rate(n_word_errors, n_words),
        "cer": _rate(n_char_errors, n_chars),
        "num_utterances": len(refs),
        "num_ref_words": n_words,
        "num_hyp_words": n_hyp_words,
        "num_word_errors": n_word_errors,
        "num_ref_chars": n_chars,
        "num_char_errors": n_char_errors,
        "num_sentence_errors": n_sentence_errors,
    }
