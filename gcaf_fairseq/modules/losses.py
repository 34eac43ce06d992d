"""The context loss of both papers."""

import torch


def context_l2_loss(
    teacher_embedding: torch.Tensor,
    student_embedding: torch.Tensor,
    weight: torch.Tensor = None,
    detach_teacher: bool = True,
) -> torch.Tensor:
    """``L_context = ||e_teacher - e_hat||^2`` (GCAF Eq. 2, CA Eq. 2), per utterance.

    The squared L2 norm is summed over the embedding dimensions, exactly as the equation
    is written; the result is one value per utterance, which the criteria sum over the
    batch like fairseq sums the CTC loss, so both share fairseq's normalisation by
    ``sample_size``. The teacher is detached: no gradient reaches it.

    Shapes:
        teacher_embedding, student_embedding: ``(batch, dim)``
        weight: ``(batch,)``, 0 for utterances without a teacher (optional)
        returns: ``(batch,)``
    """
    if teacher_embedding.shape != student_embedding.shape:
        raise ValueError(
            f"teacher embedding {tuple(teacher_embedding.shape)} and student embedding "
            f"{tuple(student_embedding.shape)} differ in shape"
        )
    teacher = teacher_embedding.detach() if detach_teacher else teacher_embedding
    difference = teacher.to(student_embedding.dtype) - student_embedding
    per_utterance = difference.float().pow(2).sum(dim=-1)
    if weight is not None:
        per_utterance = per_utterance * weight.to(per_utterance.dtype)
    return per_utterance
