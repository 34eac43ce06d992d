"""The sequential decoding pass: the context a deployed decoder really has.

``fairseq-generate ... --sequential-context`` decodes each stream in order, position by
position (:mod:`gcaf_fairseq.data.stream_order`), and feeds every utterance the context
that exists at that moment instead of an oracle's:

- **text injection** (C1/C2, D with the previous text, C1L): the decoder's own hypothesis
  of the previous utterance, embedded by the store's text encoder
  (:class:`~gcaf_fairseq.embedding.text_encoder.TextContextEncoder`, loaded once, on the
  decoding device), in place of the ground-truth store;
- **audio injection** with a previous-only window (CA row (b) with ``context_offset =
  1 - context_window``): the previous utterances' frames at the context depth, kept from
  their own forward pass, in place of re-reading and re-encoding their audio. A neighbour
  that this pass does not decode (outside the split) is still read and encoded.

A stream's first utterance gets no context, exactly as in the ground-truth store and the
re-encoding path. :class:`SequentialContextGenerator` is the generator; it writes the same
outputs as :class:`~.ctc_generator.CtcGenerator` (fairseq-generate's lines, the id-ordered
result files).
"""

import logging
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..data.context_dataset import collate_context
from ..data.neighbour_index import NeighbourLookup
from ..data.stream_order import StreamOrder
from .ctc_generator import CtcGenerator

logger = logging.getLogger(__name__)


# What a context store's metadata says about the text encoder that wrote it (gcaf-embed-context).
TEXT_ENCODER_SETTINGS = ("encoder", "encoder_model_type", "encoder_hidden_size", "pooling", "text_pooling", "max_length", "dtype", "previous")


def text_encoder_settings(store) -> dict:
    """The text-encoder settings of a :class:`~gcaf_fairseq.data.context_store.ContextStore`
    (``None`` where its metadata does not say), and the store's path."""
    settings = {name: store.meta.get(name) for name in TEXT_ENCODER_SETTINGS}
    settings["pooling"] = store.pooling
    settings["store"] = store.path
    return settings


def differing_settings(first: dict, second: dict) -> List[str]:
    """The settings (the encoder's folder aside) in which two stores' encoders differ."""
    return [name for name in TEXT_ENCODER_SETTINGS if name != "encoder" and first.get(name) != second.get(name)]


def check_sequential_text_settings(settings: dict, model_cfg) -> None:
    """Refuse a store whose texts the sequential pass cannot give the same way: K previous
    texts, another pooling or embedding size than the model's."""
    store = settings.get("store", "the training store")
    if settings.get("text_pooling") == "cls-per-text" or (settings.get("previous") or 1) > 1:
        count = settings.get("previous") or "K"
        raise ValueError(
            f"the model was trained on {count} previous texts per utterance ({store}: gcaf-context-texts --previous "
            f"{count}); --sequential-context embeds one, the previous hypothesis. Use two passes instead: "
            f"gcaf-context-texts --hypotheses FILE --previous {count}, then gcaf-embed-context"
        )
    if settings["pooling"] != model_cfg.context_pooling:
        raise ValueError(
            f"{store} holds '{settings['pooling']}' embeddings but the model has context_pooling={model_cfg.context_pooling}"
        )
    size = settings.get("encoder_hidden_size")
    if size is not None and size != model_cfg.context_embed_dim:
        raise ValueError(f"{store} was embedded by a {size}-dim encoder but the model has context_embed_dim={model_cfg.context_embed_dim}")


@dataclass
class CachedNeighbours:
    """Where each utterance's window neighbours come from in the sequential pass."""

    sources: np.ndarray  # (utterances, slots) int64: dataset index of a neighbour decoded in this pass (frames reused), else -1
    from_audio: np.ndarray  # (utterances, slots) bool: a neighbour not decoded in this pass, read and encoded with the batch

    @property
    def readers(self) -> np.ndarray:
        """``(utterances,)``: how many (utterance, slot) pairs reuse each utterance's frames."""
        used = self.sources[self.sources >= 0]
        return np.bincount(used, minlength=len(self.sources)).astype(np.int64)


