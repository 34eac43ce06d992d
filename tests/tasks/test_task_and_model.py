"""The fairseq glue in-process: model parity with wav2vec_ctc, the task's store checks,
batches, the CTC generator and the criterion."""

import logging

import numpy as np
import pytest
import torch
from conftest import TEXT_DIM, build, make_task, model_config
from fairseq.models.wav2vec.wav2vec2_asr import Wav2VecCtc

from gcaf_fairseq.criterions import CtcContextCriterion, CtcContextCriterionConfig
from gcaf_fairseq.data.context_dataset import collate_context
from gcaf_fairseq.data.context_store import ContextStore, ContextStoreWriter
from gcaf_fairseq.decoding.ctc_decoders import ViterbiDecoder


def store_template(context_dir, kind="cls"):
    return str(context_dir / f"{{split}}.prev.{kind}")


def first_batch(task, split, size=4):
    dataset = task.datasets[split]
    return dataset.collater([dataset[i] for i in range(min(size, len(dataset)))])


# --- context_source=none is fairseq's wav2vec_ctc ------------------------------------------


@pytest.mark.parametrize("masking", [False, True])
def test_context_source_none_is_wav2vec_ctc_parameter_for_parameter_and_output_for_output(corpus, w2v_checkpoint, monkeypatch, masking):
    options = dict(context_source="none", apply_mask=masking, mask_prob=0.5, mask_length=3)
    task = make_task(corpus)
    torch.manual_seed(3)
    ours = task.build_model(model_config(w2v_checkpoint, corpus, **options))
    torch.manual_seed(3)
    theirs = Wav2VecCtc.build_model(model_config(w2v_checkpoint, corpus, **options), task)
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    assert list(ours_state) == list(theirs_state)
    for name in ours_state:
        assert torch.equal(ours_state[name], theirs_state[name]), name

    # fairseq's compute_mask_indices draws from np.random.default_rng() unseeded: give both
    # models the same draws.
    unseeded = np.random.default_rng
    draws = {"count": 0}

    def seeded_default_rng(seed=None):
        draws["count"] += 1
        return unseeded(seed if seed is not None else 1000 + draws["count"])

    monkeypatch.setattr(np.random, "default_rng", seeded_default_rng)
    task.load_dataset("train")
    batch = first_batch(task, "train")
    for training in (False, True):  # train mode: masking and dropout draw the same numbers
        ours.train(training), theirs.train(training)
        torch.manual_seed(5), np.random.seed(5)
        draws["count"] = 0
        ours_out = ours(**batch["net_input"])["encoder_out"]
        torch.manual_seed(5), np.random.seed(5)
        draws["count"] = 0
        theirs_out = theirs(**batch["net_input"])["encoder_out"]
        assert torch.equal(ours_out, theirs_out)
    if masking:
        assert draws["count"] > 0  # the masks were drawn


def test_e_overhead_over_a_is_the_student_plus_the_cross_attention(corpus, w2v_checkpoint):
    task = make_task(corpus)
    a = build(task, w2v_checkpoint, corpus, context_source="none")
    e = build(task, w2v_checkpoint, corpus, context_source="text", context_use="aware")
    frame_dim, embed_dim, attention_dim = 64, TEXT_DIM, 32
    student = (frame_dim + 1) + (frame_dim * embed_dim + embed_dim)  # pooling scorer + FC
    cross_attention = (frame_dim * attention_dim + attention_dim) + 2 * (embed_dim * attention_dim + attention_dim) + (attention_dim * frame_dim + frame_dim)
    count = lambda model: sum(p.numel() for p in model.parameters())  # noqa: E731
    assert count(e) - count(a) == student + cross_attention
    c = build(task, w2v_checkpoint, corpus, context_source="text", context_use="injection")
    assert count(c) - count(a) == cross_attention
    concat = build(task, w2v_checkpoint, corpus, context_source="text", context_fusion="concat", context_dim=8)
    vocab = len(task.target_dictionary)
    assert count(concat) - count(a) == (embed_dim * 8 + 8) + 8 * vocab  # projection + wider output layer


# --- the task joins the store by utterance id and checks it ----------------------------------


