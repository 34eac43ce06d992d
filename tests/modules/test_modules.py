"""The pure-torch building blocks against the papers' equations."""

import math
import pathlib

import pytest
import torch

from gcaf_fairseq.modules import (
    AttentionPooling,
    AudioContext,
    ConcatFusion,
    ContextCrossAttention,
    ContextHead,
    ContextStudent,
    context_l2_loss,
    join_neighbour_frames,
)

torch.manual_seed(0)
B, T, C, E, D = 3, 7, 16, 12, 4


def built_head(context_use, context_fusion):
    """A ContextHead assembled from its parts, as ``build_context_head`` does."""
    student = ContextStudent(C, E) if context_use == "aware" else None
    fusion = ContextCrossAttention(C, E, D) if context_fusion == "cross_attention" else ConcatFusion(C, D, E)
    return ContextHead(fusion, student)


def frames_and_mask():
    frames = torch.randn(B, T, C)
    lengths = torch.tensor([7, 5, 2])
    padding_mask = torch.arange(T).unsqueeze(0) >= lengths.unsqueeze(1)
    return frames, padding_mask


def test_attention_pooling_is_a_masked_softmax_weighted_sum():
    pool = AttentionPooling(C)
    frames, padding_mask = frames_and_mask()
    pooled = pool(frames, padding_mask)
    assert pooled.shape == (B, C)
    for b in range(B):
        valid = frames[b][~padding_mask[b]]
        weights = torch.softmax(pool.score(valid).squeeze(-1), dim=0)
        torch.testing.assert_close(pooled[b], (weights.unsqueeze(-1) * valid).sum(0))


def test_attention_pooling_ignores_padded_frames_and_empty_rows_pool_to_zero():
    pool = AttentionPooling(C)
    frames, padding_mask = frames_and_mask()
    changed = frames.clone()
    changed[padding_mask] = 1e4
    torch.testing.assert_close(pool(frames, padding_mask), pool(changed, padding_mask))
    all_padding = torch.ones(B, T, dtype=torch.bool)
    assert torch.equal(pool(frames, all_padding), torch.zeros(B, C))


def test_cross_attention_matches_gcaf_eq1_with_a_sequence_context():
    attention = ContextCrossAttention(C, E, attention_dim=D)
    frames, _ = frames_and_mask()
    context = torch.randn(B, 5, E)
    context_padding_mask = torch.tensor([[False] * 5, [False, False, True, True, True], [False] + [True] * 4])
    fused = attention(frames, context, context_padding_mask)
    assert fused.shape == (B, T, C)
    for b in range(B):
        keys_values = context[b][~context_padding_mask[b]]
        q = attention.query(frames[b])
        k = attention.key(keys_values)
        v = attention.value(keys_values)
        weights = torch.softmax(q @ k.T / math.sqrt(D), dim=-1)
        expected = frames[b] + attention.out(weights @ v)  # Z~ = CA(Z, e) + Z
        torch.testing.assert_close(fused[b], expected)


def test_cross_attention_ignores_padded_context_positions():
    attention = ContextCrossAttention(C, E, attention_dim=D)
    frames, _ = frames_and_mask()
    context = torch.randn(B, 4, E)
    mask = torch.tensor([[False, False, True, True]] * B)
    changed = context.clone()
    changed[:, 2:] = 100.0
    torch.testing.assert_close(attention(frames, context, mask), attention(frames, changed, mask))


def test_single_key_cross_attention_adds_one_vector_per_utterance():
    attention = ContextCrossAttention(C, E, attention_dim=D)
    frames, _ = frames_and_mask()
    cls = torch.randn(B, 1, E)
    added = attention(frames, cls) - frames
    # One key: the weight is 1 for every frame, so every frame gets the same vector ...
    torch.testing.assert_close(added, added[:, :1].expand_as(added))
    # ... which is out(value(e)).
    torch.testing.assert_close(added[:, 0], attention.out(attention.value(cls[:, 0])))
    assert torch.equal(attention.attention_weights(frames, cls), torch.ones(B, T, 1))


def test_cross_attention_with_no_context_key_is_the_identity():
    attention = ContextCrossAttention(C, E, attention_dim=D)
    frames, _ = frames_and_mask()
    context = torch.randn(B, 2, E)
    empty = torch.ones(B, 2, dtype=torch.bool)
    fused = attention(frames, context, empty)
    assert not torch.isnan(fused).any()
    torch.testing.assert_close(fused, frames)


def test_concat_fusion_appends_the_projected_vector_to_every_frame():
    fusion = ConcatFusion(C, D, context_embed_dim=E)
    frames, _ = frames_and_mask()
    cls = torch.randn(B, 1, E)
    fused = fusion(frames, cls)
    assert fused.shape == (B, T, C + D)
    assert torch.equal(fused[..., :C], frames)
    torch.testing.assert_close(fused[..., C:], fusion.project(cls[:, 0]).unsqueeze(1).expand(B, T, D))
    absent = torch.tensor([[False], [True], [False]])
    assert torch.equal(fusion(frames, cls, absent)[1, :, C:], torch.zeros(T, D))
    with pytest.raises(ValueError, match="cross_attention for sequences"):
        fusion(frames, torch.randn(B, 3, E))


