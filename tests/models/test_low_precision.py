"""E's low-precision path (issue 19 §6): fairseq's --fp16 / --bf16 cast the model and every float
tensor of a batch (the teacher embeddings too) to half precision. The student's e_hat, the
cross-attention it feeds and the context loss must not lose the context there: the attention
scores are computed in float32 (a half-precision dot product above 65504 is inf, and the
softmax of [inf] is NaN, which dropped the only key), and the context loss is accumulated in
float32 beside the float32 CTC loss, which fairseq's loss scaler then multiplies."""

import pytest
import torch
from conftest import build, make_task
from omegaconf import OmegaConf

from gcaf_fairseq.criterions import CtcContextCriterion, CtcContextCriterionConfig
from gcaf_fairseq.modules.cross_attention import ContextCrossAttention


def test_a_single_key_is_kept_when_its_half_precision_score_would_overflow():
    attention = ContextCrossAttention(frame_dim=4, context_embed_dim=4, attention_dim=2)
    with torch.no_grad():
        for layer in (attention.query, attention.key, attention.value, attention.out):
            layer.weight.fill_(0.0)
            layer.bias.fill_(0.0)
        attention.query.weight[:, 0] = 300.0  # query . key = 2 x 300 x 400 = 240,000 > 65,504
        attention.key.weight[:, 0] = 400.0
        attention.value.weight[0, 0] = 1.0
        attention.out.weight[1, 0] = 1.0
    frames, context = torch.zeros(1, 3, 4), torch.zeros(1, 1, 4)
    frames[..., 0], context[..., 0] = 1.0, 1.0
    for dtype in (torch.float32, torch.float16):
        module = attention.to(dtype)
        weights = module.attention_weights(frames.to(dtype), context.to(dtype))
        assert weights.dtype == dtype and torch.equal(weights, torch.ones(1, 3, 1, dtype=dtype)), dtype
        fused = module(frames.to(dtype), context.to(dtype))
        assert torch.equal(fused[..., 1], torch.ones(1, 3, dtype=dtype))  # out(value(e)) added to every frame


def _criterion(task, alpha=10.0):
    return CtcContextCriterion(
        OmegaConf.structured(CtcContextCriterionConfig(sentence_avg=True, context_alpha=alpha, zero_infinity=True)), task
    )


def _in(dtype, value):
    """A batch as fairseq's --bf16 hands it over: every floating tensor cast."""
    if torch.is_tensor(value):
        return value.to(dtype) if value.is_floating_point() else value
    if isinstance(value, dict):
        return {key: _in(dtype, item) for key, item in value.items()}
    return value


def test_e_trains_in_bfloat16_with_the_float32_context_loss(corpus, w2v_checkpoint, context_dir):
    task = make_task(corpus, context_store=str(context_dir / "{split}.prev.cls"))
    model = build(task, w2v_checkpoint, corpus, context_source="text", context_use="aware").eval()
    task.load_dataset("test")
    dataset = task.datasets["test"]
    batch = dataset.collater([dataset[i] for i in range(len(dataset))])
    criterion = _criterion(task)
    _, _, full = criterion(model, batch)
    model = model.to(torch.bfloat16)
    loss, _, low = criterion(model, _in(torch.bfloat16, batch))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert low["context_count"] == full["context_count"] > 0
    assert low["context_loss"] == pytest.approx(full["context_loss"], rel=0.05)
    assert low["ctc_loss"] == pytest.approx(full["ctc_loss"], rel=0.05)
    loss.backward()
    student = model.w2v_encoder.context_head.student
    gradients = [parameter.grad for parameter in student.parameters()]
    assert all(gradient is not None and torch.isfinite(gradient).all() and gradient.abs().sum() > 0
               for gradient in gradients)