def test_batches_carry_each_utterances_own_context(corpus, w2v_checkpoint, context_dir):
    task = make_task(corpus, context_store=store_template(context_dir))
    build(task, w2v_checkpoint, corpus, context_source="text")
    task.load_dataset("test")
    dataset = task.datasets["test"]
    store = ContextStore.open(context_dir / "test.prev.cls")
    ids = [line.split("\t")[0].rsplit("/", 1)[-1].split(".")[0] for line in (corpus / "test.tsv").read_text().splitlines()[1:]]
    batch = dataset.collater([dataset[i] for i in (3, 1, 0, 2)])
    assert batch["net_input"]["context"].shape == (4, 1, TEXT_DIM)
    for row, index in enumerate(batch["id"].tolist()):
        expected = store.get(ids[index])
        if len(expected):
            assert torch.equal(batch["net_input"]["context"][row, 0], torch.from_numpy(np.array(expected[0], dtype=np.float32)))
            assert batch["context_present"][row]
        else:  # the chapter's first sentence has no previous sentence: zero context
            assert not batch["net_input"]["context"][row].any() and not batch["context_present"][row]
    assert not batch["context_present"].all() and batch["context_present"].any()


def test_sequence_stores_give_padded_contexts_with_a_mask(corpus, w2v_checkpoint, context_dir):
    task = make_task(corpus, context_store=store_template(context_dir, "seq"))
    build(task, w2v_checkpoint, corpus, context_source="text", context_pooling="sequence")
    task.load_dataset("test")
    batch = first_batch(task, "test")
    context, mask = batch["net_input"]["context"], batch["net_input"]["context_padding_mask"]
    lengths = (~mask).sum(-1)
    assert context.shape[1] == int(lengths.max()) and (lengths == 0).sum() == (~batch["context_present"]).sum()
    assert not context[mask].any()


def test_collate_context_pads_and_marks_absent_contexts():
    contexts = [torch.ones(3, 2), torch.zeros(0, 2), torch.full((1, 2), 2.0)]
    context, mask, present = collate_context(contexts, "sequence", 2)
    assert context.shape == (3, 3, 2)
    assert mask.tolist() == [[False, False, False], [True, True, True], [False, True, True]]
    assert present.tolist() == [True, False, True]
    context, mask, present = collate_context([torch.ones(1, 2), torch.zeros(0, 2)], "cls", 2)
    assert context.shape == (2, 1, 2) and not mask.any() and not context[1].any()


def test_missing_ids_fail_with_the_count_and_the_first_ids(corpus, w2v_checkpoint, context_dir, tmp_path):
    source = ContextStore.open(context_dir / "test.prev.cls")
    with ContextStoreWriter(str(tmp_path / "test.partial"), dim=TEXT_DIM, pooling="cls") as writer:
        for utterance_id in source.ids[2:]:
            writer.add(utterance_id, np.array(source.get(utterance_id)))
    task = make_task(corpus, context_store=str(tmp_path / "{split}.partial"))
    build(task, w2v_checkpoint, corpus, context_source="text")
    with pytest.raises(ValueError) as error:
        task.load_dataset("test")
    message = str(error.value)
    assert "2 of 4 utterances" in message and source.ids[0] in message and source.ids[1] in message
    assert "context_missing=zero" in message


def test_context_missing_zero_counts_logs_and_zeroes(corpus, w2v_checkpoint, context_dir, tmp_path, caplog):
    source = ContextStore.open(context_dir / "test.prev.cls")
    with ContextStoreWriter(str(tmp_path / "test.partial"), dim=TEXT_DIM, pooling="cls") as writer:
        for utterance_id in source.ids[1:]:
            writer.add(utterance_id, np.array(source.get(utterance_id)))
    task = make_task(corpus, context_store=str(tmp_path / "{split}.partial"), context_missing="zero")
    build(task, w2v_checkpoint, corpus, context_source="text")
    with caplog.at_level(logging.INFO):
        task.load_dataset("test")
    assert task.context_missing_counts["test"] == 1
    assert "1 missing (zero context)" in caplog.text
    dataset = task.datasets["test"]
    assert len(dataset) == 4  # nothing dropped


