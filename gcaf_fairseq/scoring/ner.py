"""End-to-end NER scores exactly as SLUE-toolkit computes them.

Reproduces ``slue_toolkit/eval/eval_w2v_ner.py`` (``get_gt_pred``, ``make_distinct``)
and ``slue_toolkit/eval/eval_utils.py`` (``get_ner_scores``, ``get_ner_stats``,
``get_metrics``), number for number:

* **Words.** The line is stripped, each pair of spaces is replaced once by one space
  (``str.replace("  ", " ")``, not a full squeeze) and the result is split on single
  spaces. A word is a tag character only if it *is* that character: ``& article`` opens
  an entity, ``&article`` is a plain word.
* **Parsing, left to right.** A start character opens an entity (an entity already open
  is abandoned, its words dropped); ``]`` closes the open entity and gives
  ``(tag, phrase)`` with the phrase its words joined by one space; ``]`` right after the
  start character (no words) gives nothing; a stray ``]`` (nothing open) is ignored; an
  entity still open at the end of the line is abandoned; words outside entities are
  ignored.
* **Tags.** Decoded words are read with the raw table (18 OntoNotes start characters,
  ``gcaf_fairseq.prep.ner_labels``), as SLUE-toolkit does. ``tags="combined"`` maps each
  closed raw entity to its combined tag (WHEN, QUANT, PLACE, NORP, ORG, LAW, PERSON) and
  drops FAC, EVENT, WORK_OF_ART, PRODUCT and LANGUAGE entities (they are still parsed:
  their ``]`` closes them). ``tags="raw"`` keeps the 18 tags. ``chars="combined"`` (our
  extension) reads files written with the combined start characters instead.
* **Occurrences.** Repeated identical pairs in one sentence are numbered 1, 2, ... in
  order (``make_distinct``), so each counts separately.
* **Scores.** Per sentence and tag: ``tp = |ref & hyp|``, ``num_hyp = |hyp|``,
  ``num_ref = |ref|`` over the numbered items; summed over sentences (and tags for the
  micro average): ``precision = tp / num_hyp``, ``recall = tp / num_ref`` (0 when the
  denominator is 0), ``F1 = 2 * precision * recall / (precision + recall)`` (0 when both
  are 0). ``label`` scores replace every phrase by the same placeholder (tag and
  occurrence number only). Percent = ``100 * fraction``, the value SLUE-toolkit prints as
  ``%.1f``; we do not round. ``tag_macro_f1`` is SLUE's ``overall_macro`` F1 (mean of the
  per-tag F1 over the tags seen, in SLUE's order).
"""

from collections import Counter, defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

from ..prep.ner_labels import (
    COMBINED_TAG_OF_RAW_TAG,
    COMBINED_TAG_START_CHARS,
    DISCARDED_RAW_TAGS,
    END_CHAR,
    RAW_TAG_START_CHARS,
    tag_of_start_char,
)

TAG_SETS = ("combined", "raw")
CHAR_TABLES = ("raw", "combined")
#: The phrase every entity gets in ``label`` scoring (SLUE-toolkit uses the same string).
LABEL_PHRASE = "phrase"

Entity = Tuple[str, str]  # (tag, phrase)
NumberedEntity = Tuple[str, str, int]  # (tag, phrase, occurrence number from 1)

PARSE_COUNTERS = ("entities", "abandoned", "unclosed", "empty", "stray_end", "discarded")


def _check_options(tags: str, chars: str) -> None:
    if tags not in TAG_SETS:
        raise ValueError(f"unknown NER tag set {tags!r}; expected one of {TAG_SETS}")
    if chars not in CHAR_TABLES:
        raise ValueError(f"unknown NER character table {chars!r}; expected one of {CHAR_TABLES}")
    if chars == "combined" and tags == "raw":
        raise ValueError("files written with the combined start characters cannot be scored with --tags raw")


def ner_words(line: str) -> List[str]:
    """SLUE-toolkit's words of a decoded line: strip, replace ``"  "`` by ``" "`` once,
    split on ``" "`` (empty words may remain, as they do there)."""
    return line.strip().replace("  ", " ").split(" ")


