"""``wav2vec2_context_ctc``: fairseq's wav2vec2 CTC fine-tuning model plus a context head."""

import contextlib
from dataclasses import dataclass, replace
from functools import partial
from typing import Optional

import torch
from fairseq.models import register_model
from fairseq.models.wav2vec.wav2vec2_asr import Linear, Wav2Vec2CtcConfig, Wav2VecCtc, Wav2VecEncoder

from ..modules import ContextHeadOutput
from .context_config import ContextModelConfig, build_audio_context, build_context_head


@dataclass
class Wav2Vec2ContextCtcConfig(Wav2Vec2CtcConfig, ContextModelConfig):
    pass


def resolve_context_layer(context_layer: Optional[int], num_layers: int) -> Optional[int]:
    """The transformer layer the context is applied before, ``0 .. num_layers - 1``, or
    ``None`` for the encoder output (``context_layer`` unset or ``num_layers``). A negative
    ``context_layer`` counts from the top like a Python index: ``-1`` is before the last
    layer, ``-num_layers`` before the first."""
    if context_layer is None:
        return None
    if not -num_layers <= context_layer <= num_layers:
        raise ValueError(
            f"context_layer={context_layer}: the encoder has {num_layers} layers (0..{num_layers}, "
            f"or -1..-{num_layers} counting from the top)"
        )
    depth = context_layer + num_layers if context_layer < 0 else context_layer
    return None if depth == num_layers else depth


@dataclass
class _FramesAtDepth:
    """What a pass that only looks at the context depth keeps: the frames and their mask."""

    frames: torch.Tensor  # (batch, frame, dim)
    padding_mask: Optional[torch.Tensor]  # (batch, frame), True at padding


class _AtContextDepth:
    """Applies ``function(frames, frame_padding_mask) -> output`` once, to the input of the
    first transformer layer from ``context_layer`` on that runs in this forward pass; the
    pass goes on with ``output.frames`` and :attr:`output` keeps the rest (the student).

    A layer that layerdrop skips is the identity, so applying it before the next layer that
    runs is exactly applying it before layer ``context_layer``. Registered as a forward
    pre-hook on those layers for one forward pass only. Inside fairseq's layer loop frames
    are ``(frame, batch, dim)``; ``function`` sees and returns ``(batch, frame, dim)``.
    """

    def __init__(self, function):
        self.function = function
        self.output = None

    @property
    def applied(self) -> bool:
        return self.output is not None

    def apply(self, frames, frame_padding_mask):
        self.output = self.function(frames.transpose(0, 1), frame_padding_mask)
        return self.output.frames.transpose(0, 1)

    def before_layer(self, layer, args, kwargs):
        if self.applied:
            return None
        return (self.apply(args[0], kwargs.get("self_attn_padding_mask")),) + tuple(args[1:]), kwargs


