"""``wav2vec2_context_ctc``: fairseq's wav2vec2 CTC fine-tuning model plus a context head."""

import contextlib
from dataclasses import dataclass

import torch
from fairseq.models import register_model
from fairseq.models.wav2vec.wav2vec2_asr import Linear, Wav2Vec2CtcConfig, Wav2VecCtc, Wav2VecEncoder

from ..modules import ContextStudent
from .context_config import ContextModelConfig, build_context_head


@dataclass
class Wav2Vec2ContextCtcConfig(Wav2Vec2CtcConfig, ContextModelConfig):
    pass


class _AtContextDepth:
    """Applies ``function(frames, frame_padding_mask) -> frames`` once, to the input of the
    first transformer layer from ``context_layer`` on that runs in this forward pass.

    A layer that layerdrop skips is the identity, so applying it before the next layer that
    runs is exactly applying it before layer ``context_layer``. Registered as a forward
    pre-hook on those layers for one forward pass only. Frames are ``(frame, batch, dim)``
    as inside fairseq's layer loop.
    """

    def __init__(self, function):
        self.function = function
        self.applied = False

    def apply(self, frames, frame_padding_mask):
        self.applied = True
        return self.function(frames, frame_padding_mask)

    def before_layer(self, layer, args, kwargs):
        if self.applied:
            return None
        return (self.apply(args[0], kwargs.get("self_attn_padding_mask")),) + tuple(args[1:]), kwargs


