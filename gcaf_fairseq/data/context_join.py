"""A split's utterances joined with their context, checked against the manifest and the model:
the rows of a context store (text context) or the neighbours' audio (audio context).

Which store or table a split is joined with is decided once, by :func:`context_paths`: when
training, the running config's; when decoding a checkpoint, only what the command gives (a
checkpoint's saved paths are read only with ``context_from_checkpoint``). The task hands the
result over with the model's config; :func:`join_context` decides what is read, fails naming
the file and the first ids where the data does not fit the model, and counts what is missing
under ``context_missing=zero``.
"""

import logging
import os
import re
from collections import Counter
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from .context_store import ContextStore
from .manifest import file_audio_dataset, manifest_utterance_ids
from .neighbour_audio import NeighbourAudioDataset
from .neighbour_index import load_neighbour_index, window_neighbour_offsets

logger = logging.getLogger(__name__)


@dataclass
class ContextJoin:
    """A split and what its utterances were joined with."""

    dataset: object  # the split's dataset; wrapped in NeighbourAudioDataset for audio context
    store: Optional[ContextStore] = None  # text context
    rows: Optional[np.ndarray] = None  # (utterances,) int64: each dataset index's store row, -1 where missing
    missing: Optional[int] = None  # utterances (store) or neighbours (table) missing; None: nothing was read


def context_paths(command_cfg, saved_cfg, model_cfg, split: str) -> Tuple[Optional[str], Optional[str]]:
    """The context store and utterance table templates ``split`` is joined with.

    Args:
        command_cfg: the running command's task config (``context_store``, ``utterance_table``,
            ``context_from_checkpoint``).
        saved_cfg: the task config saved in the checkpoint being decoded (what fairseq-generate
            and fairseq-validate pass to ``load_dataset``), or ``None`` when training, where the
            running config is the only one.
        model_cfg: the model's config, ``None`` before a model is built.

    When decoding, a checkpoint's saved paths are never read silently: an injection model whose
    command gives no store (or table) fails naming the saved one, unless the command opts in
    with ``context_from_checkpoint``; an aware model (E, B) decodes from the current audio alone.
    """
    store, table = command_cfg.context_store, command_cfg.utterance_table
    source = getattr(model_cfg, "context_source", "none")
    if saved_cfg is None or saved_cfg is command_cfg or source == "none":
        return store, table
    audio = source == "audio"
    option, flag = ("utterance_table", "--utterance-table") if audio else ("context_store", "--context-store")
    given = table if audio else store
    saved = getattr(saved_cfg, option, None)  # checkpoints of older versions may lack the key
    if given or not saved:
        return store, table
    if command_cfg.context_from_checkpoint:
        logger.info(f"{split}: {option} {saved} saved in the checkpoint (context_from_checkpoint)")
        return (store, saved) if audio else (saved, table)
    if model_cfg.context_use == "injection":
        raise ValueError(
            f"this checkpoint was trained with task.{option}={saved}, but the decoding command gives no "
            f"{option}: the model needs one for split '{split}'. Pass {flag} TEMPLATE (task.{option}) "
            f"for the data you decode, or --context-from-checkpoint (task.context_from_checkpoint=true) "
            "to use the saved one"
        )
    logger.info(f"{split}: the aware model decodes from the current audio alone; the checkpoint's {option} {saved} is not read")
    return store, table


def join_context(
    dataset,
    split: str,
    model_cfg,
    manifest: str,
    context_store: Optional[str],
    utterance_table: Optional[str],
    context_missing: str,
) -> ContextJoin:
    """Join ``dataset`` (the split read from ``manifest``) with the context ``model_cfg`` takes.

    Args:
        model_cfg: the model's config (``context_source``, ``context_use``, ...); ``None``
            before a model is built, which reads no context.
        context_store / utterance_table: path templates with ``{split}``.
        context_missing: ``error`` or ``zero`` (the task option of the same name).
    """
    if getattr(model_cfg, "context_source", "none") == "audio":
        return join_neighbour_audio(dataset, split, model_cfg, manifest, utterance_table, context_missing)
    return join_context_store(dataset, split, model_cfg, manifest, context_store, context_missing)


