"""Scoring as SLUE-toolkit does it: WER/CER, end-to-end NER F1, sentiment macro F1 and the
SLUE score, and homophone swaps (``gcaf-score``). Pure Python (numpy, editdistance, scikit-learn)."""

from .aligned_files import ID_FORMATS, AlignedTexts, AlignmentError, read_aligned, read_lines
from .homophones import homophone_scores
from .ner import make_distinct, ner_scores, parse_entities
from .sentiment import SLUE_SENTIMENT_CLASSES, sentiment_scores
from .slue_score import ResultFileError, read_result, slue_score, slue_score_from_results
from .wer import corpus_wer

__all__ = [
    "ID_FORMATS",
    "AlignedTexts",
    "AlignmentError",
    "ResultFileError",
    "SLUE_SENTIMENT_CLASSES",
    "corpus_wer",
    "homophone_scores",
    "make_distinct",
    "ner_scores",
    "parse_entities",
    "read_aligned",
    "read_lines",
    "read_result",
    "sentiment_scores",
    "slue_score",
    "slue_score_from_results",
]
