"""Embeds utterance texts with a local BERT-style encoder into a context store.

:func:`embed_texts` runs a Hugging Face encoder (loaded from a local folder only, never
from the model hub) over ``(id, text)`` records and writes one context per record to a
:mod:`~gcaf_fairseq.data.context_store`:

- ``pooling="cls"``: the last hidden state of the first token ([CLS]), shape ``(1, dim)``;
- ``pooling="sequence"``: the last hidden states of all real tokens, [CLS] and [SEP]
  included, padding excluded, shape ``(tokens, dim)``.

- ``pooling="cls-per-text"``: records hold a *list* of texts (``gcaf-context-texts --join
  separate``: the K previous utterances, oldest first); each text's [CLS] vector is one row,
  in list order, shape ``(texts, dim)``. The store is a ``sequence`` store (its metadata
  says ``text_pooling: cls-per-text``), which a ``context_pooling=sequence`` model reads
  like any other: its cross-attention attends to each previous utterance's vector.

An empty or whitespace-only text gets no context: zero rows, shape ``(0, dim)``, which
readers treat the same as a missing context. In a list (``cls-per-text``) such a text gets
no row and is counted (``n_empty_texts``); an empty list is no context.

For speed the texts are sorted by token count and batched with padding; the sort runs
within windows of consecutive records, so memory stays bounded by one window while the
store keeps the original record order. Texts longer than ``max_length`` tokens are
truncated; they are counted, reported in the summary and the store metadata, and logged.
"""

import logging
import os
import time
from typing import Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from ..data.context_store import POOLINGS, ContextStoreWriter

logger = logging.getLogger(__name__)

# Compute dtypes, as torch names them (torch is imported only by the functions that run the encoder).
DTYPES = ("float32", "float16", "bfloat16")

# What gcaf-embed-context --pooling offers, and the store pooling each writes.
TEXT_POOLINGS = POOLINGS + ("cls-per-text",)
STORE_POOLING = {"cls": "cls", "sequence": "sequence", "cls-per-text": "sequence"}

# Records are sorted by token count within windows of this many batches.
_SORT_WINDOW_BATCHES = 16


class EncoderPathError(ValueError):
    """The encoder path is not a local model folder."""


