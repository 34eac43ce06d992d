"""Homophone error and swap rates, per sentence kind, next to WER and CER.

The targets come from ``{split}.homophones.jsonl`` (``gcaf-make-homophone-corpus``): one
JSON object per utterance, ``{"id", "kind", "targets": [{"word_index", "word", "other"}]}``,
where ``word_index`` indexes the reference's whitespace-split words, ``word`` is the right
spelling and ``other`` the other member of its homophone pair.

For every target, the reference and hypothesis words are aligned by a word-level
Levenshtein alignment (ties between alignments with the same number of word edits are
broken by the smallest total character edit distance, so a misspelled word is aligned to
the word it resembles, not to a neighbour). The target is **correct** when the hypothesis
word aligned to it equals ``word``; otherwise it is a **homophone error** (substituted or
deleted), and a **swap** when the aligned word is ``other``. Rates are percentages of the
targets (``None`` without targets); ``wer``/``cer`` are :func:`scoring.wer.corpus_wer` over
the utterances (every utterance counts, with or without targets). Everything is reported
for all utterances together and per kind (``neutral``, ``topic``).
"""

from typing import Dict, List, Optional, Sequence

import editdistance

from ..data.json_lines import read_json_objects
from .aligned_files import AlignedTexts, AlignmentError
from .wer import corpus_wer

def align_words(reference_words: Sequence[str], hypothesis_words: Sequence[str]) -> List[Optional[int]]:
    """For each reference word, the index of the hypothesis word aligned to it, or
    ``None`` when it is deleted; see the module docstring for the tie-breaking."""
    n_ref, n_hyp = len(reference_words), len(hypothesis_words)
    # cost[i][j]: (word edits, character edits) aligning ref[:i] with hyp[:j].
    cost = [[(0, 0)] * (n_hyp + 1) for _ in range(n_ref + 1)]
    for i in range(1, n_ref + 1):
        cost[i][0] = (i, cost[i - 1][0][1] + len(reference_words[i - 1]))
    for j in range(1, n_hyp + 1):
        cost[0][j] = (j, cost[0][j - 1][1] + len(hypothesis_words[j - 1]))
    for i in range(1, n_ref + 1):
        for j in range(1, n_hyp + 1):
            ref_word, hyp_word = reference_words[i - 1], hypothesis_words[j - 1]
            diagonal = cost[i - 1][j - 1]
            if ref_word != hyp_word:
                diagonal = (diagonal[0] + 1, diagonal[1] + editdistance.eval(ref_word, hyp_word))
            deletion = (cost[i - 1][j][0] + 1, cost[i - 1][j][1] + len(ref_word))
            insertion = (cost[i][j - 1][0] + 1, cost[i][j - 1][1] + len(hyp_word))
            cost[i][j] = min(diagonal, deletion, insertion)
    aligned: List[Optional[int]] = [None] * n_ref
    i, j = n_ref, n_hyp
    while i > 0 and j > 0:
        ref_word, hyp_word = reference_words[i - 1], hypothesis_words[j - 1]
        diagonal = cost[i - 1][j - 1]
        if ref_word != hyp_word:
            diagonal = (diagonal[0] + 1, diagonal[1] + editdistance.eval(ref_word, hyp_word))
        if cost[i][j] == diagonal:
            aligned[i - 1] = j - 1
            i, j = i - 1, j - 1
        elif cost[i][j] == (cost[i - 1][j][0] + 1, cost[i - 1][j][1] + len(ref_word)):
            i -= 1
        else:
            j -= 1
    return aligned


def target_mismatch(reference_words: Sequence[str], target: dict) -> Optional[str]:
    """Why ``target`` does not point at its word in the reference, or None if it does."""
    index = target["word_index"]
    if index >= len(reference_words):
        return f"word_index {index} is past the {len(reference_words)} reference words"
    if reference_words[index] != target["word"]:
        return f"reference word {index} is {reference_words[index]!r}, the target says {target['word']!r}"
    return None


def check_target_row(row: dict) -> Optional[str]:
    """What is malformed in one targets row, or None if nothing is."""
    if not isinstance(row.get("id"), str) or not row["id"]:
        return "expected a non-empty string 'id'"
    if not isinstance(row.get("kind"), str) or not row["kind"]:
        return "expected a non-empty string 'kind'"
    if not isinstance(row.get("targets"), list):
        return "expected a list 'targets'"
    for number, target in enumerate(row["targets"]):
        if not isinstance(target, dict):
            return f"target {number} is not an object"
        index = target.get("word_index")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            return f"target {number}: expected a non-negative integer 'word_index'"
        for field in ("word", "other"):
            if not isinstance(target.get(field), str) or not target[field]:
                return f"target {number}: expected a non-empty string {field!r}"
    return None