@pytest.mark.parametrize(
    "context_options, store_kind, message",
    [
        (dict(context_embed_dim=768), "cls", "holds 384-dim embeddings but the model has context_embed_dim=768"),
        (dict(context_pooling="sequence"), "cls", "holds 'cls' embeddings but the model has context_pooling=sequence"),
        (dict(), "seq", "holds 'sequence' embeddings but the model has context_pooling=cls"),
    ],
)
def test_store_that_does_not_fit_the_model_is_refused(corpus, w2v_checkpoint, context_dir, context_options, store_kind, message):
    task = make_task(corpus, context_store=store_template(context_dir, store_kind))
    build(task, w2v_checkpoint, corpus, context_source="text", **context_options)
    with pytest.raises(ValueError, match=message):
        task.load_dataset("test")


def test_injection_needs_a_store_and_aware_decodes_without_one(corpus, w2v_checkpoint, tmp_path):
    task = make_task(corpus)
    build(task, w2v_checkpoint, corpus, context_source="text")
    with pytest.raises(ValueError, match="context_use=injection needs a context embedding"):
        task.load_dataset("test")
    task = make_task(corpus, context_store=str(tmp_path / "{split}.nothing"))
    build(task, w2v_checkpoint, corpus, context_source="text")
    with pytest.raises(FileNotFoundError, match=r"test\.nothing for split 'test' does not exist"):
        task.load_dataset("test")
    task = make_task(corpus, context_store=str(tmp_path / "{split}.nothing"))
    model = build(task, w2v_checkpoint, corpus, context_source="text", context_use="aware")
    task.load_dataset("test")
    batch = first_batch(task, "test")
    assert "context" not in batch["net_input"]
    model.eval()
    assert model(**batch["net_input"])["encoder_out"].shape[1] == 4


def test_bad_store_template_and_duplicate_manifest_ids(corpus, w2v_checkpoint, context_dir, copy_of):
    task = make_task(corpus, context_store=str(context_dir / "{split}.{kind}"))
    build(task, w2v_checkpoint, corpus, context_source="text")
    with pytest.raises(ValueError, match=r"must be a path with only \{split\}"):
        task.load_dataset("test")
    data = copy_of(corpus, "duplicated")
    for suffix in ("tsv", "ltr"):
        lines = (data / f"test.{suffix}").read_text().splitlines()
        extra = lines[1] if suffix == "tsv" else lines[0]
        (data / f"test.{suffix}").write_text("\n".join(lines + [extra]) + "\n")
    task = make_task(data, context_store=store_template(context_dir))
    build(task, w2v_checkpoint, data, context_source="text")
    with pytest.raises(ValueError, match="utterance ids must be unique"):
        task.load_dataset("test")


def test_a_checkpoints_labels_must_match_the_commands(corpus):
    task = make_task(corpus)
    saved = make_task(corpus).cfg
    saved.labels = "wrd"
    with pytest.raises(ValueError, match="pass --labels wrd"):
        task.load_dataset("test", task_cfg=saved)


def test_configurations_the_papers_do_not_define_are_refused(corpus, w2v_checkpoint):
    task = make_task(corpus)
    with pytest.raises(ValueError, match="context_use=aware distils into one vector"):
        build(task, w2v_checkpoint, corpus, context_source="text", context_use="aware", context_pooling="sequence")
    with pytest.raises(ValueError, match="concat appends one vector"):
        build(task, w2v_checkpoint, corpus, context_source="text", context_fusion="concat", context_pooling="sequence")


# --- batching keeps every utterance -----------------------------------------------------------


def test_batching_keeps_the_tail_that_fairseq_drops(corpus):
    task = make_task(corpus)
    task.load_dataset("train")
    dataset = task.datasets["train"]
    indices = dataset.ordered_indices()
    fairseq_batches = dataset.dataset.batch_by_size(indices, max_tokens=None, max_sentences=5, required_batch_size_multiple=8)
    assert sum(len(b) for b in fairseq_batches) < len(dataset)  # the trap (STACK.md)
    ours = dataset.batch_by_size(indices, max_tokens=None, max_sentences=5, required_batch_size_multiple=8)
    assert sorted(np.concatenate(ours).tolist()) == list(range(len(dataset)))
    iterator = task.get_batch_iterator(dataset, max_sentences=5, required_batch_size_multiple=8).next_epoch_itr(shuffle=False)
    assert sorted(i for batch in iterator for i in batch["id"].tolist()) == list(range(len(dataset)))