def resolve_device(device: str) -> "torch.device":
    """``"auto"`` -> cuda when available, else cpu; anything else is passed to torch."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_local_encoder(encoder_path: str, trust_remote_code: bool = False):
    """Loads ``(tokenizer, model)`` from a local Hugging Face model folder, offline.

    Raises :class:`EncoderPathError` when ``encoder_path`` is not a folder.
    """
    from transformers import AutoModel, AutoTokenizer

    if not os.path.isdir(encoder_path):
        raise EncoderPathError(
            f"encoder {encoder_path!r} is not a local folder: a local path to a Hugging Face model "
            "folder (config.json, weights, tokenizer files) is needed; models are never downloaded"
        )
    tokenizer = AutoTokenizer.from_pretrained(
        encoder_path, local_files_only=True, trust_remote_code=trust_remote_code
    )
    model = AutoModel.from_pretrained(encoder_path, local_files_only=True, trust_remote_code=trust_remote_code)
    tokenizer.padding_side = "right"  # [CLS] stays the first token of every padded row
    if tokenizer.pad_token is None:
        raise EncoderPathError(f"encoder {encoder_path!r}: the tokenizer has no padding token, batching needs one")
    return tokenizer, model


def _is_empty(text: str) -> bool:
    return not text.strip()


def _check_records(records: Sequence[Tuple[str, object]], text_lists: bool) -> None:
    seen_ids = set()
    for utterance_id, text in records:
        if not isinstance(utterance_id, str):
            raise TypeError(f"utterance id must be a str, got {type(utterance_id).__name__}: {utterance_id!r}")
        if text_lists:
            if not isinstance(text, (list, tuple)) or not all(isinstance(t, str) for t in text):
                raise TypeError(
                    f"texts of {utterance_id!r} must be a list of str for pooling 'cls-per-text', got {text!r:.80}"
                )
        elif not isinstance(text, str):
            raise TypeError(f"text of {utterance_id!r} must be a str, got {type(text).__name__}")
        if utterance_id in seen_ids:
            raise ValueError(f"duplicate utterance id {utterance_id!r}")
        seen_ids.add(utterance_id)


def _count_tokens(tokenizer, texts) -> list:
    """Token counts of ``texts``, special tokens included, before any truncation."""
    if not texts:
        return []
    return [len(ids) for ids in tokenizer(texts, verbose=False)["input_ids"]]


def _encode_batch(tokenizer, model, texts, pooling, max_length, device) -> list:
    """Runs the encoder on one padded batch; returns one float32 array per text,
    shape ``(1, dim)`` for cls or ``(tokens, dim)`` for sequence."""
    import torch

    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    batch = {name: tensor.to(device) for name, tensor in batch.items()}
    with torch.no_grad():
        hidden_states = model(**batch).last_hidden_state.float()  # (batch, token, dim)
    if pooling in ("cls", "cls-per-text"):
        return list(hidden_states[:, :1].cpu().numpy())
    token_mask = batch["attention_mask"].bool()  # (batch, token)
    return [states[mask].cpu().numpy() for states, mask in zip(hidden_states, token_mask)]


def _load_for_embedding(encoder_path: str, max_length: int, device, dtype: str, trust_remote_code: bool):
    """``(tokenizer, model, device)``: the encoder loaded, checked against ``max_length`` and
    placed on ``device`` (a name for :func:`resolve_device`, or a ``torch.device``) in
    ``dtype``, in eval mode."""
    import torch

    tokenizer, model = load_local_encoder(encoder_path, trust_remote_code)
    max_positions = getattr(model.config, "max_position_embeddings", None)
    if max_positions is not None and max_length > max_positions:
        raise ValueError(f"max_length {max_length} exceeds the encoder's {max_positions} position embeddings")
    torch_device = resolve_device(device) if isinstance(device, str) else torch.device(device)
    model.to(device=torch_device, dtype=getattr(torch, dtype)).eval()
    return tokenizer, model, torch_device


def embed_texts(
    records: Sequence[Tuple[str, object]],
    encoder_path: str,
    pooling: str,
    out_path: str,
    batch_size: int = 32,
    max_length: int = 512,
    device: str = "auto",
    dtype: str = "float32",
    trust_remote_code: bool = False,
    progress: bool = True,
    meta: Optional[dict] = None,
) -> dict:
    """Embeds ``records`` (a sequence of ``(id, text)``, or ``(id, [text, ...])`` for
    ``cls-per-text``) into a context store at ``out_path``.

    ``pooling``: ``"cls"``, ``"sequence"`` or ``"cls-per-text"`` (see the module docstring); ``device``:
    ``"auto"`` (cuda when available), ``"cpu"``, ``"cuda:0"``, ...; ``dtype``: the encoder's
    compute dtype, one of :data:`DTYPES` (the store is always float16). ``meta`` is merged
    into the store metadata (e.g. ``text_field``, ``source``). The metadata holds no creation
    time: the same texts embedded by the same encoder give the same file, so a store made
    again (it was truncated, say) leaves what the recipes made from it standing.

    Returns a summary: ``count``, ``n_empty`` (utterances without context), ``n_truncated``
    (texts), ``dim``, ``pooling``, ``out``, ``seconds``; for ``cls-per-text`` also
    ``store_pooling`` (``sequence``), ``n_texts`` and ``n_empty_texts``.
    """
    import torch

    started = time.perf_counter()
    if pooling not in TEXT_POOLINGS:
        raise ValueError(f"pooling must be one of {TEXT_POOLINGS}, got {pooling!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {dtype!r}")
    if batch_size < 1 or max_length < 2:
        raise ValueError(f"batch_size must be >= 1 and max_length >= 2, got {batch_size} and {max_length}")
    text_lists = pooling == "cls-per-text"
    _check_records(records, text_lists)
    tokenizer, model, torch_device = _load_for_embedding(encoder_path, max_length, device, dtype, trust_remote_code)
    dim = model.config.hidden_size

    store_pooling = STORE_POOLING[pooling]
    store_meta = {
        "encoder": os.path.abspath(encoder_path),
        "encoder_model_type": model.config.model_type,
        "encoder_hidden_size": dim,
        "pooling": store_pooling,
        "max_length": max_length,
        "dtype": dtype,
        **(meta or {}),
    }
    if text_lists:
        store_meta["text_pooling"] = pooling  # one [CLS] row per text of the list, in list order

    def texts_of(record):
        return list(record[1]) if text_lists else [record[1]]

    n_texts = sum(len(texts_of(record)) for record in records)
    n_empty = n_empty_texts = n_truncated = 0
    window_size = batch_size * _SORT_WINDOW_BATCHES
    no_context = np.zeros((0, dim), dtype=np.float32)
    with ContextStoreWriter(out_path, dim, store_pooling, meta=store_meta) as writer, torch.no_grad(), tqdm(
        total=n_texts, unit="text", desc=f"embed ({pooling})", disable=not progress
    ) as progress_bar:
        for window_start in range(0, len(records), window_size):
            window = records[window_start : window_start + window_size]
            # (record in the window, text) for every text: one per record, or a list's each
            flat = [(k, text) for k, record in enumerate(window) for text in texts_of(record)]
            positions = [j for j, (_, text) in enumerate(flat) if not _is_empty(text)]
            token_counts = _count_tokens(tokenizer, [flat[j][1] for j in positions])
            token_count_of_position = dict(zip(positions, token_counts))
            n_empty_texts += len(flat) - len(positions)
            n_truncated += sum(count > max_length for count in token_counts)
            progress_bar.update(len(flat) - len(positions))

            positions.sort(key=token_count_of_position.get, reverse=True)  # longest first: OOM shows at once
            context_of_position = {}
            for batch_start in range(0, len(positions), batch_size):
                batch_positions = positions[batch_start : batch_start + batch_size]
                batch_texts = [flat[j][1] for j in batch_positions]
                contexts = _encode_batch(tokenizer, model, batch_texts, pooling, max_length, torch_device)
                context_of_position.update(zip(batch_positions, contexts))
                progress_bar.update(len(batch_positions))
            rows_of_record = [[] for _ in window]
            for j, (k, _) in enumerate(flat):  # in flat (list) order
                if j in context_of_position:
                    rows_of_record[k].append(context_of_position[j])
            for (utterance_id, _), rows in zip(window, rows_of_record):
                n_empty += not rows
                writer.add(utterance_id, np.concatenate(rows) if rows else no_context)
        writer.meta.update(n_empty=n_empty, n_truncated=n_truncated)
        if text_lists:
            writer.meta.update(n_texts=n_texts, n_empty_texts=n_empty_texts)

    if n_truncated:
        logger.warning(
            "%d of %d texts were longer than max_length=%d tokens and were truncated",
            n_truncated,
            n_texts,
            max_length,
        )
    return {
        "count": len(records),
        "n_empty": n_empty,
        "n_truncated": n_truncated,
        "dim": dim,
        "pooling": pooling,
        "out": out_path,
        "seconds": round(time.perf_counter() - started, 3),
        **({"store_pooling": store_pooling, "n_texts": n_texts, "n_empty_texts": n_empty_texts} if text_lists else {}),
    }


class TextContextEncoder:
    """A store's text encoder, loaded once, that embeds texts at decoding time exactly as
    :func:`embed_texts` embedded the store: the same tokenizer call, pooling, ``max_length``
    and compute ``dtype``, the rows rounded to float16 as the store keeps them, and no
    context (zero rows) for an empty or whitespace-only text. The sequential decoding pass
    embeds its own hypotheses with it.

    Args:
        encoder_path: local Hugging Face model folder (never downloaded).
        pooling: ``"cls"`` or ``"sequence"`` (a ``cls-per-text`` store holds K texts per
            utterance: the sequential pass has one).
        device: where the encoder runs: a ``torch.device`` (the decoding model's) or a name.

    :meth:`embed` returns one float32 CPU tensor per text, ``(1, dim)`` for ``cls``,
    ``(tokens, dim)`` for ``sequence``, ``(0, dim)`` for an empty text: the rows a
    :class:`~gcaf_fairseq.data.context_store.ContextStore` would give.
    """

    def __init__(self, encoder_path: str, pooling: str, max_length: int = 512, dtype: str = "float32", device="auto",
                 trust_remote_code: bool = False, batch_size: int = 32):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS} to embed one text per utterance, got {pooling!r}")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {tuple(DTYPES)}, got {dtype!r}")
        self.pooling, self.max_length, self.batch_size = pooling, max_length, batch_size
        self.tokenizer, self.model, self.device = _load_for_embedding(encoder_path, max_length, device, dtype, trust_remote_code)
        self.dim = self.model.config.hidden_size
        self.model_type = self.model.config.model_type

    def embed(self, texts: Sequence[str]) -> list:
        import torch

        rows = [torch.zeros(0, self.dim) for _ in texts]
        positions = [j for j, text in enumerate(texts) if not _is_empty(text)]
        for start in range(0, len(positions), self.batch_size):
            batch_positions = positions[start : start + self.batch_size]
            contexts = _encode_batch(
                self.tokenizer, self.model, [texts[j] for j in batch_positions], self.pooling, self.max_length, self.device
            )
            for j, context in zip(batch_positions, contexts):
                # the store's float16, read back as the dataset reads a store row
                rows[j] = torch.from_numpy(context.astype(np.float16).astype(np.float32))
        return rows