def parse_entities(
    line: str,
    tags: str = "combined",
    chars: str = "raw",
    label_only: bool = False,
    counts: Optional[Counter] = None,
) -> List[Entity]:
    """The ``(tag, phrase)`` pairs of one decoded line in order (see the module docstring).

    ``label_only`` replaces each phrase by :data:`LABEL_PHRASE`. ``counts``, if given, is
    updated with :data:`PARSE_COUNTERS`: ``entities`` kept, ``abandoned`` (a start inside
    an open entity), ``unclosed`` (open at the end), ``empty`` (``]`` with no words),
    ``stray_end`` (``]`` with nothing open), ``discarded`` (closed, but a discarded tag).
    """
    _check_options(tags, chars)
    char_to_tag = tag_of_start_char(chars)
    entities: List[Entity] = []
    if counts is None:
        counts = Counter()
    phrase_words: List[str] = []
    open_tag: Optional[str] = None
    for word in ner_words(line):
        if word in char_to_tag:
            if open_tag is not None:
                counts["abandoned"] += 1
                phrase_words = []
            open_tag = char_to_tag[word]
        elif word == END_CHAR:
            if open_tag is None:
                counts["stray_end"] += 1
                continue
            if phrase_words:
                tag = open_tag
                if tags == "combined" and chars == "raw":
                    tag = COMBINED_TAG_OF_RAW_TAG.get(tag)
                if tag is None:
                    counts["discarded"] += 1
                else:
                    counts["entities"] += 1
                    entities.append((tag, LABEL_PHRASE if label_only else " ".join(phrase_words)))
            else:
                counts["empty"] += 1
            phrase_words = []
            open_tag = None
        elif open_tag is not None:
            phrase_words.append(word)
    if open_tag is not None:
        counts["unclosed"] += 1
    return entities


def make_distinct(entities: Sequence[Entity]) -> List[NumberedEntity]:
    """Number repeated pairs: ``[(GPE, eu), (DATE, today), (GPE, eu)]`` ->
    ``[(GPE, eu, 1), (DATE, today, 1), (GPE, eu, 2)]``."""
    seen: Counter = Counter()
    numbered = []
    for entity in entities:
        seen[entity] += 1
        numbered.append((entity[0], entity[1], seen[entity]))
    return numbered


def _prf(num_correct: int, num_ref: int, num_hyp: int) -> Tuple[float, float, float]:
    """SLUE-toolkit's ``get_metrics`` (fractions, same float operations)."""
    precision = num_correct / num_hyp if num_hyp != 0 else num_correct / 1
    recall = num_correct / num_ref if num_ref != 0 else num_correct / 1
    denominator = precision + recall
    numerator = 2 * precision * recall
    fscore = numerator / denominator if denominator != 0.0 else numerator / 1
    return float(precision), float(recall), float(fscore)


def tag_stats(
    ref_entities: Sequence[Sequence[NumberedEntity]], hyp_entities: Sequence[Sequence[NumberedEntity]]
) -> Dict[str, Dict[str, int]]:
    """``{tag: {tp, num_ref, num_hyp}}`` summed over sentences from per-sentence set
    intersections; tags in SLUE's order (first sentence they appear in, sorted within it)."""
    if len(ref_entities) != len(hyp_entities):
        raise ValueError(f"{len(ref_entities)} reference sentences but {len(hyp_entities)} hypothesis sentences")
    stats: Dict[str, Dict[str, int]] = {}
    for ref, hyp in zip(ref_entities, hyp_entities):
        true_by_tag, pred_by_tag = defaultdict(set), defaultdict(set)
        for tag, phrase, occurrence in ref:
            true_by_tag[tag].add((phrase, occurrence))
        for tag, phrase, occurrence in hyp:
            pred_by_tag[tag].add((phrase, occurrence))
        for tag in sorted(set(true_by_tag) | set(pred_by_tag)):
            true, pred = true_by_tag.get(tag, set()), pred_by_tag.get(tag, set())
            entry = stats.setdefault(tag, {"tp": 0, "num_ref": 0, "num_hyp": 0})
            entry["tp"] += len(true & pred)
            entry["num_ref"] += len(true)
            entry["num_hyp"] += len(pred)
    return stats