# --- CTC Viterbi decoding and the criterion ---------------------------------------------------


def test_viterbi_merges_repeats_and_drops_blanks_pad_and_eos(corpus):
    dictionary = make_task(corpus).target_dictionary
    decoder = ViterbiDecoder(dictionary, blank_index=0)
    a, b = dictionary.index("A"), dictionary.index("B")
    path = [0, a, a, 0, a, b, b, dictionary.eos(), dictionary.pad(), b]
    log_probs = torch.full((len(path), len(dictionary)), -10.0)
    log_probs[torch.arange(len(path)), torch.tensor(path)] = -0.1
    hypothesis = decoder.decode(log_probs)
    assert hypothesis["tokens"].tolist() == [a, a, b, b]
    assert hypothesis["score"] == pytest.approx(-0.1 * len(path))
    assert hypothesis["positional_scores"].tolist() == pytest.approx([-0.1] * 4)
    assert hypothesis["words"] == ["AABB"]  # no "|" in the path: one word


def test_criterion_adds_alpha_times_the_l2_of_utterances_with_a_teacher(corpus, w2v_checkpoint, context_dir):
    task = make_task(corpus, context_store=store_template(context_dir))
    model = build(task, w2v_checkpoint, corpus, context_source="text", context_use="aware")
    task.load_dataset("test")
    batch = first_batch(task, "test")
    from omegaconf import OmegaConf

    criterion = CtcContextCriterion(OmegaConf.structured(CtcContextCriterionConfig(sentence_avg=True, context_alpha=2.5, zero_infinity=True)), task)
    model.eval()
    torch.manual_seed(0)
    loss, sample_size, log = criterion(model, batch)
    student = model(**batch["net_input"])["student_embedding"]
    teacher = batch["net_input"]["context"][:, 0]
    expected_context = (((teacher - student) ** 2).sum(-1) * batch["context_present"]).sum()
    assert log["context_loss"] == pytest.approx(float(expected_context), rel=1e-5)
    assert log["loss"] == pytest.approx(log["ctc_loss"] + 2.5 * log["context_loss"], rel=1e-5)
    assert log["context_count"] == int(batch["context_present"].sum()) < 4
    assert sample_size == 4


def test_aware_training_without_teacher_is_an_error(corpus, w2v_checkpoint, tmp_path):
    from omegaconf import OmegaConf

    task = make_task(corpus, context_store=str(tmp_path / "{split}.none"))
    model = build(task, w2v_checkpoint, corpus, context_source="text", context_use="aware")
    task.load_dataset("test")
    criterion = CtcContextCriterion(OmegaConf.structured(CtcContextCriterionConfig(sentence_avg=True)), task)
    model.train()
    with pytest.raises(ValueError, match="without teacher embeddings"):
        criterion(model, first_batch(task, "test"))


# --- context_layer: the fusion before transformer layer k --------------------------------------


def _forward_twice(model, batch, seed=7):
    torch.manual_seed(seed), np.random.seed(seed)
    return model(**batch["net_input"])


@pytest.mark.parametrize("context_use", ["injection", "aware"])
def test_context_layer_at_the_top_is_the_default_exactly(corpus, w2v_checkpoint, context_dir, context_use):
    task = make_task(corpus, context_store=store_template(context_dir))
    default = build(task, w2v_checkpoint, corpus, context_source="text", context_use=context_use)
    top = build(task, w2v_checkpoint, corpus, context_source="text", context_use=context_use, context_layer=2)
    assert top.w2v_encoder.context_layer is None  # 2 layers: k = 2 is the output
    assert all(torch.equal(a, b) for a, b in zip(default.state_dict().values(), top.state_dict().values()))
    task.load_dataset("test")
    batch = first_batch(task, "test")
    for training in (True, False):
        default.train(training), top.train(training)
        a, b = _forward_twice(default, batch), _forward_twice(top, batch)
        assert torch.equal(a["encoder_out"], b["encoder_out"])
        if context_use == "aware":
            assert torch.equal(a["student_embedding"], b["student_embedding"])