def plan_cached_neighbours(lookup: NeighbourLookup, utterance_ids: Sequence[str]) -> Tuple[NeighbourLookup, CachedNeighbours]:
    """Split a split's window neighbours (``lookup``, dataset order) into those decoded in
    this pass, whose frames are reused, and the others, whose audio the batches still carry
    (the returned lookup lists only those)."""
    dataset_index = {utterance_id: k for k, utterance_id in enumerate(utterance_ids)}
    row_to_index = np.array([dataset_index.get(row_id, -1) for row_id in lookup.index.ids], dtype=np.int64)
    present = lookup.rows >= 0
    sources = np.where(present, row_to_index[np.maximum(lookup.rows, 0)], -1)
    from_audio = present & (sources < 0)
    reduced = NeighbourLookup(np.where(from_audio, lookup.rows, -1).astype(lookup.rows.dtype), lookup.index, lookup.missing, lookup.edge_slots)
    return reduced, CachedNeighbours(sources, from_audio)


def unpadded_frames(frames: torch.Tensor, padding_mask: Optional[torch.Tensor]) -> List[torch.Tensor]:
    """Each row of ``frames`` ``(batch, frame, dim)`` without its padding: ``(frame_b, dim)``."""
    if padding_mask is None:
        return [row.clone() for row in frames]
    return [row[~mask] for row, mask in zip(frames, padding_mask)]


def forward_with_encoded_neighbours(model, net_input: dict, neighbour_frames: List[torch.Tensor], neighbour_owner: List[int]):
    """One forward pass of an audio injection model whose neighbours are already encoded at
    the context depth (``neighbour_frames``, one ``(frame, dim)`` tensor per neighbour,
    ``neighbour_owner`` the batch row of each, in window order): ``e_j`` is pooled from
    them and nothing is re-encoded. Returns the model's output and each utterance's own
    frames at the context depth, without padding, for the utterances after it."""
    encoder = model.w2v_encoder
    source = net_input["source"]
    owner = torch.tensor(neighbour_owner, dtype=torch.long, device=source.device)
    neighbour_embedding = encoder.neighbour_context_from_frames(neighbour_frames, owner, source.size(0))
    inputs = {name: value for name, value in net_input.items() if not name.startswith("neighbour_")}
    net_output = model(**inputs, neighbour_embedding=neighbour_embedding, return_context_input=True)
    kept = net_output.pop("context_input")
    return net_output, unpadded_frames(kept.frames, kept.padding_mask)


@dataclass
class SequentialPlan:
    """What the task prepares for the sequential pass over one split."""

    order: StreamOrder
    text_settings: Optional[dict] = None  # text context: the training store's encoder (text_encoder_settings)
    cached_neighbours: Optional[CachedNeighbours] = None  # audio context


