"""The ``alpha * L_context`` term shared by every context criterion, and its option."""

from dataclasses import dataclass, field

from fairseq import utils
from fairseq.dataclass import FairseqDataclass
from fairseq.logging import metrics

from ..modules.losses import context_l2_loss


@dataclass
class ContextLossConfig(FairseqDataclass):
    """The option every context criterion shares (a mixin: list it first among the bases so
    ``context_alpha`` comes after the task loss's own options)."""

    context_alpha: float = field(
        default=10.0,
        metadata={
            "help": "weight alpha of the context loss, L = L_task + alpha * ||e_teacher - e_hat||^2 "
            "(L_task: CTC or cross-entropy; GCAF Eq. 2, CA Eq. 2; the papers' best: 10). "
            "Used by context_use=aware models"
        },
    )


def add_context_term(loss, net_output, sample, model, alpha: float, logging_output: dict):
    """``loss + alpha * sum over utterances with a teacher of ||e_teacher - e_hat||^2``.

    The teacher is the store's embedding (text context, detached) or the model's own ``e_j``
    of the neighbours (audio context, CA Eq. 2, gradient to both sides). Models without a
    student (``none``, ``injection``) return ``loss`` unchanged. An aware model training
    without teacher embeddings is an error (a missing store or utterance table would
    otherwise silently turn the context loss off); in validation the term is just skipped.
    Logs ``context_loss`` (sum) and ``context_count`` (utterances with a teacher).
    """
    student_embedding = net_output.get("student_embedding")
    if student_embedding is None:
        return loss
    audio_teacher = net_output.get("teacher_embedding")
    store_teacher = sample["net_input"].get("context")
    if audio_teacher is None and store_teacher is None:
        if model.training and alpha != 0:
            raise ValueError(
                "context_use=aware is training without teacher embeddings: set task.context_store "
                "(text context) or task.utterance_table (audio context) for the training split"
            )
        return loss
    has_teacher = sample["context_present"]
    if audio_teacher is not None:
        per_utterance = context_l2_loss(audio_teacher, student_embedding, weight=has_teacher, detach_teacher=False)
    else:
        per_utterance = context_l2_loss(store_teacher[:, 0], student_embedding, weight=has_teacher)
    context_loss = per_utterance.sum()
    logging_output["context_loss"] = utils.item(context_loss.data)
    logging_output["context_count"] = int(has_teacher.sum())
    return loss + alpha * context_loss


def reduce_context_metrics(logging_outputs) -> None:
    """``context_loss``: mean squared distance per utterance that has a teacher."""
    context_count = sum(log.get("context_count", 0) for log in logging_outputs)
    if context_count > 0:
        context_loss_sum = utils.item(sum(log.get("context_loss", 0) for log in logging_outputs))
        metrics.log_scalar("context_loss", context_loss_sum / context_count, context_count, round=4)
