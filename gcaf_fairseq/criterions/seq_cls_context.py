"""``seq_cls_context``: cross-entropy plus ``context_alpha * L_context``, with accuracy and
macro F1 in validation (``best_checkpoint_metric=macro_f1``, maximize)."""

import math
from dataclasses import dataclass

import torch.nn.functional as F
from fairseq import utils
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.logging import metrics
from fairseq.logging.meters import safe_round

from .context_term import ContextLossConfig, add_context_term, reduce_context_metrics

MAX_LOGGED_CLASSES = 64


@dataclass
class SeqClsContextCriterionConfig(ContextLossConfig):
    """``context_alpha`` only: the cross-entropy has no options."""


def macro_f1(true_positives, false_positives, false_negatives) -> float:
    """scikit-learn's macro F1 (labels=None): the mean F1 over the classes that occur in the
    references or the predictions, in percent."""
    scores = []
    for tp, fp, fn in zip(true_positives, false_positives, false_negatives):
        if tp + fp + fn > 0:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return 100.0 * sum(scores) / len(scores) if scores else float("nan")


@register_criterion("seq_cls_context", dataclass=SeqClsContextCriterionConfig)
class SeqClsContextCriterion(FairseqCriterion):
    def __init__(self, cfg: SeqClsContextCriterionConfig, task):
        super().__init__(task)
        self.context_alpha = cfg.context_alpha
        self.num_labels = len(task.label_names)
        if self.num_labels > MAX_LOGGED_CLASSES:
            raise ValueError(f"macro F1 logging supports up to {MAX_LOGGED_CLASSES} classes, got {self.num_labels}")

    def forward(self, model, sample, reduce=True):
        net_output = model(**sample["net_input"])
        logits = net_output["logits"]
        target = sample["target"].view(-1)
        ce_loss = F.cross_entropy(logits.float(), target, reduction="sum")
        sample_size = target.numel()
        logging_output = {
            "ce_loss": utils.item(ce_loss.data),
            "ntokens": sample_size,
            "nsentences": sample_size,
            "sample_size": sample_size,
        }
        loss = add_context_term(ce_loss, net_output, sample, model, self.context_alpha, logging_output)
        logging_output["loss"] = utils.item(loss.data)
        if not model.training:
            predicted = logits.argmax(dim=-1)
            logging_output["ncorrect"] = utils.item((predicted == target).sum())
            for k in range(self.num_labels):
                logging_output[f"_tp_{k}"] = utils.item(((predicted == k) & (target == k)).sum())
                logging_output[f"_fp_{k}"] = utils.item(((predicted == k) & (target != k)).sum())
                logging_output[f"_fn_{k}"] = utils.item(((predicted != k) & (target == k)).sum())
        return loss, sample_size, logging_output

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        total = lambda key: utils.item(sum(log.get(key, 0) for log in logging_outputs))  # noqa: E731
        sample_size = total("sample_size")
        if sample_size == 0:
            return
        metrics.log_scalar("loss", total("loss") / sample_size / math.log(2), sample_size, round=3)
        metrics.log_scalar("ce_loss", total("ce_loss") / sample_size / math.log(2), sample_size, round=3)
        metrics.log_scalar("nsentences", total("nsentences"))
        reduce_context_metrics(logging_outputs)
        if not any("ncorrect" in log for log in logging_outputs):
            return
        metrics.log_scalar("accuracy", 100.0 * total("ncorrect") / sample_size, sample_size, round=2)
        classes = [k for k in range(MAX_LOGGED_CLASSES) if any(f"_tp_{k}" in log for log in logging_outputs)]
        counts = {(kind, k): total(f"_{kind}_{k}") for kind in ("tp", "fp", "fn") for k in classes}
        for (kind, k), value in counts.items():
            metrics.log_scalar(f"_{kind}_{k}", value)
        metrics.log_derived(
            "macro_f1",
            lambda meters: safe_round(
                macro_f1(
                    [meters[f"_tp_{k}"].sum for k in classes],
                    [meters[f"_fp_{k}"].sum for k in classes],
                    [meters[f"_fn_{k}"].sum for k in classes],
                ),
                2,
            ),
        )

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