class SequentialContextGenerator(CtcGenerator):
    """fairseq-generate's generator for the sequential pass: a :class:`CtcGenerator` that
    gives each batch the context of the utterances decoded before it.

    Args:
        decoder, target_dictionary, recorder, post_process_symbol: as :class:`CtcGenerator`.
        order: the split's :class:`StreamOrder` (the batches must follow it).
        text_encoder: for text injection models, the store's encoder (``embed(texts)``).
        context_pooling: the store's pooling (``cls`` or ``sequence``), with ``text_encoder``.
        cached_neighbours: for audio injection models, :func:`plan_cached_neighbours`'s plan.

    What it keeps: the hypothesis words of utterances whose successor is not decoded yet
    (text), or the frames at the context depth of utterances a later one still needs
    (audio: at most ``L - 1`` utterances per active stream). A needed utterance that was
    not decoded before its successor (fairseq dropped it as too long) leaves the successor
    without that context: counted in :attr:`counts` (``previous_not_ready``) and logged.
    """

    def __init__(self, decoder, target_dictionary, order: StreamOrder, text_encoder=None, context_pooling: str = "cls",
                 cached_neighbours: Optional[CachedNeighbours] = None, recorder=None, post_process_symbol="letter",
                 timer=None):
        super().__init__(decoder, target_dictionary, recorder=recorder, post_process_symbol=post_process_symbol,
                         timer=timer)
        if (text_encoder is None) == (cached_neighbours is None):
            raise ValueError("the sequential pass takes a text encoder (text context) or cached neighbours (audio context)")
        self.order = order
        self.text_encoder = text_encoder
        self.context_pooling = context_pooling
        self.cached_neighbours = cached_neighbours
        self.previous_words: Dict[int, List[str]] = {}  # text: hypotheses an utterance after them still needs
        self.is_previous = np.zeros(len(order), dtype=bool)
        self.is_previous[order.previous[order.previous >= 0]] = True
        self.frames: Dict[int, torch.Tensor] = {}  # audio: frames at the context depth later utterances still need
        self.readers = cached_neighbours.readers if cached_neighbours is not None else None
        self.counts = {"decoded": 0, "with_context": 0, "previous_not_ready": 0}

    def warm_up(self, model, sample) -> None:
        """No separate warm-up: a forward pass needs the context this pass hands out once
        (the first batch is timed with its warm-up)."""

    def decode_batch(self, model, sample):
        indices = sample["id"].tolist()
        if self.text_encoder is not None:
            net_input = {**sample["net_input"], **self.previous_text_context(indices, sample["net_input"]["source"].device)}
            net_output = model(**net_input)
        else:
            neighbour_frames, neighbour_owner = self.neighbour_frames(model, indices, sample["net_input"])
            net_output, own_frames = forward_with_encoded_neighbours(model, sample["net_input"], neighbour_frames, neighbour_owner)
            self.keep_frames(indices, own_frames)
        hypotheses = self.search(model, net_output)
        for index, (hypothesis,) in zip(indices, hypotheses):
            if self.is_previous[index]:
                self.previous_words[index] = hypothesis["words"]
        self.counts["decoded"] += len(indices)
        if self.counts["decoded"] == len(self.order):
            logger.info(f"sequential pass: {self.counts}")
            if self.counts["previous_not_ready"]:
                logger.warning(
                    f"{self.counts['previous_not_ready']} utterances went without (part of) their context: the previous "
                    "utterance was not decoded before them (left out of the batches, e.g. longer than --max-tokens)"
                )
        return hypotheses

    def previous_text_context(self, indices: List[int], device) -> dict:
        """``context`` ``(batch, context_len, dim)`` and ``context_padding_mask``: the text
        encoder's embedding of each utterance's previous hypothesis; none at a stream start."""
        texts = []
        for index in indices:
            previous = int(self.order.previous[index])
            words = self.previous_words.pop(previous, None) if previous >= 0 else None
            if previous >= 0 and words is None:
                self.counts["previous_not_ready"] += 1
            texts.append(" ".join(words) if words else "")
            self.counts["with_context"] += bool(words)
        context, context_padding_mask, _present = collate_context(self.text_encoder.embed(texts), self.context_pooling, self.text_encoder.dim)
        return {"context": context.to(device), "context_padding_mask": context_padding_mask.to(device)}

    def neighbour_frames(self, model, indices: List[int], net_input: dict):
        """Every neighbour's frames at the context depth, in window order per utterance:
        kept from the pass (``cached_neighbours.sources``), or encoded now from the audio the
        batch carries (a neighbour the pass does not decode); and each one's batch row."""
        encoded_by_row: Dict[int, List[torch.Tensor]] = {}
        source = net_input.get("neighbour_source")
        if source is not None and source.size(0) > 0:
            at_depth = model.w2v_encoder.encode_neighbours(source, net_input["neighbour_padding_mask"])
            for owner, frames in zip(net_input["neighbour_owner"].tolist(), unpadded_frames(at_depth.frames, at_depth.padding_mask)):
                encoded_by_row.setdefault(owner, []).append(frames)
        neighbour_frames, neighbour_owner = [], []
        for row, index in enumerate(indices):
            encoded = iter(encoded_by_row.get(row, []))
            found = False
            for source_index, from_audio in zip(self.cached_neighbours.sources[index].tolist(), self.cached_neighbours.from_audio[index].tolist()):
                if from_audio:
                    frames = next(encoded)
                elif source_index >= 0:
                    frames = self.reuse_frames(source_index)
                    if frames is None:
                        self.counts["previous_not_ready"] += 1
                        continue
                else:
                    continue
                neighbour_frames.append(frames)
                neighbour_owner.append(row)
                found = True
            self.counts["with_context"] += found
        return neighbour_frames, neighbour_owner

    def reuse_frames(self, index: int) -> Optional[torch.Tensor]:
        """The kept frames of utterance ``index``, released after their last reader."""
        frames = self.frames.get(index)
        self.readers[index] -= 1
        if self.readers[index] <= 0:
            self.frames.pop(index, None)
        return frames

    def keep_frames(self, indices: List[int], own_frames: List[torch.Tensor]) -> None:
        for index, frames in zip(indices, own_frames):
            if self.readers[index] > 0:
                self.frames[index] = frames


