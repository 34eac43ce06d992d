"""The cross-attention's single-key shortcut: with one context vector per utterance ([CLS]
stores, a student's e_hat) ``CA(Z, e) = out(value(e))`` for every frame, computed once per
utterance. Outputs and gradients equal the general path's; query and key keep a (zero)
gradient, so PyTorch DDP without find_unused_parameters accepts the model."""

import copy

import pytest
import torch
import torch.distributed as dist
from torch import nn

from gcaf_fairseq.modules import ContextCrossAttention, ContextHead, ContextStudent

B, T, C, E, D = 3, 9, 16, 12, 4


def pair_of_heads(aware: bool):
    """The same head twice (same weights): one with the shortcut, one on the general path."""
    torch.manual_seed(0)
    head = ContextHead(ContextCrossAttention(C, E, D), ContextStudent(C, E) if aware else None)
    general = copy.deepcopy(head)
    general.fusion.single_key_shortcut = False
    return head, general


def inputs(context_len=1):
    torch.manual_seed(1)
    frames = torch.randn(B, T, C)
    padding_mask = torch.arange(T).unsqueeze(0) >= torch.tensor([9, 6, 2]).unsqueeze(1)
    context = torch.randn(B, context_len, E)
    return frames, padding_mask, context


def outputs_and_gradients(head, frames, padding_mask, context, context_padding_mask):
    frames = frames.clone().requires_grad_(True)
    out = head(frames, padding_mask, context, context_padding_mask)
    # a loss that weighs every frame differently: a per-frame difference would show
    weights = torch.linspace(0.5, 2.0, frames.numel() // frames.size(-1)).view(B, T, 1)
    loss = (out.frames * weights).pow(2).sum()
    if out.student_embedding is not None:
        loss = loss + out.student_embedding.pow(2).sum()
    loss.backward()
    gradients = {name: parameter.grad for name, parameter in head.named_parameters()}
    return out.frames.detach(), frames.grad, gradients


@pytest.mark.parametrize("aware", [False, True], ids=["injection (C, D)", "aware (E)"])
def test_the_shortcut_gives_the_general_paths_outputs_and_gradients(aware):
    head, general = pair_of_heads(aware)
    frames, padding_mask, context = inputs()
    absent = torch.tensor([[False], [True], [False]])  # a masked [CLS] row: no context there
    fast = outputs_and_gradients(head, frames, padding_mask, context, None if aware else absent)
    slow = outputs_and_gradients(general, frames, padding_mask, context, None if aware else absent)
    torch.testing.assert_close(fast[0], slow[0])
    torch.testing.assert_close(fast[1], slow[1])
    assert fast[2].keys() == slow[2].keys()
    for name in slow[2]:
        # None would be a parameter left out of the graph: DDP would wait for it
        assert fast[2][name] is not None and slow[2][name] is not None, name
        torch.testing.assert_close(fast[2][name], slow[2][name], msg=name)
    # with one key the query and key get exactly zero, on both paths
    for name in ("fusion.query.weight", "fusion.key.weight"):
        assert torch.equal(fast[2][name], torch.zeros_like(fast[2][name]))
    if not aware:
        torch.testing.assert_close(fast[0][1], frames[1])  # the masked row: Z~ = Z


def test_the_shortcut_does_not_compute_per_frame_queries():
    head, general = pair_of_heads(aware=False)
    frames, padding_mask, context = inputs()
    seen = {}

    def record(name):
        def hook(_module, args, _output):
            seen[name] = args[0].shape
        return hook

    for name, module in (("fast", head), ("general", general)):
        module.fusion.query.register_forward_hook(record(name))
        module(frames, padding_mask, context)
    assert seen == {"fast": (B, C), "general": (B, T, C)}  # one query per utterance, not per frame


def test_a_sequence_context_takes_the_general_path():
    head, general = pair_of_heads(aware=False)
    frames, padding_mask, context = inputs(context_len=4)
    context_padding_mask = torch.tensor([[False] * 4, [False, False, True, True], [True] * 4])
    out = head(frames, padding_mask, context, context_padding_mask).frames
    torch.testing.assert_close(out, general(frames, padding_mask, context, context_padding_mask).frames)
    added = out - frames
    assert not torch.allclose(added[0, 0], added[0, 1])  # several keys: the frames differ
    torch.testing.assert_close(out[2], frames[2])  # no key: the identity


def test_checkpoints_load_both_ways():
    head, general = pair_of_heads(aware=True)
    assert list(head.state_dict()) == list(general.state_dict())
    general.load_state_dict(head.state_dict())


def test_pytorch_ddp_without_find_unused_parameters_accepts_the_aware_head(tmp_path):
    """fairseq's pytorch_ddp wraps the model with find_unused_parameters=False: a parameter
    without a gradient fails the second step (seen with one process here, gloo on CPU)."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        head, _ = pair_of_heads(aware=True)
        model = nn.parallel.DistributedDataParallel(head, find_unused_parameters=False)
        frames, padding_mask, _ = inputs()
        for _ in range(3):
            out = model(frames, padding_mask)
            (out.frames.pow(2).sum() + out.student_embedding.pow(2).sum()).backward()
    finally:
        dist.destroy_process_group()
