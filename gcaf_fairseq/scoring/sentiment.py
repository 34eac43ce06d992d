"""Sentiment scores as SLUE-toolkit computes them (``eval_w2v_sentiment.py``).

scikit-learn computes every number, so it matches by construction: macro F1 is
``f1_score(ref, hyp, average="macro") * 100`` with sklearn's default ``labels=None``
(the sorted union of the labels present in the reference or the hypothesis; a class
absent from both does not count), ``zero_division`` at its default (an undefined
precision/recall counts as 0; the warning is silenced). SLUE's ``"micro"`` entry is
sklearn's ``average="weighted"``; we report it as ``weighted_*``.

A label that is a near miss of a SLUE class (``positive``, ``Neu tral``, ``Positve``), or
two labels that differ only in case, are an error naming the file and line: scored as they
are, they would make a class of their own and a plausible but wrong F1.
"""

import warnings
from typing import Dict, Optional, Sequence

from ..data.label_near_miss import near_miss

SLUE_SENTIMENT_CLASSES = ("Negative", "Neutral", "Positive")


def check_label_names(
    labels: Sequence[str], side: str, where: Optional[Sequence[str]] = None, spellings: Optional[dict] = None
) -> None:
    """Refuse a label (already stripped) that is a near miss of a SLUE class or differs
    only in case from another label (of ``labels`` or, across calls, of ``spellings``:
    ``{casefolded: first spelling}``); ``where`` gives each label's ``path:line`` for the
    message (else its 1-based utterance number)."""
    first_spelling = spellings if spellings is not None else {}
    for index, label in enumerate(labels):
        place = where[index] if where is not None else f"utterance {index + 1}"
        near = near_miss(label, SLUE_SENTIMENT_CLASSES)
        if near is not None:
            raise ValueError(
                f"{side} {place}: label {label!r} looks like the SLUE class {near!r} (case, white space or a "
                "typo): fix the label"
            )
        other = first_spelling.setdefault(label.casefold(), label)
        if other != label:
            raise ValueError(
                f"{side} {place}: label {label!r} differs from the label {other!r} only in case: use one spelling"
            )


def sentiment_scores(
    refs: Sequence[str],
    hyps: Sequence[str],
    ref_where: Optional[Sequence[str]] = None,
    hyp_where: Optional[Sequence[str]] = None,
) -> Dict[str, object]:
    """Scores aligned label lists (labels are stripped of surrounding whitespace).

    Returns, in percent (unrounded): ``macro_f1``, ``macro_precision``, ``macro_recall``,
    ``weighted_f1``, ``weighted_precision``, ``weighted_recall``, ``accuracy``; ``per_class``
    ``{label: {precision, recall, f1, num_ref, num_hyp, num_correct}}``; ``classes`` (the
    labels scored, sorted) and ``num_utterances``. ``ValueError`` for unequal lengths, no
    utterances, an empty label or a near miss of a class name (:func:`check_label_names`;
    ``ref_where`` / ``hyp_where``, each label's ``path:line``, name it in the message).
    """
    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} reference labels but {len(hyps)} hypothesis labels")
    if not refs:
        raise ValueError("no utterances to score")
    refs = [label.strip() for label in refs]
    hyps = [label.strip() for label in hyps]
    for name, labels in (("reference", refs), ("hypothesis", hyps)):
        if "" in labels:
            raise ValueError(f"empty {name} label at utterance {labels.index('') + 1}")
    spellings: Dict[str, str] = {}
    check_label_names(refs, "reference", ref_where, spellings)
    check_label_names(hyps, "hypothesis", hyp_where, spellings)
    classes = sorted(set(refs) | set(hyps))

    result: Dict[str, object] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for average in ("macro", "weighted"):
            precision, recall, f1, _ = precision_recall_fscore_support(refs, hyps, average=average)
            result[f"{average}_f1"] = float(f1) * 100
            result[f"{average}_precision"] = float(precision) * 100
            result[f"{average}_recall"] = float(recall) * 100
        precision, recall, f1, support = precision_recall_fscore_support(refs, hyps, labels=classes, average=None)
    result["accuracy"] = float(accuracy_score(refs, hyps)) * 100
    per_class = {}
    for k, label in enumerate(classes):
        per_class[label] = {
            "precision": float(precision[k]) * 100,
            "recall": float(recall[k]) * 100,
            "f1": float(f1[k]) * 100,
            "num_ref": int(support[k]),
            "num_hyp": sum(1 for h in hyps if h == label),
            "num_correct": sum(1 for r, h in zip(refs, hyps) if r == h == label),
        }
    result["per_class"] = per_class
    result["classes"] = classes
    result["num_utterances"] = len(refs)
    return result