def test_concat_fusion_without_projection_takes_a_d_dim_vector():
    fusion = ConcatFusion(C, D)
    frames, _ = frames_and_mask()
    vector = torch.randn(B, 1, D)
    assert torch.equal(fusion(frames, vector)[..., C:], vector.expand(B, T, D))
    assert sum(p.numel() for p in fusion.parameters()) == 0


def test_context_l2_loss_is_the_squared_norm_per_utterance():
    teacher = torch.randn(B, E)
    student = torch.randn(B, E)
    loss = context_l2_loss(teacher, student)
    torch.testing.assert_close(loss, ((teacher - student) ** 2).sum(-1))
    weighted = context_l2_loss(teacher, student, weight=torch.tensor([True, False, True]))
    assert weighted[1] == 0 and weighted[0] == loss[0]
    with pytest.raises(ValueError, match="differ in shape"):
        context_l2_loss(teacher, student[:, :-1])


def test_no_gradient_reaches_the_teacher_and_the_student_gets_one():
    head = built_head("aware", "cross_attention")
    frames, padding_mask = frames_and_mask()
    frames.requires_grad_(True)
    teacher = torch.randn(B, E, requires_grad=True)
    out = head(frames, padding_mask)
    context_l2_loss(teacher, out.student_embedding).sum().backward()
    assert teacher.grad is None
    assert head.student.fc.weight.grad is not None and head.student.fc.weight.grad.abs().sum() > 0
    assert head.student.pool.score.weight.grad.abs().sum() > 0
    assert frames.grad.abs().sum() > 0


def test_aware_head_fuses_its_student_and_ignores_the_teacher():
    head = built_head("aware", "cross_attention")
    frames, padding_mask = frames_and_mask()
    with_teacher = head(frames, padding_mask, context=torch.randn(B, 1, E))
    without = head(frames, padding_mask)
    torch.testing.assert_close(with_teacher.frames, without.frames)
    torch.testing.assert_close(without.frames, head.fusion(frames, without.student_embedding.unsqueeze(1)))
    assert without.student_embedding.shape == (B, E)


def test_injection_head_needs_a_context():
    head = built_head("injection", "cross_attention")
    frames, padding_mask = frames_and_mask()
    assert head(frames, padding_mask, context=torch.randn(B, 1, E)).student_embedding is None
    with pytest.raises(ValueError, match="context_store"):
        head(frames, padding_mask)


def test_head_sizes_are_the_modules_sizes():
    cross = built_head("aware", "cross_attention")
    student = (C + 1) + (C * E + E)
    attention = (C * D + D) + 2 * (E * D + D) + (D * C + C)
    assert sum(p.numel() for p in cross.parameters()) == student + attention
    concat = built_head("injection", "concat")
    assert concat.output_dim == C + D
    assert sum(p.numel() for p in concat.parameters()) == E * D + D


def test_audio_context_pools_each_utterances_neighbours_joined_over_time():
    module = AudioContext(C, D)
    frames, padding_mask = frames_and_mask()  # three neighbours of 7, 5 and 2 frames
    owner = torch.tensor([2, 0, 2])  # utterance 1 has none
    joined, joined_padding_mask = join_neighbour_frames(frames, padding_mask, owner, batch_size=3)
    assert joined.shape == (3, 9, C) and joined_padding_mask.sum(1).tolist() == [4, 9, 0]
    torch.testing.assert_close(joined[2], torch.cat([frames[0], frames[2, :2]]))  # in the given order
    e_j = module.from_neighbours(frames, padding_mask, owner, batch_size=3)
    assert e_j.shape == (3, D) and torch.equal(e_j[1], torch.zeros(D))  # no neighbour: zero
    torch.testing.assert_close(e_j[0], module(frames[1:2, :5])[0])  # e = FC(attention_pool(Z))
    torch.testing.assert_close(e_j[2], module(joined[2:3])[0])
    assert torch.equal(module.no_neighbours(frames, 3), torch.zeros(3, D))
    # the same module gives e_i of the current segments
    torch.testing.assert_close(module(frames, padding_mask), module.fc(module.pool(frames, padding_mask)))


def test_building_blocks_do_not_import_fairseq():
    folder = pathlib.Path(__file__).resolve().parents[2] / "gcaf_fairseq" / "modules"
    for source in folder.glob("*.py"):
        imports = [line for line in source.read_text().splitlines() if line.lstrip().startswith(("import ", "from "))]
        assert not [line for line in imports if "fairseq" in line.replace("gcaf_fairseq", "")], source