class Wav2VecContextEncoder(Wav2VecEncoder):
    """fairseq's :class:`Wav2VecEncoder` with the context head between the encoder output
    ``Z`` (after ``final_dropout``) and the output layer ``proj`` or, with ``context_layer``,
    before a transformer layer.

    With ``context_source=none`` there is no head and :meth:`forward` is fairseq's own, so
    the model is parameter for parameter and output for output ``wav2vec_ctc``. With
    ``context_source=audio`` the CA paper's context module (``context_module``, an
    :class:`~gcaf_fairseq.modules.AudioContext`) gives ``e_j`` of the neighbours and, for
    ``aware``, ``e_i`` of the current segment.
    """

    def __init__(self, cfg: Wav2Vec2ContextCtcConfig, output_size=None):
        super().__init__(cfg, output_size)
        frame_dim = self.proj.in_features if self.proj is not None else cfg.w2v_args.model.encoder_embed_dim
        self.context_head = build_context_head(cfg, frame_dim)
        self.frame_dim = frame_dim
        # Size of what leaves the encoder without ``proj`` (the classifier pools it).
        self.output_dim = frame_dim if self.context_head is None else self.context_head.output_dim
        if self.proj is not None and self.output_dim != frame_dim:
            # concat fusion widens the frames: the output layer takes frame_dim + D inputs.
            self.proj = Linear(self.output_dim, self.proj.out_features)
        self.context_layer = self._resolve_context_layer(cfg.context_layer)
        self.context_use = cfg.context_use
        self.context_neighbour_grad = cfg.context_neighbour_grad
        # Built last: a seed gives the same weights as before this module had a builder.
        self.context_module = build_audio_context(cfg, frame_dim)

    def _resolve_context_layer(self, context_layer):
        """:func:`resolve_context_layer` against this encoder's transformer layers."""
        if context_layer is None or self.context_head is None:
            return None
        layers = getattr(getattr(self.w2v_model, "encoder", None), "layers", None)
        if layers is None:
            raise ValueError("context_layer needs a wav2vec2 transformer encoder")
        depth = resolve_context_layer(context_layer, len(layers))
        if depth is not None and self.output_dim != self.frame_dim:
            raise ValueError("context_fusion=concat widens the frames: it can only sit at the output (context_layer unset)")
        return depth

    def encode(self, source, padding_mask, **kwargs):
        """wav2vec2 features ``(frame, batch, dim)``, exactly as fairseq's forward computes
        them (masking, ``freeze_finetune_updates``), before ``final_dropout``. While the
        encoder is frozen it runs without gradient, a context head inside it included."""
        w2v_args = {"source": source, "padding_mask": padding_mask, "mask": self.apply_mask and self.training}
        if "corpus_key" in kwargs:
            w2v_args["corpus_key"] = kwargs["corpus_key"]
        if self.is_d2v_multi:
            w2v_args["mode"] = "AUDIO"
        fine_tune = self.freeze_finetune_updates <= self.num_updates
        with torch.no_grad() if not fine_tune else contextlib.ExitStack():
            res = self.w2v_model.extract_features(**w2v_args)
            frames = res["x"].transpose(0, 1)
        return frames, res["padding_mask"], res["layer_results"]

    def encode_at_context_depth(self, source, padding_mask, function, **kwargs):
        """Run wav2vec2 and apply ``function(frames, frame_padding_mask) -> output`` (frames
        ``(batch, frame, dim)``; ``output.frames`` goes on) at the context depth: to the
        output after ``final_dropout`` (the default), or before transformer layer
        ``context_layer``. Returns the frames ``(frame, batch, dim)`` after
        ``final_dropout``, the frame padding mask ``(batch, frame)``, the layer results and
        ``function``'s output."""
        at_depth = _AtContextDepth(function)
        if self.context_layer is None:
            frames, frame_padding_mask, layer_results = self.encode(source, padding_mask, **kwargs)
            frames = at_depth.apply(self.final_dropout(frames), frame_padding_mask)
            return frames, frame_padding_mask, layer_results, at_depth.output
        layers = self.w2v_model.encoder.layers[self.context_layer:]
        hooks = [layer.register_forward_pre_hook(at_depth.before_layer, with_kwargs=True) for layer in layers]
        try:
            frames, frame_padding_mask, layer_results = self.encode(source, padding_mask, **kwargs)
        finally:
            for hook in hooks:
                hook.remove()
        if not at_depth.applied:  # layerdrop skipped every layer from context_layer on
            frames = at_depth.apply(frames, frame_padding_mask)
        return self.final_dropout(frames), frame_padding_mask, layer_results, at_depth.output

    def neighbour_context(self, neighbour_source, neighbour_padding_mask, neighbour_owner, batch_size):
        """CA paper: each neighbour encoded separately by the same wav2vec2 (at the context
        depth), the representations of one utterance's neighbours concatenated over time,
        pooled and projected: ``e_j`` ``(batch, D)``; zero where there is no neighbour."""
        if neighbour_source.size(0) == 0:  # no utterance of the batch has a neighbour
            return self.context_module.no_neighbours(neighbour_source, batch_size)
        with torch.no_grad() if not self.context_neighbour_grad else contextlib.ExitStack():
            at_depth = self.encode_neighbours(neighbour_source, neighbour_padding_mask)
        return self.context_module.from_neighbours(at_depth.frames, at_depth.padding_mask, neighbour_owner, batch_size)

    def encode_neighbours(self, neighbour_source, neighbour_padding_mask) -> _FramesAtDepth:
        """The neighbours' frames at the context depth, ``(neighbour, frame, dim)``, and their
        padding mask: what :meth:`neighbour_context` pools."""
        *_, at_depth = self.encode_at_context_depth(neighbour_source, neighbour_padding_mask, _FramesAtDepth)
        return at_depth

    def neighbour_context_from_frames(self, neighbour_frames, neighbour_owner, batch_size):
        """``e_j`` ``(batch, D)`` from neighbours already encoded at the context depth (the
        sequential pass keeps each utterance's frames from its own forward pass):
        ``neighbour_frames`` holds one ``(frame, dim)`` tensor per neighbour, without padding,
        ``neighbour_owner`` ``(neighbour,)`` the batch row of each, in window order."""
        if not neighbour_frames:
            like = self.context_module.fc.weight
            return self.context_module.no_neighbours(like, batch_size)
        longest = max(frames.size(0) for frames in neighbour_frames)
        padded = neighbour_frames[0].new_zeros(len(neighbour_frames), longest, neighbour_frames[0].size(-1))
        padding_mask = torch.ones(len(neighbour_frames), longest, dtype=torch.bool, device=padded.device)
        for row, frames in enumerate(neighbour_frames):
            padded[row, : frames.size(0)] = frames
            padding_mask[row, : frames.size(0)] = False
        return self.context_module.from_neighbours(padded, padding_mask, neighbour_owner, batch_size)

    def fuse_context(self, frames, frame_padding_mask, context=None, context_padding_mask=None) -> ContextHeadOutput:
        """The context head on frames ``(batch, frame, dim)``. The aware audio model (row B)
        fuses ``e_i`` of these frames, its student embedding."""
        if self.context_module is not None and self.context_use == "aware":
            current = self.context_module(frames, frame_padding_mask)  # e_i
            return replace(self.context_head(frames, frame_padding_mask, current.unsqueeze(1)), student_embedding=current)
        return self.context_head(frames, frame_padding_mask, context, context_padding_mask)

    def forward(
        self,
        source,
        padding_mask,
        context=None,
        context_padding_mask=None,
        neighbour_source=None,
        neighbour_padding_mask=None,
        neighbour_owner=None,
        neighbour_embedding=None,
        return_context_input=False,
        **kwargs,
    ):
        """fairseq's encoder output, plus ``student_embedding`` and ``teacher_embedding``.

        Audio context takes the neighbours' audio (``neighbour_source``, encoded here) or
        their ``e_j`` already computed (``neighbour_embedding`` ``(batch, D)``: the sequential
        pass's cached path, :meth:`neighbour_context_from_frames`). With
        ``return_context_input`` the output also holds ``context_input``: the frames the
        context head received ``(batch, frame, dim)`` and their padding mask, the input
        of the context module had these utterances been someone's neighbours."""
        if self.context_head is None:
            return super().forward(source, padding_mask, **kwargs)
        teacher_embedding = None
        if self.context_module is not None:  # audio context: e_j of the neighbours
            if neighbour_embedding is not None:
                teacher_embedding = neighbour_embedding
            elif neighbour_source is not None:
                teacher_embedding = self.neighbour_context(neighbour_source, neighbour_padding_mask, neighbour_owner, source.size(0))
            elif self.context_use == "injection":
                raise ValueError(
                    "context_source=audio with context_use=injection needs the neighbours' audio: "
                    "give the task an utterance_table"
                )
            if self.context_use == "injection":
                context, context_padding_mask = teacher_embedding.unsqueeze(1), None
        fuse = partial(self.fuse_context, context=context, context_padding_mask=context_padding_mask)
        context_input = []
        if return_context_input:
            fuse = partial(_keeping_input, fuse, context_input)
        fused, frame_padding_mask, layer_results, head = self.encode_at_context_depth(source, padding_mask, fuse, **kwargs)
        output = {
            "encoder_out": self.proj(fused) if self.proj is not None else fused,  # T x B x (V or dim)
            "padding_mask": frame_padding_mask,  # B x T
            "layer_results": layer_results,
            "student_embedding": head.student_embedding,  # e_hat / e_i, or None
            # audio context: e_j of the neighbours (the loss's target for aware models)
            "teacher_embedding": teacher_embedding if self.context_use == "aware" else None,
        }
        if return_context_input:
            output["context_input"] = context_input[0]
        return output


def _keeping_input(fuse, kept: list, frames, frame_padding_mask):
    """``fuse(frames, frame_padding_mask)``, keeping its input in ``kept``."""
    kept.append(_FramesAtDepth(frames, frame_padding_mask))
    return fuse(frames, frame_padding_mask)


@register_model("wav2vec2_context_ctc", dataclass=Wav2Vec2ContextCtcConfig)
class Wav2VecContextCtc(Wav2VecCtc):
    """wav2vec2 + CTC with an optional context head (systems A, C, D and E)."""

    @classmethod
    def build_model(cls, cfg: Wav2Vec2ContextCtcConfig, task):
        return cls(cfg, Wav2VecContextEncoder(cfg, len(task.target_dictionary)))
