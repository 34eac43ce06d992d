"""GCAF Table 3: ROUGE-1 F between context text and the current utterance's text.

For every utterance with a generation, ROUGE-1 F (Google's ``rouge-score``: lower-cased,
non-alphanumerics as spaces, no stemming unless asked) between the generation and the
utterance's own ground-truth text, averaged over utterances, and the average number of
words (whitespace-separated) of the generations. The row "previous GT text" scores the
previous utterance's ground-truth text the same way, over the utterances that have one.
Utterances with a null generation (no previous utterance) are left out of a row; an
empty generation counts, with F = 0.
"""

from dataclasses import asdict, dataclass
from typing import List, Sequence

from ..data.utterance_table import previous_texts, read_utterance_table
from .generation_file import read_generations


@dataclass(frozen=True)
class RougeRow:
    """One row of the table: what is compared with the current text, the mean ROUGE-1 F,
    the mean number of words, and over how many utterances."""

    row: str
    rouge1_f: float
    average_words: float
    utterances: int


def make_scorer(use_stemmer: bool = False):
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1"], use_stemmer=use_stemmer)


def rouge1_f(target: str, prediction: str, scorer=None) -> float:
    """ROUGE-1 F-measure of ``prediction`` against ``target``."""
    scorer = scorer or make_scorer()
    return scorer.score(target, prediction)["rouge1"].fmeasure


def score_pairs(name: str, pairs: Sequence, scorer) -> RougeRow:
    """A row from ``(current text, context text)`` pairs."""
    if not pairs:
        return RougeRow(name, float("nan"), float("nan"), 0)
    scores = [rouge1_f(current, context, scorer) for current, context in pairs]
    words = [len(context.split()) for _, context in pairs]
    return RougeRow(name, sum(scores) / len(scores), sum(words) / len(words), len(pairs))


def rouge_table(generation_paths: Sequence, utterances_path, use_stemmer: bool = False) -> List[RougeRow]:
    """The "previous GT text" row, then one row per generation file (named after its prompt)."""
    rows = read_utterance_table(utterances_path)
    text_of_id = {row["id"]: row["text"] for row in rows}
    scorer = make_scorer(use_stemmer)
    records, _ = previous_texts(rows)
    previous_pairs = [(text_of_id[record["id"]], record["text"]) for record in records if record["text"].strip()]
    table = [score_pairs("previous GT text", previous_pairs, scorer)]
    for path in generation_paths:
        generations = read_generations(path)
        pairs = []
        for record, line_number in zip(generations.records, generations.line_numbers):
            if record["generation"] is None:
                continue
            if record["id"] not in text_of_id:
                raise ValueError(f"{path}:{line_number}: id {record['id']!r} is not in {utterances_path}")
            pairs.append((text_of_id[record["id"]], record["generation"]))
        settings = generations.header["settings"]
        name = f"generated with {settings['prompt_id']} ({settings['backend']['model']})"
        table.append(score_pairs(name, pairs, scorer))
    return table


def format_table(table: Sequence[RougeRow]) -> str:
    """Markdown, as GCAF Table 3."""
    lines = ["| current GT text vs. | ROUGE-1 (F) | average # words | utterances |", "|---|---|---|---|"]
    lines += [f"| {row.row} | {row.rouge1_f:.2f} | {row.average_words:.1f} | {row.utterances} |" for row in table]
    return "\n".join(lines)


def table_as_dicts(table: Sequence[RougeRow]) -> List[dict]:
    """The rows as dicts; an empty row's means are None (JSON has no NaN)."""
    return [{key: None if value != value else value for key, value in asdict(row).items()} for row in table]