def check_sequential_model(model_cfg, saved_task_cfg, label_names=None) -> None:
    """Refuse what the sequential pass cannot decode, saying why: training, classification,
    models without an input context, audio windows that reach following utterances."""
    if saved_task_cfg is None:
        raise ValueError("--sequential-context (task.decoding.sequential_context) is a decoding option of fairseq-generate, not of training")
    if label_names is not None:
        raise ValueError("--sequential-context decodes CTC models with fairseq-generate; classification has no sequential pass")
    source = getattr(model_cfg, "context_source", "none")
    if source == "none" or model_cfg.context_use == "aware":
        row = "A" if source == "none" else "an aware model (E, B)"
        raise ValueError(
            f"--sequential-context feeds an injection model the context of the previous utterance; {row} decodes from "
            "the current audio alone, so the pass would change nothing: decode it without --sequential-context"
        )
    if source == "audio" and model_cfg.context_offset != 1 - model_cfg.context_window:
        raise ValueError(
            f"context_window={model_cfg.context_window}, context_offset={model_cfg.context_offset}: the window reaches "
            "utterances after the current one, which the sequential pass has not decoded yet; it reuses previous "
            "utterances only (context_offset = 1 - context_window, e.g. (2, -1))"
        )


def build_sequential_generator(plan: SequentialPlan, decoding_cfg, models, decoder, target_dictionary, recorder,
                               post_process_symbol, timer=None):
    """The :class:`SequentialContextGenerator` of ``plan``; for text models the store's text
    encoder is loaded here, once, on the device of ``models[0]``."""
    if plan.text_settings is None:
        return SequentialContextGenerator(decoder, target_dictionary, plan.order, cached_neighbours=plan.cached_neighbours,
                                          recorder=recorder, post_process_symbol=post_process_symbol, timer=timer)
    from ..embedding.text_encoder import TextContextEncoder

    settings = plan.text_settings
    encoder_path = decoding_cfg.context_text_encoder
    if encoder_path is None:
        encoder_path = settings.get("encoder")
        if not encoder_path or not os.path.isdir(encoder_path):
            raise ValueError(
                f"--sequential-context with a text model embeds its hypotheses with the training store's text encoder "
                f"({encoder_path or 'not named in the store'}, not found here): pass --context-text-encoder DIR"
            )
    device = next(models[0].parameters()).device
    text_encoder = TextContextEncoder(
        encoder_path, settings["pooling"], max_length=settings.get("max_length") or 512, dtype=settings.get("dtype") or "float32",
        device=device,
    )
    expected = (settings.get("encoder_model_type"), settings.get("encoder_hidden_size"))
    found = (text_encoder.model_type, text_encoder.dim)
    if any(want is not None and want != have for want, have in zip(expected, found)):
        raise ValueError(
            f"--context-text-encoder {encoder_path} is a {found[0]} of size {found[1]}, but the training store "
            f"{settings.get('store')} was embedded by a {expected[0]} of size {expected[1]} ({settings.get('encoder')})"
        )
    logger.info(
        f"sequential pass: previous hypotheses embedded by {encoder_path} on {device} ({settings['pooling']}, "
        f"max_length {text_encoder.max_length}, as {settings.get('store')})"
    )
    return SequentialContextGenerator(decoder, target_dictionary, plan.order, text_encoder=text_encoder,
                                      context_pooling=settings["pooling"], recorder=recorder, post_process_symbol=post_process_symbol,
                                      timer=timer)
