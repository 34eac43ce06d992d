"""The sequential decoding pass (fairseq-generate --sequential-context): each stream in
order, position by position; text models get their own previous hypothesis embedded by the
store's encoder, audio models (previous-only windows) the previous utterances' frames from
their own forward pass. In-process through the task as fairseq-generate calls it, then
through fairseq-generate itself."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import build, make_task

import gcaf_fairseq.tasks  # noqa: F401,I001  (registers the plugin)
from gcaf_demo.pipeline import demo_text_encoder
from gcaf_fairseq.data.neighbour_index import NeighbourIndex
from gcaf_fairseq.data.stream_order import stream_order
from gcaf_fairseq.data.utterance_table import read_utterance_table, write_utterance_table
from gcaf_fairseq.decoding.config import DecodingConfig
from gcaf_fairseq.embedding.context_texts import context_text_records
from gcaf_fairseq.embedding.text_encoder import embed_texts

TEXT = dict(context_source="text", context_use="injection", context_fusion="cross_attention")
AUDIO_PREVIOUS = dict(context_source="audio", context_use="injection", context_fusion="concat", context_window=2, context_offset=-1)


def sequential(**options):
    return DecodingConfig(sequential_context=True, **options)


def decode(task, model, split, batch_size, saved_cfg=None, max_tokens=10_000_000):
    """What fairseq-generate does with the task: load the split with the checkpoint's task
    config, batch it, build the generator, decode every batch. Returns the hypothesis words
    by dataset index, the batches (dataset indices) in order, and the generator."""
    task.load_dataset(split, task_cfg=saved_cfg if saved_cfg is not None else task.cfg)
    dataset = task.dataset(split)
    batches = task.get_batch_iterator(
        dataset, max_tokens=max_tokens, max_sentences=batch_size, required_batch_size_multiple=8
    ).next_epoch_itr(shuffle=False)
    generator = task.build_generator([model], None)
    words, order = {}, []
    for sample in batches:
        order.append(sample["id"].tolist())
        for index, (hypothesis,) in zip(sample["id"].tolist(), task.inference_step(generator, [model], sample)):
            assert index not in words, f"utterance {index} decoded twice"
            words[index] = hypothesis["words"]
    assert sorted(words) == list(range(len(dataset))), "every utterance exactly once"
    return words, order, generator


def utterance_ids(task, split):
    from gcaf_fairseq.data.manifest import manifest_utterance_ids

    return manifest_utterance_ids(task.dataset(split))


# --- streams and positions ----------------------------------------------------------------------


def _row(stream, position, in_split=True, prev="auto", next_id="auto", count=3):
    return {
        "id": f"{stream}-{position}", "stream": stream, "position": position, "audio": f"/a/{stream}-{position}.flac",
        "text": "T", "in_split": in_split,
        "prev_id": f"{stream}-{position - 1}" if prev == "auto" and position else (None if prev == "auto" else prev),
        "next_id": f"{stream}-{position + 1}" if next_id == "auto" and position + 1 < count else (None if next_id == "auto" else next_id),
    }  # fmt: skip


def test_streams_and_positions_come_from_the_links_not_the_manifest_order():
    rows = [_row("a", k) for k in range(3)] + [_row("b", 0, in_split=False)] + [_row("b", k) for k in (1, 2)]
    rows += [_row("c", 5, prev="c-4", next_id=None)]  # a prev_id without a row
    index = NeighbourIndex.from_rows(rows, "t.utterances.jsonl")
    manifest = ["b-2", "a-2", "c-5", "a-0", "b-1", "a-1"]
    order = stream_order(manifest, index, where="x.tsv")
    previous = {manifest[k]: (manifest[p] if p >= 0 else None) for k, p in enumerate(order.previous)}
    assert previous == {"a-0": None, "a-1": "a-0", "a-2": "a-1", "b-1": None, "b-2": "b-1", "c-5": None}
    assert dict(zip(manifest, order.position.tolist())) == {"a-0": 0, "a-1": 1, "a-2": 2, "b-1": 0, "b-2": 1, "c-5": 0}
    assert order.counts == {"utterances": 6, "stream_starts": 1, "previous_not_decoded": 1, "previous_unknown": 1, "not_in_table": 0}
    with pytest.raises(ValueError, match=r"1 utterances of x.tsv are not in the utterance table t.utterances.jsonl.*: z-1"):
        stream_order(manifest + ["z-1"], index, where="x.tsv")
    order = stream_order(manifest + ["z-1"], index, context_missing="zero", where="x.tsv")
    assert order.position[-1] == 0 and order.counts["not_in_table"] == 1


# --- text context: the model's own previous hypotheses ------------------------------------------


@pytest.fixture(scope="module")
def two_streams(corpus, tmp_path_factory):
    """The train split's 3 chapters (3 streams of 4) as a decoding split, its manifest
    shuffled: the pass must take the order from the table."""
    data = tmp_path_factory.mktemp("streams")
    for name in ("dict.ltr.txt",):
        shutil.copy(corpus / name, data / name)
    lines = (corpus / "train.tsv").read_text().splitlines()
    labels = {ext: (corpus / f"train.{ext}").read_text().splitlines() for ext in ("ltr", "wrd")}
    order = [7, 2, 11, 0, 5, 9, 1, 10, 3, 8, 6, 4]
    (data / "dev.tsv").write_text("\n".join([lines[0]] + [lines[1 + k] for k in order]) + "\n")
    for ext, values in labels.items():
        (data / f"dev.{ext}").write_text("\n".join(values[k] for k in order) + "\n")
    write_utterance_table(data / "dev.utterances.jsonl", read_utterance_table(corpus / "train.utterances.jsonl"))
    return data


@pytest.fixture(scope="module")
def reference_store(two_streams, tmp_path_factory):
    """A store of the split written by the demo's encoder (gcaf-embed-context): the sequential
    pass reads its metadata, never its embeddings."""
    out = tmp_path_factory.mktemp("reference") / "dev.prev.cls"
    records, _ = context_text_records(read_utterance_table(two_streams / "dev.utterances.jsonl"))
    embed_texts([(r["id"], r["text"]) for r in records], str(demo_text_encoder()), "cls", str(out), progress=False)
    return out


def test_training_records_the_stores_text_encoder_in_the_task_state(corpus, w2v_checkpoint, context_dir):
    task = make_task(corpus, context_store=str(context_dir / "{split}.prev.cls"))
    build(task, w2v_checkpoint, corpus, **TEXT)
    task.load_dataset("valid")  # fairseq-train loads the validation split first
    task.load_dataset("train")
    recorded = task.state_dict()["context_text_encoder"]  # saved in every checkpoint
    assert recorded["store"] == str(context_dir / "valid.prev.cls") and recorded["encoder"] == str(demo_text_encoder())
    assert (recorded["encoder_model_type"], recorded["encoder_hidden_size"], recorded["pooling"]) == ("bert", 384, "cls")
    assert recorded["max_length"] == 512 and recorded["dtype"] == "float32"
    decoding = make_task(corpus, context_store=str(context_dir / "{split}.prev.cls"))
    build(decoding, w2v_checkpoint, corpus, **TEXT)
    decoding.load_dataset("test", task_cfg=decoding.cfg)  # decoding records nothing
    assert "context_text_encoder" not in decoding.state_dict()


def text_model(task, w2v_checkpoint, data):
    model = build(task, w2v_checkpoint, data, seed=3, **TEXT).eval()
    # A freshly built head adds almost nothing; make the context matter for the test.
    with torch.no_grad():
        model.w2v_encoder.context_head.fusion.out.weight.mul_(40)
    return model


def sequential_text_task(data, store, **decoding):
    return make_task(data, utterance_table=str(data / "{split}.utterances.jsonl"), context_store=str(store),
                     decoding=sequential(context_text_encoder=str(demo_text_encoder()), **decoding))


def test_batches_hold_one_position_of_many_streams_in_order(two_streams, w2v_checkpoint, reference_store):
    task = sequential_text_task(two_streams, reference_store)
    model = text_model(task, w2v_checkpoint, two_streams)
    _, batches, generator = decode(task, model, "dev", batch_size=2)
    position = generator.order.position
    seen = [position[batch].tolist() for batch in batches]
    assert all(len(set(positions)) == 1 for positions in seen)  # one position per batch
    assert [positions[0] for positions in seen] == sorted(positions[0] for positions in seen)  # t - 1 before t
    assert sorted(len(batch) for batch in batches) == [1, 1, 1, 1, 2, 2, 2, 2]  # 3 streams, at most 2 a batch
    assert generator.counts["with_context"] == 9 and generator.counts["previous_not_ready"] == 0
    # the positions are the chapters' sentence numbers, whatever the manifest's order
    ids = utterance_ids(task, "dev")
    assert {ids[k]: int(position[k]) for k in range(len(ids))} == {
        row["id"]: row["position"] for row in read_utterance_table(two_streams / "dev.utterances.jsonl")
    }


def test_the_first_utterance_of_a_stream_gets_no_context_and_the_others_their_previous_hypothesis(two_streams, w2v_checkpoint, reference_store):
    task = sequential_text_task(two_streams, reference_store)
    model = text_model(task, w2v_checkpoint, two_streams)
    seen = []
    model.register_forward_hook(lambda _m, _args, kwargs, _out: seen.append(kwargs["context"].clone()), with_kwargs=True)
    words, batches, generator = decode(task, model, "dev", batch_size=3)
    from gcaf_fairseq.embedding.text_encoder import TextContextEncoder

    encoder = TextContextEncoder(str(demo_text_encoder()), "cls")
    for batch, context in zip(batches, seen):
        for row, index in enumerate(batch):
            previous = int(generator.order.previous[index])
            if previous < 0:  # the ground-truth store's "no context": the zero vector
                assert torch.equal(context[row], torch.zeros(1, 384))
            else:
                expected = encoder.embed([" ".join(words[previous])])[0]
                torch.testing.assert_close(context[row], expected, atol=2e-3, rtol=0)
    assert any(words[i] for i in range(len(words))), "the test needs non-empty hypotheses"


def two_pass(data, w2v_checkpoint, hypotheses, out):
    """Decode with the previous texts taken from ``hypotheses`` (by utterance id): gcaf-context-texts
    --hypotheses, gcaf-embed-context, then decoding with that store."""
    records, _ = context_text_records(read_utterance_table(data / "dev.utterances.jsonl"), hypotheses=hypotheses)
    embed_texts([(r["id"], r["text"]) for r in records], str(demo_text_encoder()), "cls", str(out), progress=False)
    task = make_task(data, context_store=str(out))
    model = text_model(task, w2v_checkpoint, data)
    words, _, _ = decode(task, model, "dev", batch_size=1)
    ids = utterance_ids(task, "dev")
    return {ids[index]: " ".join(hypothesis) for index, hypothesis in words.items()}


@pytest.mark.slow  # 5 passes of embedding and decoding, in-process: about 13 s
def test_the_sequential_pass_equals_two_passes_iterated_with_the_model_itself(two_streams, w2v_checkpoint, reference_store, tmp_path):
    task = sequential_text_task(two_streams, reference_store)
    model = text_model(task, w2v_checkpoint, two_streams)
    words, _, generator = decode(task, model, "dev", batch_size=1)  # one utterance a batch: no padding to differ
    ids = utterance_ids(task, "dev")
    sequential_result = {ids[index]: " ".join(hypothesis) for index, hypothesis in words.items()}
    # Pass k gets position k - 1 right from pass k - 1's hypotheses: a stream of 4 needs 4 passes.
    hypotheses = {utterance_id: "" for utterance_id in ids}  # pass 0: no context anywhere
    passes = []
    for k in range(int(generator.order.position.max()) + 1):
        hypotheses = two_pass(two_streams, w2v_checkpoint, hypotheses, tmp_path / f"pass{k}.cls")
        passes.append(hypotheses)
    assert passes[-1] == sequential_result
    assert passes[0] != sequential_result, "the context must change some hypothesis for this test to mean anything"
    # ... and the sequential result is the fixed point: one more pass changes nothing
    assert two_pass(two_streams, w2v_checkpoint, sequential_result, tmp_path / "again.cls") == sequential_result


# --- audio context: the previous utterance's frames, kept ---------------------------------------


@pytest.fixture(scope="module")
def subset_split(two_streams, tmp_path_factory):
    """The 3 streams without their first utterance, which stays in the table outside the
    split: the pass must read and encode it, and reuse the frames of the others."""
    data = tmp_path_factory.mktemp("subset")
    shutil.copy(two_streams / "dict.ltr.txt", data)
    rows = read_utterance_table(two_streams / "dev.utterances.jsonl")
    first = {row["id"] for row in rows if row["prev_id"] is None}
    for row in rows:
        row["in_split"] = row["id"] not in first
    write_utterance_table(data / "sub.utterances.jsonl", rows)
    lines = (two_streams / "dev.tsv").read_text().splitlines()
    keep = [k for k, line in enumerate(lines[1:]) if Path(line.split("\t")[0]).stem not in first]
    (data / "sub.tsv").write_text("\n".join([lines[0]] + [lines[1 + k] for k in keep]) + "\n")
    for ext in ("ltr", "wrd"):
        values = (two_streams / f"dev.{ext}").read_text().splitlines()
        (data / f"sub.{ext}").write_text("\n".join(values[k] for k in keep) + "\n")
    return data


@pytest.mark.parametrize("split_fixture, split", [("two_streams", "dev"), ("subset_split", "sub")])
def test_cached_frames_give_the_re_encoding_paths_outputs(split_fixture, split, request, w2v_checkpoint):
    data = request.getfixturevalue(split_fixture)
    table = str(data / "{split}.utterances.jsonl")
    task = make_task(data, utterance_table=table, decoding=sequential())
    model = build(task, w2v_checkpoint, data, seed=2, **AUDIO_PREVIOUS).eval()
    outputs = []
    model.register_forward_hook(lambda _m, _args, kwargs, out: outputs.append((kwargs, out)), with_kwargs=True)
    words, batches, generator = decode(task, model, split, batch_size=3)
    calls = [(kwargs, out) for kwargs, out in outputs if "neighbour_embedding" in kwargs]
    assert len(calls) == len(batches) and not any("neighbour_source" in kwargs for kwargs, _ in calls)
    # The re-encoding path (fairseq-generate without the flag) on the same batches.
    reference = make_task(data, utterance_table=table)
    reference.build_model(model.cfg)
    reference.load_dataset(split, task_cfg=reference.cfg)
    dataset = reference.dataset(split)
    for batch, (_, out) in zip(batches, calls):
        collated = dataset.collater([dataset[i] for i in batch])
        assert collated["id"].tolist() == batch
        with torch.no_grad():
            expected = model(**collated["net_input"])
        # get_normalized_probs has already set the padded frames of ``out`` (in place): compare log-probabilities
        torch.testing.assert_close(
            model.get_normalized_probs(out, log_probs=True), model.get_normalized_probs(expected, log_probs=True), atol=1e-5, rtol=1e-4
        )
    position = generator.order.position
    first_batch_neighbours = calls[0][0]["neighbour_embedding"]
    if split == "dev":  # a stream's first utterance: no neighbour, e_j = 0, as when re-encoding
        assert torch.equal(first_batch_neighbours, torch.zeros_like(first_batch_neighbours))
        assert generator.counts["with_context"] == int((position > 0).sum())
    else:  # the first decoded utterances' neighbours lie outside the split: read and encoded
        assert first_batch_neighbours.abs().sum(-1).gt(0).all()
        assert generator.counts["with_context"] == len(words)
    assert not generator.frames, "every kept frame is released after its last reader"


# --- what the pass refuses ------------------------------------------------------------------------


@pytest.mark.parametrize("options, message", [
    (dict(context_source="none"), "A decodes from the current audio alone"),
    (dict(TEXT, context_use="aware"), "an aware model .* decodes from the current audio alone"),
    (dict(AUDIO_PREVIOUS, context_offset=0), "reaches utterances after the current one"),
    (dict(AUDIO_PREVIOUS, context_window=3, context_offset=-1), r"context_offset = 1 - context_window"),
])  # fmt: skip
def test_models_the_pass_cannot_serve_are_refused(two_streams, w2v_checkpoint, options, message):
    task = make_task(two_streams, utterance_table=str(two_streams / "{split}.utterances.jsonl"), decoding=sequential())
    build(task, w2v_checkpoint, two_streams, **options)
    with pytest.raises(ValueError, match=message):
        task.load_dataset("dev", task_cfg=task.cfg)


def test_text_settings_the_pass_cannot_reproduce_are_refused(two_streams, w2v_checkpoint, reference_store, tmp_path):
    task = make_task(two_streams, context_store=str(reference_store), decoding=sequential())
    build(task, w2v_checkpoint, two_streams, **TEXT)
    with pytest.raises(ValueError, match="give the split's utterance table"):
        task.load_dataset("dev", task_cfg=task.cfg)
    with pytest.raises(ValueError, match="decoding option of fairseq-generate, not of training"):
        task.load_dataset("dev")
    task = make_task(two_streams, utterance_table=str(two_streams / "{split}.utterances.jsonl"), decoding=sequential())
    build(task, w2v_checkpoint, two_streams, **TEXT)
    with pytest.raises(ValueError, match="pass --context-store with a store written by gcaf-embed-context"):
        task.load_dataset("dev", task_cfg=task.cfg)
    separate = tmp_path / "dev.prev2s.seq"
    records, _ = context_text_records(read_utterance_table(two_streams / "dev.utterances.jsonl"), previous=2, join="separate")
    embed_texts([(r["id"], r["texts"]) for r in records], str(demo_text_encoder()), "cls-per-text", str(separate), progress=False)
    task = make_task(two_streams, utterance_table=str(two_streams / "{split}.utterances.jsonl"), context_store=str(separate), decoding=sequential())
    build(task, w2v_checkpoint, two_streams, **TEXT, context_pooling="sequence")
    with pytest.raises(ValueError, match=r"trained on K previous texts per utterance .*gcaf-context-texts --hypotheses"):
        task.load_dataset("dev", task_cfg=task.cfg)


def test_a_text_encoder_other_than_the_stores_is_refused(two_streams, w2v_checkpoint, tmp_path):
    from gcaf_fairseq.data.context_store import ContextStoreWriter

    store = tmp_path / "dev.prev.cls"  # what the store says about its encoder is what counts
    with ContextStoreWriter(store, 384, "cls", meta={"encoder": "/elsewhere/roberta", "encoder_model_type": "roberta", "encoder_hidden_size": 384}):
        pass
    table = str(two_streams / "{split}.utterances.jsonl")
    task = make_task(two_streams, utterance_table=table, context_store=str(store), decoding=sequential())
    model = build(task, w2v_checkpoint, two_streams, **TEXT).eval()
    task.load_dataset("dev", task_cfg=task.cfg)
    with pytest.raises(ValueError, match=r"store's text encoder \(/elsewhere/roberta, not found here\): pass --context-text-encoder DIR"):
        task.build_generator([model], None)
    task = make_task(two_streams, utterance_table=table, context_store=str(store), decoding=sequential(context_text_encoder=str(demo_text_encoder())))
    model = build(task, w2v_checkpoint, two_streams, **TEXT).eval()
    task.load_dataset("dev", task_cfg=task.cfg)
    with pytest.raises(ValueError, match=r"is a bert of size 384, but the training store .* was embedded by a roberta of size 384"):
        task.build_generator([model], None)


def test_sharded_decoding_is_refused(two_streams, w2v_checkpoint, reference_store):
    task = sequential_text_task(two_streams, reference_store)
    build(task, w2v_checkpoint, two_streams, **TEXT)
    task.load_dataset("dev", task_cfg=task.cfg)
    with pytest.raises(ValueError, match="in one process"):
        task.get_batch_iterator(task.dataset("dev"), max_tokens=1_000_000, num_shards=2, shard_id=0)


# --- through fairseq-generate -------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(corpus, w2v_checkpoint, context_dir, tmp_path_factory):
    """C1 (previous ground-truth text, [CLS]) and CA row (b) with the previous utterance
    (window (2, -1)), each trained 2 updates through fairseq-hydra-train."""
    from gcaf_fairseq.recipes.processes import hydra_train

    root = tmp_path_factory.mktemp("sequential_runs")
    common = [f"task.data={corpus}", f"model.w2v_path={w2v_checkpoint}", "optimization.max_update=2"]
    hydra_train("demo_tiny", root / "C1", common + [f"task.context_store='{context_dir}/{{split}}.prev.cls'"], system="C1")
    hydra_train("demo_tiny", root / "b", common + [f"task.utterance_table='{corpus}/{{split}}.utterances.jsonl'",
                                                   "model.context_window=2", "model.context_offset=-1"], system="ca_b")
    return root


def result_files(folder, subset="test"):
    ids = (folder / f"{subset}.ids").read_text().splitlines()
    hypotheses = (folder / f"{subset}.hyp.wrd").read_text().splitlines()
    return dict(zip(ids, hypotheses))


@pytest.mark.slow
def test_fairseq_generate_decodes_c1_with_its_own_hypotheses_and_two_passes_agree(trained, corpus, tmp_path):
    """The checkpoint records its store's encoder: the pass needs only the table. Its result
    is the fixed point of two-pass decoding: gcaf-context-texts --hypotheses on its own result
    files, gcaf-embed-context, fairseq-generate with that store give the same hypotheses."""
    from gcaf_demo.fairseq_runs import generate, read_generate_output
    from gcaf_fairseq.cli.context_texts import main as context_texts
    from gcaf_fairseq.cli.embed_context import main as embed_context

    checkpoint = trained / "C1" / "checkpoint_last.pt"
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    assert state["task_state"]["context_text_encoder"]["encoder"] == str(demo_text_encoder())
    sequential_dir = tmp_path / "sequential"
    generate(corpus, checkpoint, "test", sequential_dir, ["--sequential-context", "--batch-size", "1",
                                                          "--utterance-table", f"{corpus}/{{split}}.utterances.jsonl"])
    report = read_generate_output(sequential_dir, "test")
    assert sorted(report.hypotheses) == [0, 1, 2, 3] and sorted(report.references) == [0, 1, 2, 3]
    log = (sequential_dir / "generate-test.log").read_text()
    assert "sequential pass in stream order" in log and "previous hypotheses embedded by" in log
    own = result_files(sequential_dir)
    assert len(own) == 4 and json.loads((sequential_dir / "test.wer.json").read_text())["wer"] == pytest.approx(report.wer, abs=0.01)

    texts, store = tmp_path / "test.prev-hyp.jsonl", tmp_path / "test.prev-hyp.cls"
    context_texts(["--utterances", str(corpus / "test.utterances.jsonl"), "--out", str(texts),
                   "--hypotheses", str(sequential_dir / "test.hyp.wrd")])
    embed_context(["--texts", str(texts), "--text-field", "text", "--encoder", str(demo_text_encoder()),
                   "--pooling", "cls", "--out", str(store), "--device", "cpu"])
    two_pass_dir = tmp_path / "two_pass"
    generate(corpus, checkpoint, "test", two_pass_dir, ["--batch-size", "1", "--context-store", str(store)])
    assert result_files(two_pass_dir) == own


@pytest.mark.slow
def test_fairseq_generate_decodes_b_with_cached_frames_as_with_re_encoded_neighbours(trained, corpus, tmp_path):
    from gcaf_demo.fairseq_runs import generate, read_generate_output

    checkpoint = trained / "b" / "checkpoint_last.pt"
    table = ["--utterance-table", f"{corpus}/{{split}}.utterances.jsonl", "--batch-size", "1"]
    generate(corpus, checkpoint, "test", tmp_path / "cached", table + ["--sequential-context"])
    generate(corpus, checkpoint, "test", tmp_path / "re_encoded", table)
    cached, re_encoded = (read_generate_output(tmp_path / name, "test") for name in ("cached", "re_encoded"))
    assert cached.hypotheses == re_encoded.hypotheses and cached.wer == re_encoded.wer
    assert result_files(tmp_path / "cached") == result_files(tmp_path / "re_encoded")
