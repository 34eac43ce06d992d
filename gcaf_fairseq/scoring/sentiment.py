"""Sentiment scores as SLUE-toolkit computes them (``eval_w2v_sentiment.py``).

scikit-learn computes every number, so it matches by construction: macro F1 is
``f1_score(ref, hyp, average="macro") * 100`` with sklearn's default ``labels=None``
(the sorted union of the labels present in the reference or the hypothesis; a class
absent from both does not count), ``zero_division`` at its default (an undefined
precision/recall counts as 0; the warning is silenced). SLUE's ``"micro"`` entry is
sklearn's ``average="weighted"``; we report it as ``weighted_*``.
"""

import warnings
from typing import Dict, Sequence

SLUE_SENTIMENT_CLASSES = ("Negative", "Neutral", "Positive")


def sentiment_scores(refs: Sequence[str], hyps: Sequence[str]) -> Dict[str, object]:
    """Scores aligned label lists (labels are stripped of surrounding whitespace).

    Returns, in percent (unrounded): ``macro_f1``, ``macro_precision``, ``macro_recall``,
    ``weighted_f1``, ``weighted_precision``, ``weighted_recall``, ``accuracy``; ``per_class``
    ``{label: {precision, recall, f1, num_ref, num_hyp, num_correct}}``; ``classes`` (the
    labels scored, sorted) and ``num_utterances``. ``ValueError`` for unequal lengths, no
    utterances or an empty label.
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