def homophone_scores(
    references: Sequence[str], hypotheses: Sequence[str], target_rows: Sequence[dict]
) -> Dict[str, dict]:
    """Scores aligned ``references``/``hypotheses`` with one targets row per utterance.

    Returns ``{"all": scores, "per_kind": {kind: scores}}`` (kinds sorted); ``scores``
    holds ``targets``, ``homophone_errors``, ``swaps``, ``homophone_error_rate``,
    ``swap_rate`` (percent of targets) and everything :func:`corpus_wer` returns (``wer``,
    ``cer`` and counts). Raises ``ValueError`` on a count mismatch, a malformed row or a
    target that does not point at its word in the reference.
    """
    if not len(references) == len(hypotheses) == len(target_rows):
        raise ValueError(
            f"{len(references)} references, {len(hypotheses)} hypotheses and {len(target_rows)} targets rows"
        )
    utterances_by_kind: Dict[str, List[int]] = {}
    counts_by_kind: Dict[str, Dict[str, int]] = {}
    for number, (reference, hypothesis, row) in enumerate(zip(references, hypotheses, target_rows)):
        reference_words, hypothesis_words = reference.split(), hypothesis.split()
        problem = check_target_row(row)
        if problem is None:
            problem = next(filter(None, (target_mismatch(reference_words, target) for target in row["targets"])), None)
        if problem is not None:
            raise ValueError(f"utterance {number + 1} (id {row.get('id')!r}): {problem}")
        utterances_by_kind.setdefault(row["kind"], []).append(number)
        counts = counts_by_kind.setdefault(row["kind"], {"targets": 0, "homophone_errors": 0, "swaps": 0})
        aligned = align_words(reference_words, hypothesis_words)
        for target in row["targets"]:
            hyp_index = aligned[target["word_index"]]
            written = hypothesis_words[hyp_index] if hyp_index is not None else None
            counts["targets"] += 1
            counts["homophone_errors"] += written != target["word"]
            counts["swaps"] += written == target["other"]

    def scores(numbers: List[int], counts: Dict[str, int]) -> dict:
        targets = counts["targets"]
        return {
            **counts,
            "homophone_error_rate": counts["homophone_errors"] * 100.0 / targets if targets else None,
            "swap_rate": counts["swaps"] * 100.0 / targets if targets else None,
            **corpus_wer([references[n] for n in numbers], [hypotheses[n] for n in numbers]),
        }

    total_counts = {
        name: sum(counts[name] for counts in counts_by_kind.values())
        for name in ("targets", "homophone_errors", "swaps")
    }
    return {
        "all": scores(list(range(len(references))), total_counts),
        "per_kind": {
            kind: scores(utterances_by_kind[kind], counts_by_kind[kind]) for kind in sorted(utterances_by_kind)
        },
    }


def read_target_rows(path) -> List[tuple]:
    """``(row, line_number)`` for every row of a ``{split}.homophones.jsonl`` file; a
    malformed row or a repeated id raises ``ValueError`` naming the file and line."""
    records, first_line = [], {}
    for where, line_number, row in read_json_objects(path):
        problem = check_target_row(row)
        if problem is not None:
            raise ValueError(f"targets {where}: {problem}")
        if row["id"] in first_line:
            raise ValueError(f"targets {where}: id {row['id']!r} repeats line {first_line[row['id']]}")
        first_line[row["id"]] = line_number
        records.append((row, line_number))
    return records


def targets_for_aligned(
    aligned: AlignedTexts, records: Sequence[tuple], ref_id_format: str, ref_path: str, targets_path: str
) -> List[dict]:
    """The targets rows of ``aligned``'s utterances, in its (reference) order.

    How rows are matched to utterances depends on the reference's id format:

    * ``line``: row ``k`` of the targets file is reference line ``k`` (same count);
    * ``fairseq``: the id is the sample index ``N`` of ``(None-N)``, i.e. the 0-based
      position in the manifest, so row ``N`` (0-based) of the targets file;
    * ``tsv`` / ``first-field``: by the rows' ``id``.

    Every utterance needs a row and every row an utterance; every target must point at
    its word in the reference. Errors (:class:`AlignmentError`) name the files and lines.
    """
    if ref_id_format == "line":
        keyed = {str(position + 1): record for position, record in enumerate(records)}
    elif ref_id_format == "fairseq":
        keyed = {str(position): record for position, record in enumerate(records)}
    else:
        keyed = {row["id"]: (row, line) for row, line in records}
    if len(records) != len(aligned):
        missing = next((k for k, key in enumerate(aligned.ids) if key not in keyed), None)
        if missing is not None:
            where = (
                f"reference {ref_path}:{aligned.ref_lines[missing]} (id {aligned.ids[missing]!r}) has no targets row"
            )
        else:
            reference_ids = set(aligned.ids)
            row, line = next(record for key, record in keyed.items() if key not in reference_ids)
            where = f"targets {targets_path}:{line} (id {row['id']!r}) matches no reference utterance"
        raise AlignmentError(
            f"targets {targets_path} has {len(records)} rows, reference {ref_path} has {len(aligned)} utterances; "
            f"first difference: {where}"
        )
    rows = []
    for key, reference, ref_line in zip(aligned.ids, aligned.refs, aligned.ref_lines):
        if key not in keyed:
            raise AlignmentError(f"reference {ref_path}:{ref_line}: id {key!r} has no row in targets {targets_path}")
        row, targets_line = keyed[key]
        for target in row["targets"]:
            problem = target_mismatch(reference.split(), target)
            if problem is not None:
                raise AlignmentError(
                    f"targets {targets_path}:{targets_line} (id {row['id']!r}) against reference "
                    f"{ref_path}:{ref_line}: {problem}"
                )
        rows.append(row)
    return rows
