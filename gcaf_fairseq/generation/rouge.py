"""GCAF Table 3: ROUGE-1 F between context text and the current utterance's text.

For every utterance with a generation, ROUGE-1 F (Google's ``rouge-score``: lower-cased,
non-alphanumerics as spaces, no stemming unless asked) between the generation and the
utterance's own ground-truth text, averaged over utterances, and the average number of
words (whitespace-separated) of the generations. The row "previous GT text" scores the
previous utterance's ground-truth text the same way, over the utterances that have one.
Utterances with a null generation (no previous utterance) are left out of a row; an
empty generation counts, with F = 0.

A generation file must hold a record for every utterance of the split (``in_split`` rows
of the table): a partial file (an unfinished run, one shard) is an error naming the
counts and the first missing ids, unless ``allow_partial`` is given; then the subset is
scored and a warning says how many utterances it leaves out.
"""

import logging
from dataclasses import asdict, dataclass
from typing import List, Sequence

from ..data.utterance_table import previous_texts, read_utterance_table
from .generation_file import read_generations

logger = logging.getLogger(__name__)
MAX_LISTED_IDS = 5


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


def check_complete(path, found_ids: set, split_ids: Sequence[str], utterances_path, allow_partial: bool) -> None:
    """Refuse (``ValueError``), or with ``allow_partial`` warn about, a generation file
    without a record for every utterance of the split."""
    missing = [utterance_id for utterance_id in split_ids if utterance_id not in found_ids]
    if not missing:
        return
    shown = ", ".join(missing[:MAX_LISTED_IDS])
    if len(missing) > MAX_LISTED_IDS:
        shown += f", ... ({len(missing) - MAX_LISTED_IDS} more)"
    message = (
        f"{path}: records for {len(split_ids) - len(missing)} of the {len(split_ids)} utterances of "
        f"{utterances_path}; {len(missing)} have none (first: {shown})"
    )
    if not allow_partial:
        raise ValueError(
            f"{message}. Finish the generation run (rerun it: it resumes) or merge its shards "
            "(gcaf-merge-generations), or pass --allow-partial to score the subset"
        )
    logger.warning(f"{message}; scoring the subset (--allow-partial)")


def rouge_table(
    generation_paths: Sequence, utterances_path, use_stemmer: bool = False, allow_partial: bool = False
) -> List[RougeRow]:
    """The "previous GT text" row, then one row per generation file (named after its prompt).
    A generation file that misses utterances of the split is an error unless
    ``allow_partial`` (see the module docstring)."""
    rows = read_utterance_table(utterances_path)
    text_of_id = {row["id"]: row["text"] for row in rows}
    scorer = make_scorer(use_stemmer)
    split_ids = [row["id"] for row in rows if row["in_split"]]
    untexted = [row["id"] for row in rows if row["in_split"] and row["text"] is None]
    if untexted:
        raise ValueError(
            f"{utterances_path}: {len(untexted)} utterance(s) of the split have no text (first: {untexted[0]}); "
            "ROUGE needs the ground-truth texts (a blind test split cannot be scored)"
        )
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
        found_ids = {record["id"] for record in generations.records}
        check_complete(path, found_ids, split_ids, utterances_path, allow_partial)
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
