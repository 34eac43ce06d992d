"""``wav2vec2_context_ctc``: fairseq's wav2vec2 CTC fine-tuning model plus a context head."""

import contextlib
from dataclasses import dataclass

import torch
from fairseq.models import register_model
from fairseq.models.wav2vec.wav2vec2_asr import Linear, Wav2Vec2CtcConfig, Wav2VecCtc, Wav2VecEncoder

from .context_config import ContextModelConfig, build_context_head


@dataclass
class Wav2Vec2ContextCtcConfig(Wav2Vec2CtcConfig, ContextModelConfig):
    pass


class _LayerInjection:
    """Applies the context head to the input of the first transformer layer, from
    ``context_layer`` on, that runs in this forward pass.

    A layer that layerdrop skips is the identity, so fusing before the next layer that runs
    is exactly fusing before layer ``context_layer``. Registered as a forward pre-hook on
    those layers for one forward pass only.
    """

    def __init__(self, head, context, context_padding_mask):
        self.head = head
        self.context = context
        self.context_padding_mask = context_padding_mask
        self.applied = False
        self.student_embedding = None

    def fuse(self, frames, frame_padding_mask):
        """``frames`` ``(frame, batch, dim)`` as inside fairseq's layer loop."""
        head = self.head(frames.transpose(0, 1), frame_padding_mask, self.context, self.context_padding_mask)
        self.applied = True
        self.student_embedding = head.student_embedding
        return head.frames.transpose(0, 1)

    def before_layer(self, layer, args, kwargs):
        if self.applied:
            return None
        return (self.fuse(args[0], kwargs.get("self_attn_padding_mask")),) + tuple(args[1:]), kwargs


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

    def forward(self, source, padding_mask, context=None, context_padding_mask=None, **kwargs):
        if self.context_head is None:
            return super().forward(source, padding_mask, **kwargs)
        injection = _LayerInjection(self.context_head, context, context_padding_mask)
        if self.context_layer is None:
            frames, frame_padding_mask, layer_results = self.encode(source, padding_mask, **kwargs)
            fused = injection.fuse(self.final_dropout(frames), frame_padding_mask)
        else:
            layers = self.w2v_model.encoder.layers[self.context_layer:]
            hooks = [layer.register_forward_pre_hook(injection.before_layer, with_kwargs=True) for layer in layers]
            try:
                frames, frame_padding_mask, layer_results = self.encode(source, padding_mask, **kwargs)
            finally:
                for hook in hooks:
                    hook.remove()
            if not injection.applied:  # layerdrop skipped every layer from context_layer on
                frames = injection.fuse(frames, frame_padding_mask)
            fused = self.final_dropout(frames)
        return {
            "encoder_out": self.proj(fused) if self.proj is not None else fused,  # T x B x (V or dim)
            "padding_mask": frame_padding_mask,  # B x T
            "layer_results": layer_results,
            "student_embedding": injection.student_embedding,  # B x context_embed_dim, or None
        }


@register_model("wav2vec2_context_ctc", dataclass=Wav2Vec2ContextCtcConfig)
class Wav2VecContextCtc(Wav2VecCtc):
    """wav2vec2 + CTC with an optional context head (systems A, C, D and E)."""

    @classmethod
    def build_model(cls, cfg: Wav2Vec2ContextCtcConfig, task):
        return cls(cfg, Wav2VecContextEncoder(cfg, len(task.target_dictionary)))
