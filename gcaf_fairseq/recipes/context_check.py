"""No system trains on context it does not have (pure Python; numpy through the store reader).

A context store holds one entry per utterance; an entry of zero rows is "no context" (its
text was empty). Some utterances have no context by design: the first of a stream has no
previous utterance (the papers give it none), an utterance of a blind split has no current
text. Every other utterance of the split *should* have context; :func:`context_coverage`
counts those that have none in the store (absent, or zero rows): an LLM that wrote only
newlines, an empty transcript, an id the texts file lacks.

- Above ``--max-empty-context`` (a share, 1% by default) of the utterances that should have
  context, :func:`check_coverage` raises :class:`ContextError`, naming the store, the count,
  the first ids and the texts that were embedded; the recipe stops at stage 3 (the store
  made) or stage 4 (before a training reads it).
- Below it, the recipe prints a warning, the run's ``run.json`` records the count
  (:func:`run_context`, with the text encoder, the LLM and every store the run read), and
  the table marks the cell with a footnote (:mod:`gcaf_fairseq.tables.builder`).
"""

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from .fingerprints import HashCache, fingerprint
from .plan import PlannedRun, context_need

#: the default of ``--max-empty-context``
MAX_EMPTY_CONTEXT = 0.01
FIRST_IDS = 5


class ContextError(ValueError):
    """Too many utterances that should have context have none in a store."""


@dataclass
class Coverage:
    """How many of a split's utterances that should have context have none in ``store``."""

    store: Path
    expected: int  # in-split utterances that should have context
    missing: List[str]  # those among them without (absent from the store or zero rows), in table order
    texts: Optional[Path] = None  # the texts the store embeds (named in the error)
    meta: Dict[str, Any] = field(default_factory=dict)  # the store's metadata (its encoder and texts: run.json)

    @property
    def share(self) -> float:
        return len(self.missing) / self.expected if self.expected else 0.0

    def describe(self) -> str:
        return (f"{self.store}: {len(self.missing)} of {self.expected} utterances that should have context have none "
                f"({100 * self.share:.1f}%)")

    def first_ids(self) -> str:
        return ", ".join(self.missing[:FIRST_IDS]) + (", ..." if len(self.missing) > FIRST_IDS else "")


def should_have_context(row: Dict[str, Any], kind: str) -> bool:
    """Whether an utterance-table row should have context of ``kind``: its own text for
    ``cur`` (not in a blind split), else (the previous texts, an LLM's generation from the
    previous text) a previous utterance."""
    if not row["in_split"]:
        return False
    if kind == "cur":
        return row["text"] is not None
    return row["prev_id"] is not None


def context_coverage(store_path: Path, table_path: Path, kind: str, texts: Optional[Path] = None) -> Coverage:
    """The coverage of the store ``store_path`` of ``kind`` (embedding ``texts``) over the
    split of ``table_path``."""
    from ..data.context_store import ContextStore
    from ..data.utterance_table import read_utterance_table

    if not Path(store_path).is_file():
        raise ContextError(f"{store_path}: no such context store: run stage 3 (embed) first")
    store = ContextStore(str(store_path), check_values=False)
    rows_of = dict(zip(store.ids, store.lengths.tolist()))
    expected = [row["id"] for row in read_utterance_table(table_path) if should_have_context(row, kind)]
    return Coverage(Path(store_path), len(expected), [uid for uid in expected if not rows_of.get(uid)], texts,
                    dict(store.meta))


def check_coverage(coverage: Coverage, max_share: float) -> Optional[str]:
    """:class:`ContextError` when more than ``max_share`` of the utterances that should have
    context have none; else a warning line when some have none, or None."""
    if not coverage.missing:
        return None
    if coverage.share > max_share:
        raise ContextError(
            f"{coverage.describe()}, more than --max-empty-context {100 * max_share:g}%; "
            f"first: {coverage.first_ids()}. "
            "A system would train on "
            f"context it does not have: look at the texts embedded, {coverage.texts or 'its texts'} (an LLM that wrote "
            "nothing? an empty transcript?), fix them and rerun, or raise --max-empty-context to accept it")
    return (f"{coverage.describe()}, accepted (--max-empty-context {100 * max_share:g}%); "
            f"first: {coverage.first_ids()}; "
            "the table marks the cells of the runs that read it")


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def model_record(folder: Path, cache: HashCache) -> Dict[str, Any]:
    """A model folder and a digest of the sha256 of every file in it (config, tokenizer,
    weights; the runner's fingerprint, cached by path, size and time, so a model is read once
    per recipe folder): another model, or one changed in place, has another."""
    return {"folder": str(folder), "fingerprint": _digest(fingerprint(Path(folder), cache))}


def store_record(coverage: Coverage, cache: HashCache) -> Dict[str, Any]:
    """What ``run.json`` says of one store a run read: its path, content digest, the encoder
    and texts its metadata names, and its coverage."""
    meta = coverage.meta  # read with the coverage: the store is opened once
    return {"path": str(coverage.store), "sha256": cache.sha256(coverage.store)[:16],
            "encoder": meta.get("encoder"), "texts": meta.get("source"),
            "should_have_context": coverage.expected, "without_context": len(coverage.missing),
            "first_without_context": coverage.missing[:FIRST_IDS]}


def run_context(recipe, run: PlannedRun, coverages: Dict[Path, Coverage]) -> Dict[str, Any]:
    """The ``run.json`` keys that say which context a run used (``{}`` for a run without a
    store): ``text_encoder`` and ``llm_model`` (folder and content fingerprint; a served LLM by
    name and URLs) and ``context_stores`` (:func:`store_record` of each store it reads --
    training, validation and, for an injection row, decoding subsets -- whose
    :class:`Coverage` ``coverages`` holds)."""
    need = context_need(run)
    if need.source != "store":
        return {}
    cache = recipe.hash_cache
    layout = recipe.layout
    keys: Dict[str, Any] = {"text_encoder": model_record(recipe.options.text_encoder, cache)}
    if need.llm is not None:
        source = recipe.options.llms[need.llm]
        keys["llm_model"] = ({"size": need.llm, "backend": "hf", **model_record(Path(source.model_dir), cache)}
                             if source.backend == "hf" else
                             {"size": need.llm, "backend": "openai", "name": source.name, "urls": list(source.urls)})
    keys["context_stores"] = [store_record(coverages[layout.store_file(run.dataset, subset, need.kind, need.pooling)],
                                           cache) for subset in recipe.subsets_needing_context(run)]
    return keys


def recipe_coverages(recipe) -> Dict[Path, Coverage]:
    """The coverage of every store the recipe's runs read (:meth:`Recipe.context_stores`)."""
    layout = recipe.layout
    return {layout.store_file(dataset, subset, kind, pooling): context_coverage(
                layout.store_file(dataset, subset, kind, pooling), layout.utterances(dataset, subset), kind,
                layout.texts_file(dataset, subset, kind))
            for dataset, subset, kind, pooling in recipe.context_stores()}