def join_context_store(dataset, split: str, model_cfg, manifest: str, template: Optional[str], context_missing: str) -> ContextJoin:
    """Text context: each utterance's row in the store at ``template``, which must hold the
    model's embedding size and pooling. Aware models decode without a store."""
    if model_cfg is None or getattr(model_cfg, "context_source", "none") == "none":
        if template:
            logger.info(f"{split}: the model takes no context; context_store {template} is not read")
        return ContextJoin(dataset)
    context_use = model_cfg.context_use
    if not template:
        if context_use == "aware":
            logger.info(f"{split}: no context store; the aware model needs none to decode")
            return ContextJoin(dataset)
        raise ValueError(
            f"context_use=injection needs a context embedding for every utterance of '{split}': "
            "set task.context_store (e.g. /data/ctx/{split}.p4.cls, written by gcaf-embed-context)"
        )
    path = split_path(template, split, "context_store")
    if not os.path.exists(path):
        if context_use == "aware":
            logger.warning(
                f"{split}: no context store at {path}; the aware model decodes without it, "
                "but no context loss is computed on this split"
            )
            return ContextJoin(dataset)
        raise FileNotFoundError(f"context store {path} for split '{split}' does not exist (task.context_store={template})")

    store = ContextStore.open(path)
    if store.dim != model_cfg.context_embed_dim:
        raise ValueError(
            f"context store {path} holds {store.dim}-dim embeddings but the model has "
            f"context_embed_dim={model_cfg.context_embed_dim}"
        )
    if store.pooling != model_cfg.context_pooling:
        raise ValueError(
            f"context store {path} holds '{store.pooling}' embeddings but the model has "
            f"context_pooling={model_cfg.context_pooling}"
        )
    utterance_ids = manifest_utterance_ids(dataset)
    duplicates = sorted(i for i, count in Counter(utterance_ids).items() if count > 1)
    if duplicates:
        raise ValueError(f"{manifest}: utterance ids must be unique to join contexts; repeated: {first_items(duplicates)}")
    rows = np.array([store.index(i) if i in store else -1 for i in utterance_ids], dtype=np.int64)
    missing = [i for i, row in zip(utterance_ids, rows) if row < 0]
    if missing and context_missing != "zero":
        raise ValueError(
            f"{len(missing)} of {len(utterance_ids)} utterances of {manifest} have no entry in the "
            f"context store {path}; first missing ids: {first_items(missing)}. Add them to the store, or "
            "set task.context_missing=zero to give them a zero context"
        )
    empty = int((store.lengths[rows[rows >= 0]] == 0).sum())
    logger.info(
        f"{split}: context from {path} ({store.pooling}, dim {store.dim}) for "
        f"{len(utterance_ids) - len(missing)} of {len(utterance_ids)} utterances; "
        f"{len(missing)} missing (zero context), {empty} with an empty text (no context)"
    )
    return ContextJoin(dataset, store, rows, missing=len(missing))


def join_neighbour_audio(dataset, split: str, model_cfg, manifest: str, template: Optional[str], context_missing: str) -> ContextJoin:
    """Audio context: wrap the split with its utterances' neighbours' audio, found through the
    utterance table at ``template``. Aware models decode without a table."""
    injection = model_cfg.context_use == "injection"
    if not template:
        if injection:
            raise ValueError(
                f"context_source=audio with context_use=injection needs the neighbours of every utterance of "
                f"'{split}': set task.utterance_table (e.g. /data/{{split}}.utterances.jsonl)"
            )
        logger.info(f"{split}: no utterance table; the aware model needs no neighbours to decode")
        return ContextJoin(dataset)
    path = split_path(template, split, "utterance_table")
    if not os.path.exists(path):
        if injection:
            raise FileNotFoundError(f"utterance table {path} for split '{split}' does not exist (task.utterance_table={template})")
        logger.warning(f"{split}: no utterance table at {path}; no context loss is computed on this split")
        return ContextJoin(dataset)
    offsets = window_neighbour_offsets(model_cfg.context_window, model_cfg.context_offset)
    # The table's neighbour index ({split}.neighbours.npz), built once where preparation did not.
    lookup = load_neighbour_index(path).neighbours(manifest_utterance_ids(dataset), offsets)
    if lookup.missing and context_missing != "zero":
        raise ValueError(
            f"{len(lookup.missing)} neighbours of utterances of {manifest} are missing "
            f"(window {model_cfg.context_window}, offset {model_cfg.context_offset}); first: {first_items(lookup.missing, 3)}. "
            "Fix the table or the audio, or set task.context_missing=zero to go without them"
        )
    logger.info(f"{split}: neighbours at relative positions {offsets} from {path}: {lookup.counts()}")
    return ContextJoin(NeighbourAudioDataset(dataset, lookup, file_audio_dataset(dataset)), missing=len(lookup.missing))


_PLACEHOLDER = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")


def split_path(template: str, split: str, option: str = "context_store") -> str:
    """``template`` with every ``{split}`` filled in, and nothing else: other braces are part
    of the path (a folder may be named ``${oc.env:HOME}`` or ``{a,b}``), so ``str.format``,
    which would refuse or misread them, is not used. A placeholder of another name
    (``{kind}``, a typo of ``{split}``) is refused, naming the task ``option``. A path without
    ``{split}`` is the same file for every subset."""
    others = sorted({name for name in _PLACEHOLDER.findall(template) if name != "split"})
    if others:
        raise ValueError(f"task.{option} '{template}' must be a path with only {{split}} to fill in "
                         f"(it holds {', '.join('{' + name + '}' for name in others)})")
    return template.replace("{split}", split)


def first_items(items: Sequence[str], count: int = 5) -> str:
    """The first ``count`` items, comma-separated, and how many more there are."""
    shown = ", ".join(items[:count])
    return shown + (f", ... ({len(items) - count} more)" if len(items) > count else "")
