"""E at depth (``context_use=aware``, text context, ``context_layer=k``): the student pools the
frames that enter transformer layer k, its e_hat is fused there, and the teacher (the store's
embedding) enters the loss only, detached."""

import pytest
import torch
from conftest import TEXT_DIM, build, make_task
from omegaconf import OmegaConf

from gcaf_fairseq.criterions import CtcContextCriterion, CtcContextCriterionConfig
from gcaf_fairseq.modules.losses import context_l2_loss

DEPTH = 1  # the tiny wav2vec2 has 2 transformer layers: context before the last one


def _aware(corpus, w2v_checkpoint, context_dir, **options):
    task = make_task(corpus, context_store=str(context_dir / "{split}.prev.cls"))
    model = build(task, w2v_checkpoint, corpus, context_source="text", context_use="aware", **options)
    task.load_dataset("test")
    dataset = task.datasets["test"]
    batch = dataset.collater([dataset[i] for i in range(4)])
    return task, model, batch


def _criterion(task, alpha=2.0):
    return CtcContextCriterion(
        OmegaConf.structured(CtcContextCriterionConfig(sentence_avg=True, context_alpha=alpha, zero_infinity=True)), task
    )


def _layer_io(layer):
    """Hooks recording what ``layer`` receives before the model's own context hook has run
    (registered first, so it runs first) and what it finally runs on (after every pre-hook)."""
    seen = {}

    def before(module, args, kwargs):
        seen["before"] = args[0].detach().clone()  # (frame, batch, dim)
        seen["padding_mask"] = kwargs.get("self_attn_padding_mask")

    def after(module, args, kwargs, output):
        seen["after"] = args[0].detach().clone()

    handles = [
        layer.register_forward_pre_hook(before, with_kwargs=True),
        layer.register_forward_hook(after, with_kwargs=True),
    ]
    return seen, handles


def test_the_student_pools_the_frames_at_the_context_depth_and_its_e_hat_is_fused_there(corpus, w2v_checkpoint, context_dir):
    _, model, batch = _aware(corpus, w2v_checkpoint, context_dir, context_layer=DEPTH)
    encoder = model.w2v_encoder
    assert encoder.context_layer == DEPTH
    seen, handles = _layer_io(encoder.w2v_model.encoder.layers[DEPTH])
    model.eval()
    with torch.no_grad():
        out = model(**batch["net_input"])
    for handle in handles:
        handle.remove()
    frames = seen["before"].transpose(0, 1)  # (batch, frame, dim): the input of layer k
    head = encoder.context_head
    with torch.no_grad():
        e_hat = head.student(frames, seen["padding_mask"])
        fused = head.fusion(frames, e_hat.unsqueeze(1), None)
    assert out["student_embedding"].shape == (4, TEXT_DIM)
    assert torch.equal(out["student_embedding"], e_hat)  # pooled from the frames at depth k
    assert torch.equal(seen["after"].transpose(0, 1), fused)  # and fused there
    assert not torch.equal(fused, frames)
    assert out["encoder_out"].size(1) == 4  # T x B x V (the layers see T padded to an even length)
    assert out["teacher_embedding"] is None  # text context: the teacher comes from the store


def test_the_teacher_enters_the_loss_only(corpus, w2v_checkpoint, context_dir):
    _, model, batch = _aware(corpus, w2v_checkpoint, context_dir, context_layer=DEPTH)
    model.eval()
    with torch.no_grad():
        given = model(**batch["net_input"])
        other = dict(batch["net_input"], context=torch.randn_like(batch["net_input"]["context"]))
        changed = model(**other)
        without = model(**{k: v for k, v in batch["net_input"].items() if k not in ("context", "context_padding_mask")})
    for output in (changed, without):
        assert torch.equal(given["encoder_out"], output["encoder_out"])
        assert torch.equal(given["student_embedding"], output["student_embedding"])


def test_at_depth_the_student_gets_gradient_the_teacher_none(corpus, w2v_checkpoint, context_dir):
    task, model, batch = _aware(corpus, w2v_checkpoint, context_dir, context_layer=DEPTH)
    teacher = batch["net_input"]["context"].clone().requires_grad_(True)
    batch["net_input"]["context"] = teacher
    model.train()
    loss, _, log = _criterion(task)(model, batch)
    assert log["context_count"] > 0 and log["context_loss"] > 0
    loss.backward()
    head = model.w2v_encoder.context_head
    assert teacher.grad is None  # detached: no gradient reaches the teacher
    assert head.student.fc.weight.grad.abs().sum() > 0
    assert head.student.pool.parameters().__next__().grad.abs().sum() > 0
    assert head.fusion.value.weight.grad.abs().sum() > 0


def test_at_depth_the_context_loss_reaches_only_the_layers_below_the_student(corpus, w2v_checkpoint, context_dir):
    """L_context alone: e_hat depends on the layers below k and on nothing above it."""
    _, model, batch = _aware(corpus, w2v_checkpoint, context_dir, context_layer=DEPTH)
    model.eval()  # no masking, no dropout: the gradient pattern is the graph's
    out = model(**batch["net_input"])
    context_loss = context_l2_loss(batch["net_input"]["context"][:, 0], out["student_embedding"], weight=batch["context_present"])
    context_loss.sum().backward()
    layers = model.w2v_encoder.w2v_model.encoder.layers
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in layers[DEPTH - 1].parameters() if p.requires_grad)
    assert all(p.grad is None for p in layers[DEPTH].parameters())
    assert all(p.grad is None for p in model.w2v_encoder.context_head.fusion.parameters())
    assert model.w2v_encoder.proj.weight.grad is None
    assert model.w2v_encoder.context_head.student.fc.weight.grad.abs().sum() > 0


def test_e_at_the_top_layer_is_the_default_in_loss_and_gradients_exactly(corpus, w2v_checkpoint, context_dir):
    task, default, batch = _aware(corpus, w2v_checkpoint, context_dir)
    _, top, _ = _aware(corpus, w2v_checkpoint, context_dir, context_layer=2)  # 2 layers: the output
    assert top.w2v_encoder.context_layer is None
    criterion = _criterion(task)
    results = []
    for model in (default, top):
        model.train()
        torch.manual_seed(3)
        loss, _, log = criterion(model, batch)
        loss.backward()
        results.append((loss.detach(), log, {name: p.grad for name, p in model.named_parameters()}))
    (loss_a, log_a, grads_a), (loss_b, log_b, grads_b) = results
    assert torch.equal(loss_a, loss_b)
    assert log_a["context_loss"] == log_b["context_loss"] and log_a["ctc_loss"] == log_b["ctc_loss"]
    assert list(grads_a) == list(grads_b)
    for name in grads_a:
        a, b = grads_a[name], grads_b[name]
        assert (a is None) == (b is None), name
        if a is not None:
            assert torch.equal(a, b), name


@pytest.mark.parametrize("context_layer", [0, 1, -1])
def test_e_at_every_depth_keeps_the_state_dict_keys(corpus, w2v_checkpoint, context_dir, context_layer):
    _, default, _ = _aware(corpus, w2v_checkpoint, context_dir)
    _, deep, _ = _aware(corpus, w2v_checkpoint, context_dir, context_layer=context_layer)
    assert list(default.state_dict()) == list(deep.state_dict())
    assert all(a.shape == b.shape for a, b in zip(default.state_dict().values(), deep.state_dict().values()))
