"""``wav2vec2_context_seq_cls``: utterance classification (SLUE sentiment) with a context head.

wav2vec2 encoder -> context head on the frames (same options as the CTC model) ->
self-attention pooling -> dropout, linear, GELU, dropout, linear to the label count
(SLUE-toolkit's sentiment model).
"""

from dataclasses import dataclass, field
from typing import Optional

from fairseq.models import BaseFairseqModel, register_model
from fairseq.models.wav2vec.wav2vec2_asr import Wav2Vec2AsrConfig
from torch import nn

from ..modules import AttentionPooling
from .context_config import ContextModelConfig
from .wav2vec2_context_ctc import Wav2VecContextEncoder


@dataclass
class Wav2Vec2ContextSeqClsConfig(Wav2Vec2AsrConfig, ContextModelConfig):
    classifier_dropout: float = field(default=0.1, metadata={"help": "dropout before each classifier layer"})
    classifier_hidden_dim: Optional[int] = field(
        default=None, metadata={"help": "hidden size of the classifier (default: the pooled size)"}
    )


class SequenceClassifier(nn.Module):
    """Pooled ``(batch, dim)`` -> ``(batch, num_labels)`` logits."""

    def __init__(self, input_dim: int, hidden_dim: int, num_labels: int, dropout: float):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(input_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_dim, num_labels)
        )

    def forward(self, pooled):
        return self.layers(pooled)


@register_model("wav2vec2_context_seq_cls", dataclass=Wav2Vec2ContextSeqClsConfig)
class Wav2VecContextSeqCls(BaseFairseqModel):
    def __init__(self, cfg: Wav2Vec2ContextSeqClsConfig, encoder: Wav2VecContextEncoder, num_labels: int):
        super().__init__()
        self.cfg = cfg
        self.w2v_encoder = encoder
        dim = encoder.output_dim
        self.pooling = AttentionPooling(dim)
        self.classifier = SequenceClassifier(dim, cfg.classifier_hidden_dim or dim, num_labels, cfg.classifier_dropout)

    @classmethod
    def build_model(cls, cfg: Wav2Vec2ContextSeqClsConfig, task):
        label_names = getattr(task, "label_names", None)
        if not label_names:
            raise ValueError("wav2vec2_context_seq_cls needs a task with label names (labels.{labels}.txt)")
        return cls(cfg, Wav2VecContextEncoder(cfg, output_size=None), len(label_names))

    def forward(self, source, padding_mask=None, **kwargs):
        encoded = self.w2v_encoder(source, padding_mask, **kwargs)
        frames = encoded["encoder_out"].transpose(0, 1)  # B x T x dim
        pooled = self.pooling(frames, encoded["padding_mask"])
        return {
            "logits": self.classifier(pooled),  # B x num_labels
            "student_embedding": encoded.get("student_embedding"),
            "teacher_embedding": encoded.get("teacher_embedding"),
            "padding_mask": encoded["padding_mask"],
        }