def entity_scores(
    ref_entities: Sequence[Sequence[NumberedEntity]], hyp_entities: Sequence[Sequence[NumberedEntity]]
) -> Dict[str, object]:
    """SLUE-toolkit's ``get_ner_scores`` on numbered entities, in percent: ``f1``,
    ``precision``, ``recall``, ``tag_macro_f1`` (``None`` without any entity),
    ``num_correct``, ``num_ref_entities``, ``num_hyp_entities`` and ``per_tag``
    ``{tag: {precision, recall, f1, num_correct, num_ref, num_hyp}}``."""
    import numpy as np

    stats = tag_stats(ref_entities, hyp_entities)
    per_tag = {}
    tag_f1 = []
    num_correct = num_ref = num_hyp = 0
    for tag, entry in stats.items():
        precision, recall, fscore = _prf(entry["tp"], entry["num_ref"], entry["num_hyp"])
        per_tag[tag] = {
            "precision": 100 * precision,
            "recall": 100 * recall,
            "f1": 100 * fscore,
            "num_correct": entry["tp"],
            "num_ref": entry["num_ref"],
            "num_hyp": entry["num_hyp"],
        }
        tag_f1.append(fscore)
        num_correct += entry["tp"]
        num_ref += entry["num_ref"]
        num_hyp += entry["num_hyp"]
    precision, recall, fscore = _prf(num_correct, num_ref, num_hyp)
    return {
        "f1": 100 * fscore,
        "precision": 100 * precision,
        "recall": 100 * recall,
        "tag_macro_f1": 100 * float(np.mean(tag_f1)) if tag_f1 else None,
        "num_correct": num_correct,
        "num_ref_entities": num_ref,
        "num_hyp_entities": num_hyp,
        "per_tag": per_tag,
    }


def ner_scores(refs: Sequence[str], hyps: Sequence[str], tags: str = "combined", chars: str = "raw") -> Dict[str, object]:
    """F1 and label-F1 of aligned decoded lines (see the module docstring).

    Returns, in percent (unrounded floats): ``f1``, ``precision``, ``recall``,
    ``tag_macro_f1``, ``label_f1``, ``label_precision``, ``label_recall``,
    ``label_tag_macro_f1``; the counts ``num_sentences``, ``num_ref_entities``,
    ``num_hyp_entities``, ``num_correct``, ``label_num_correct``; ``per_tag``
    ``{tag: {precision, recall, f1, label_precision, label_recall, label_f1, num_ref,
    num_hyp, num_correct, label_num_correct}}``; ``parse`` ``{"ref": counts, "hyp":
    counts}`` (:data:`PARSE_COUNTERS`); and the ``tags``/``chars`` used.
    """
    _check_options(tags, chars)
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} reference lines but {len(hyps)} hypothesis lines")
    parse_counts = {"ref": Counter(), "hyp": Counter()}
    numbered = {}
    for label_only in (False, True):
        for side, lines in (("ref", refs), ("hyp", hyps)):
            counts = parse_counts[side] if not label_only else Counter()
            numbered[side, label_only] = [
                make_distinct(parse_entities(line, tags, chars, label_only, counts)) for line in lines
            ]
    standard = entity_scores(numbered["ref", False], numbered["hyp", False])
    label = entity_scores(numbered["ref", True], numbered["hyp", True])
    per_tag = {}
    for tag, entry in standard["per_tag"].items():
        label_entry = label["per_tag"][tag]
        per_tag[tag] = {
            "precision": entry["precision"],
            "recall": entry["recall"],
            "f1": entry["f1"],
            "label_precision": label_entry["precision"],
            "label_recall": label_entry["recall"],
            "label_f1": label_entry["f1"],
            "num_ref": entry["num_ref"],
            "num_hyp": entry["num_hyp"],
            "num_correct": entry["num_correct"],
            "label_num_correct": label_entry["num_correct"],
        }
    return {
        "tags": tags,
        "chars": chars,
        "f1": standard["f1"],
        "precision": standard["precision"],
        "recall": standard["recall"],
        "tag_macro_f1": standard["tag_macro_f1"],
        "label_f1": label["f1"],
        "label_precision": label["precision"],
        "label_recall": label["recall"],
        "label_tag_macro_f1": label["tag_macro_f1"],
        "num_sentences": len(refs),
        "num_ref_entities": standard["num_ref_entities"],
        "num_hyp_entities": standard["num_hyp_entities"],
        "num_correct": standard["num_correct"],
        "label_num_correct": label["num_correct"],
        "per_tag": per_tag,
        "parse": {side: {name: parse_counts[side][name] for name in PARSE_COUNTERS} for side in ("ref", "hyp")},
    }


__all__ = [
    "CHAR_TABLES",
    "COMBINED_TAG_OF_RAW_TAG",
    "COMBINED_TAG_START_CHARS",
    "DISCARDED_RAW_TAGS",
    "END_CHAR",
    "LABEL_PHRASE",
    "PARSE_COUNTERS",
    "RAW_TAG_START_CHARS",
    "TAG_SETS",
    "entity_scores",
    "make_distinct",
    "ner_scores",
    "ner_words",
    "parse_entities",
    "tag_stats",
]