class Wav2VecContextEncoder(Wav2VecEncoder):
    """fairseq's :class:`Wav2VecEncoder` with the context head between the encoder output
    ``Z`` (after ``final_dropout``) and the output layer ``proj`` or, with ``context_layer``,
    before a transformer layer.

    With ``context_source=none`` there is no head and :meth:`forward` is fairseq's own, so
    the model is parameter for parameter and output for output ``wav2vec_ctc``.
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
        self.context_layer = self._resolve_context_layer(cfg)
        self.context_use = getattr(cfg, "context_use", "injection")
        self.cfg_neighbour_grad = getattr(cfg, "context_neighbour_grad", True)
        # CA's context module e = FC(attention_pool(Z)), D-dim: e_j of the neighbours, e_i of
        # the current segment (aware).
        self.context_module = (
            ContextStudent(frame_dim, cfg.context_dim) if getattr(cfg, "context_source", "none") == "audio" else None
        )

    def _resolve_context_layer(self, cfg):
        """``None`` for fusion at the output (the default, and ``k`` = number of layers)."""
        k = getattr(cfg, "context_layer", None)
        if k is None or self.context_head is None:
            return None
        layers = getattr(getattr(self.w2v_model, "encoder", None), "layers", None)
        if layers is None:
            raise ValueError("context_layer needs a wav2vec2 transformer encoder")
        if not 0 <= k <= len(layers):
            raise ValueError(f"context_layer={k}: the encoder has {len(layers)} layers (0..{len(layers)})")
        if k == len(layers):
            return None
        if self.output_dim != self.frame_dim:
            raise ValueError("context_fusion=concat widens the frames: it can only sit at the output (context_layer unset)")
        return k

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
        """Run wav2vec2 and apply ``function`` at the context depth: to the output after
        ``final_dropout`` (the default), or before transformer layer ``context_layer``.
        Returns the frames ``(frame, batch, dim)`` after ``final_dropout``, the frame padding
        mask and the layer results."""
        at_depth = _AtContextDepth(function)
        if self.context_layer is None:
            frames, frame_padding_mask, layer_results = self.encode(source, padding_mask, **kwargs)
            return at_depth.apply(self.final_dropout(frames), frame_padding_mask), frame_padding_mask, layer_results
        layers = self.w2v_model.encoder.layers[self.context_layer:]
        hooks = [layer.register_forward_pre_hook(at_depth.before_layer, with_kwargs=True) for layer in layers]
        try:
            frames, frame_padding_mask, layer_results = self.encode(source, padding_mask, **kwargs)
        finally:
            for hook in hooks:
                hook.remove()
        if not at_depth.applied:  # layerdrop skipped every layer from context_layer on
            frames = at_depth.apply(frames, frame_padding_mask)
        return self.final_dropout(frames), frame_padding_mask, layer_results

    def neighbour_context(self, neighbour_source, neighbour_padding_mask, neighbour_owner, batch_size):
        """CA paper: each neighbour encoded separately by the same wav2vec2 (at the context
        depth), the representations of one utterance's neighbours concatenated over time,
        pooled and projected: ``e_j`` ``(batch, D)``; zero where there is no neighbour."""
        if neighbour_source.size(0) == 0:  # no utterance of the batch has a neighbour
            return neighbour_source.new_zeros(batch_size, self.context_module.fc.out_features)
        captured = {}

        def capture(frames, frame_padding_mask):
            captured["frames"], captured["padding_mask"] = frames, frame_padding_mask
            return frames

        with torch.no_grad() if not self.cfg_neighbour_grad else contextlib.ExitStack():
            self.encode_at_context_depth(neighbour_source, neighbour_padding_mask, capture)
        frames = captured["frames"].transpose(0, 1)  # N x T x C
        valid = ~captured["padding_mask"] if captured["padding_mask"] is not None else torch.ones(frames.shape[:2], dtype=torch.bool, device=frames.device)
        per_utterance = [[] for _ in range(batch_size)]
        for n, owner in enumerate(neighbour_owner.tolist()):
            per_utterance[owner].append(frames[n][valid[n]])
        joined = [torch.cat(parts) if parts else frames.new_zeros(0, frames.size(-1)) for parts in per_utterance]
        longest = max(1, max(len(j) for j in joined))
        padded = frames.new_zeros(batch_size, longest, frames.size(-1))
        padding = torch.ones(batch_size, longest, dtype=torch.bool, device=frames.device)
        for b, utterance_frames in enumerate(joined):
            padded[b, : len(utterance_frames)] = utterance_frames
            padding[b, : len(utterance_frames)] = False
        has_neighbour = ~padding.all(dim=1)
        return self.context_module(padded, padding) * has_neighbour.unsqueeze(1).to(padded.dtype)

    def forward(
        self,
        source,
        padding_mask,
        context=None,
        context_padding_mask=None,
        neighbour_source=None,
        neighbour_padding_mask=None,
        neighbour_owner=None,
        **kwargs,
    ):
        if self.context_head is None:
            return super().forward(source, padding_mask, **kwargs)
        found = {"student_embedding": None, "teacher_embedding": None}
        if self.context_module is not None:  # audio context
            if neighbour_source is not None:
                found["teacher_embedding"] = self.neighbour_context(neighbour_source, neighbour_padding_mask, neighbour_owner, source.size(0))
            elif self.context_use == "injection":
                raise ValueError(
                    "context_source=audio with context_use=injection needs the neighbours' audio: "
                    "give the task an utterance_table"
                )

        def fuse(frames, frame_padding_mask):
            batch_frames = frames.transpose(0, 1)
            given, given_mask = context, context_padding_mask
            if self.context_module is not None:
                if self.context_use == "aware":  # e_i from the current segment
                    found["student_embedding"] = self.context_module(batch_frames, frame_padding_mask)
                    given = found["student_embedding"].unsqueeze(1)
                else:  # e_j from the neighbours
                    given = found["teacher_embedding"].unsqueeze(1)
                given_mask = None
            head = self.context_head(batch_frames, frame_padding_mask, given, given_mask)
            if head.student_embedding is not None:
                found["student_embedding"] = head.student_embedding
            return head.frames.transpose(0, 1)

        fused, frame_padding_mask, layer_results = self.encode_at_context_depth(source, padding_mask, fuse, **kwargs)
        return {
            "encoder_out": self.proj(fused) if self.proj is not None else fused,  # T x B x (V or dim)
            "padding_mask": frame_padding_mask,  # B x T
            "layer_results": layer_results,
            "student_embedding": found["student_embedding"],  # e_hat / e_i, or None
            # audio context: e_j of the neighbours (the loss's target for aware models)
            "teacher_embedding": found["teacher_embedding"] if self.context_use == "aware" else None,
        }


@register_model("wav2vec2_context_ctc", dataclass=Wav2Vec2ContextCtcConfig)
class Wav2VecContextCtc(Wav2VecCtc):
    """wav2vec2 + CTC with an optional context head (systems A, C, D and E)."""

    @classmethod
    def build_model(cls, cfg: Wav2Vec2ContextCtcConfig, task):
        return cls(cfg, Wav2VecContextEncoder(cfg, len(task.target_dictionary)))