@pytest.mark.parametrize("layerdrop", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("context_use", ["injection", "aware"])
def test_every_context_layer_trains_with_layerdrop(corpus, w2v_checkpoint, context_dir, context_use, layerdrop):
    task = make_task(corpus, context_store=store_template(context_dir))
    outputs, batch = {}, None
    for k in range(3):
        model = build(task, w2v_checkpoint, corpus, context_source="text", context_use=context_use, context_layer=k, layerdrop=layerdrop)
        if batch is None:  # the task joins contexts for the model it has built
            task.load_dataset("test")
            batch = first_batch(task, "test")
        model.train()
        out = _forward_twice(model, batch)
        loss = out["encoder_out"].float().pow(2).mean()
        if context_use == "aware":
            assert out["student_embedding"].shape == (4, TEXT_DIM)  # fused even if layers were dropped
            loss = loss + out["student_embedding"].pow(2).mean()
        loss.backward()
        head = model.w2v_encoder.context_head
        assert head.fusion.value.weight.grad.abs().sum() > 0
        if context_use == "aware":
            assert head.student.fc.weight.grad.abs().sum() > 0
        model.eval()
        outputs[k] = model(**batch["net_input"])["encoder_out"]
    # injecting lower in the stack changes what the layers above compute
    assert not torch.allclose(outputs[0], outputs[2])


def test_context_layer_inside_a_frozen_encoder_runs_without_gradient(corpus, w2v_checkpoint, context_dir):
    task = make_task(corpus, context_store=store_template(context_dir))
    model = build(task, w2v_checkpoint, corpus, context_source="text", context_layer=1, freeze_finetune_updates=100)
    task.load_dataset("test")
    batch = first_batch(task, "test")
    model.train()
    model(**batch["net_input"])["encoder_out"].float().pow(2).mean().backward()
    assert model.w2v_encoder.proj.weight.grad is not None  # the output layer trains
    assert all(p.grad is None for p in model.w2v_encoder.w2v_model.parameters())  # frozen
    assert all(p.grad is None for p in model.w2v_encoder.context_head.parameters())  # frozen with it
    model.set_num_updates(100)
    model(**batch["net_input"])["encoder_out"].float().pow(2).mean().backward()
    assert model.w2v_encoder.context_head.fusion.query.weight.grad is not None


def test_context_layer_is_checked(corpus, w2v_checkpoint):
    task = make_task(corpus)
    with pytest.raises(ValueError, match=r"context_layer=3: the encoder has 2 layers"):
        build(task, w2v_checkpoint, corpus, context_source="text", context_layer=3)
    with pytest.raises(ValueError, match="concat widens the frames"):
        build(task, w2v_checkpoint, corpus, context_source="text", context_fusion="concat", context_layer=1)
    assert build(task, w2v_checkpoint, corpus, context_source="text", context_fusion="concat", context_layer=2).w2v_encoder.context_layer is None


@pytest.mark.parametrize("context_use", ["injection", "aware"])
def test_context_layer_minus_one_is_the_layer_below_the_top_exactly(corpus, w2v_checkpoint, context_dir, context_use):
    task = make_task(corpus, context_store=store_template(context_dir))
    counted = build(task, w2v_checkpoint, corpus, context_source="text", context_use=context_use, context_layer=1)
    from_top = build(task, w2v_checkpoint, corpus, context_source="text", context_use=context_use, context_layer=-1)
    assert counted.w2v_encoder.context_layer == from_top.w2v_encoder.context_layer == 1  # 2 layers
    assert list(counted.state_dict()) == list(from_top.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(counted.state_dict().values(), from_top.state_dict().values()))
    task.load_dataset("test")
    batch = first_batch(task, "test")
    for training in (True, False):
        counted.train(training), from_top.train(training)
        a, b = _forward_twice(counted, batch), _forward_twice(from_top, batch)
        assert torch.equal(a["encoder_out"], b["encoder_out"])
        if context_use == "aware":
            assert torch.equal(a["student_embedding"], b["student_embedding"])


def test_negative_context_layers_count_from_the_top_and_are_checked(corpus, w2v_checkpoint):
    from gcaf_fairseq.models.wav2vec2_context_ctc import resolve_context_layer

    assert [resolve_context_layer(k, 4) for k in (-1, -2, -4, 0, 3, 4, None)] == [3, 2, 0, 0, 3, None, None]
    task = make_task(corpus)
    assert build(task, w2v_checkpoint, corpus, context_source="text", context_layer=-2).w2v_encoder.context_layer == 0
    with pytest.raises(ValueError, match=r"context_layer=-3: the encoder has 2 layers \(0\.\.2, or -1\.\.-2 counting from the top\)"):
        build(task, w2v_checkpoint, corpus, context_source="text", context_layer=-3)
    with pytest.raises(ValueError, match="concat widens the frames"):
        build(task, w2v_checkpoint, corpus, context_source="text", context_fusion="concat", context_layer=-1)


@pytest.mark.parametrize("option, value, choices", [
    ("context_use", "teacher", "injection, aware"),
    ("context_fusion", "gated", "cross_attention, concat"),
])
def test_unknown_context_choices_are_refused_in_one_place(option, value, choices):
    from gcaf_fairseq.models import Wav2Vec2ContextCtcConfig
    from gcaf_fairseq.models.context_config import (
        CONTEXT_FUSION_CHOICES,
        CONTEXT_USE_CHOICES,
        build_context_head,
        validate_context_config,
    )
    from gcaf_fairseq.modules import CONTEXT_FUSIONS, CONTEXT_USES

    # hydra's choices are the building blocks' choice sets
    assert [choice.value for choice in CONTEXT_USE_CHOICES] == list(CONTEXT_USES)
    assert [choice.value for choice in CONTEXT_FUSION_CHOICES] == list(CONTEXT_FUSIONS)
    cfg = Wav2Vec2ContextCtcConfig(context_source="text", **{option: value})  # a config built in code
    message = f"{option}={value}: choose one of {choices}"
    with pytest.raises(ValueError, match=message):
        validate_context_config(cfg)
    with pytest.raises(ValueError, match=message):
        build_context_head(cfg, frame_dim=16)


# --- the CTC dictionary travels with the model ---------------------------------------------------


def test_a_checkpoints_dictionary_is_checked_against_the_datas(corpus, copy_of):
    saved = make_task(corpus).target_dictionary  # what fairseq keeps in the checkpoint's task state
    data = copy_of(corpus, "other_dictionary")
    lines = (data / "dict.ltr.txt").read_text().splitlines()
    (data / "dict.ltr.txt").write_text("\n".join(lines + ["Ä 1"]) + "\n")
    with pytest.raises(ValueError, match=r"dict.ltr.txt is not the checkpoint's CTC dictionary: symbols only in .*dict.ltr.txt: \['Ä'\]"):
        make_task(data).load_state_dict({"target_dictionary": saved, "label_names": None})
    # The same symbols in another order: fairseq-generate would print through the wrong indices.
    (data / "dict.ltr.txt").write_text("\n".join([lines[1], lines[0]] + lines[2:]) + "\n")
    with pytest.raises(ValueError, match=rf"first difference at index 4 \({lines[1].split()[0]!r} here, {lines[0].split()[0]!r} in the checkpoint\)"):
        make_task(data).load_state_dict({"target_dictionary": saved, "label_names": None})
    (data / "dict.ltr.txt").unlink()  # no dictionary in the data: the checkpoint's decodes
    task = make_task(data)
    task.load_state_dict({"target_dictionary": saved, "label_names": None})
    task.load_dataset("test")
    assert task.target_dictionary.symbols == saved.symbols
    (data / "dict.ltr.txt").write_text("\n".join(lines) + "\n")  # the checkpoint's own: loads
    make_task(data).load_state_dict({"target_dictionary": saved, "label_names": None})
