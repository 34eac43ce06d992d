"""``ctc_context``: fairseq's CTC loss plus ``context_alpha * L_context``."""

import math
from dataclasses import dataclass

from fairseq import utils
from fairseq.criterions import register_criterion
from fairseq.criterions.ctc import CtcCriterion, CtcCriterionConfig
from fairseq.logging import metrics

from .context_term import ContextLossConfig, add_context_term, reduce_context_metrics


@dataclass
class CtcContextCriterionConfig(ContextLossConfig, CtcCriterionConfig):
    """fairseq's CTC options, then ``context_alpha``."""


class _OutputRecorder:
    """Stands in for the model inside fairseq's CTC criterion and keeps its output, so the
    context loss reuses the same forward pass (and the CTC code stays fairseq's own)."""

    def __init__(self, model):
        self._model = model
        self.net_output = None

    def __call__(self, **net_input):
        self.net_output = self._model(**net_input)
        return self.net_output

    def __getattr__(self, name):
        return getattr(self._model, name)


@register_criterion("ctc_context", dataclass=CtcContextCriterionConfig)
class CtcContextCriterion(CtcCriterion):
    """CTC (fairseq's semantics: zero_infinity, sentence_avg, WER/UER in validation) plus the
    distillation loss of an ``aware`` context model.

    ``L_context`` is the squared L2 norm summed over the embedding dimensions, one value per
    utterance, summed over the batch like the CTC loss; fairseq then divides both by the same
    ``sample_size``. Utterances without a teacher (no previous text) are left out of it.
    Logged: ``loss`` (total), ``ctc_loss`` (both per sample_size, base 2 like fairseq's
    loss) and ``context_loss`` (mean squared distance per utterance that has a teacher).
    """

    def __init__(self, cfg: CtcContextCriterionConfig, task, rdrop_alpha=0.0):
        super().__init__(cfg, task, rdrop_alpha)
        self.context_alpha = cfg.context_alpha

    def forward(self, model, sample, reduce=True, **kwargs):
        recorder = _OutputRecorder(model)
        ctc_loss, sample_size, logging_output = super().forward(recorder, sample, reduce=reduce, **kwargs)
        logging_output["ctc_loss"] = logging_output["loss"]
        loss = add_context_term(ctc_loss, recorder.net_output, sample, model, self.context_alpha, logging_output)
        logging_output["loss"] = utils.item(loss.data)
        return loss, sample_size, logging_output

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        CtcCriterion.reduce_metrics(logging_outputs)
        sample_size = utils.item(sum(log.get("sample_size", 0) for log in logging_outputs))
        ctc_loss_sum = utils.item(sum(log.get("ctc_loss", 0) for log in logging_outputs))
        if sample_size > 0:
            metrics.log_scalar("ctc_loss", ctc_loss_sum / sample_size / math.log(2), sample_size, round=3)
        reduce_context_metrics(logging_outputs)
