"""Audio context (CA paper): neighbours found through the utterance table, carried in
batches, encoded by the same wav2vec2; rows (b) and B through the real fairseq tools."""

import pytest
import torch
from conftest import make_task, model_config

from gcaf_fairseq.data.neighbour_audio import find_neighbours
from gcaf_demo.fairseq_runs import generate, read_generate_output
from gcaf_fairseq.recipes.processes import hydra_train
from gcaf_fairseq.tables.train_log import read_training_log
from gcaf_fairseq.data.neighbour_index import window_neighbour_offsets


def stream_rows(tmp_path, count=4, stream="7-1"):
    rows = []
    for k in range(count):
        audio = tmp_path / f"{stream}-{k}.flac"
        audio.write_bytes(b"x")
        rows.append({"id": f"{stream}-{k}", "stream": stream, "position": k, "audio": str(audio), "text": "A",
                     "prev_id": f"{stream}-{k - 1}" if k else None, "next_id": f"{stream}-{k + 1}" if k < count - 1 else None,
                     "in_split": True})
    return rows


@pytest.mark.parametrize(
    "window, offset, expected, edges",
    [
        ((2, 0), [1], {"7-1-0": ["7-1-1"], "7-1-3": []}, 1),  # the next segment
        ((2, -1), [-1], {"7-1-0": [], "7-1-3": ["7-1-2"]}, 1),  # the previous one
        ((3, -1), [-1, 1], {"7-1-0": ["7-1-1"], "7-1-1": ["7-1-0", "7-1-2"], "7-1-3": ["7-1-2"]}, 2),
        ((3, -2), [-2, -1], {"7-1-1": ["7-1-0"], "7-1-3": ["7-1-1", "7-1-2"]}, 3),
    ],
)
def test_window_neighbours_follow_the_links_and_count_stream_edges(tmp_path, window, offset, expected, edges):
    relative = window_neighbour_offsets(*window)
    assert relative == offset
    rows = stream_rows(tmp_path)
    ids = [row["id"] for row in rows]
    lookup = find_neighbours(rows, ids, relative, str(tmp_path / "t.jsonl"))
    for utterance_id, neighbour_ids in expected.items():
        assert lookup.paths[ids.index(utterance_id)] == [str(tmp_path / f"{n}.flac") for n in neighbour_ids]
    assert lookup.edge_slots == edges and not lookup.missing


def test_missing_neighbours_are_named(tmp_path):
    rows = stream_rows(tmp_path)
    rows[2]["next_id"] = "7-1-9"  # a link to a row that is not there
    (tmp_path / "7-1-1.flac").unlink()  # an audio file that is gone
    lookup = find_neighbours(rows, ["7-1-0", "7-1-2", "8-1-0"], [-1, 1], "t.jsonl")
    assert lookup.paths[0] == []
    assert any("7-1-0: the audio of its neighbour 7-1-1" in m for m in lookup.missing)
    assert any("7-1-2: its neighbour 7-1-9 has no row" in m for m in lookup.missing)
    assert any("8-1-0: not in t.jsonl" in m for m in lookup.missing)


def audio_task(corpus, **options):
    return make_task(corpus, utterance_table=str(corpus / "{split}.utterances.jsonl"), **options)


def build_audio(task, w2v_checkpoint, corpus, **options):
    torch.manual_seed(1)
    options = {"context_source": "audio", "context_fusion": "concat", **options}
    return task.build_model(model_config(w2v_checkpoint, corpus, **options))


def test_batches_carry_each_utterances_neighbours(corpus, w2v_checkpoint):
    task = audio_task(corpus)
    build_audio(task, w2v_checkpoint, corpus, context_window=3, context_offset=-1)
    task.load_dataset("test")
    dataset = task.datasets["test"]
    batch = dataset.collater([dataset[i] for i in range(4)])
    owners = batch["net_input"]["neighbour_owner"].tolist()
    # one chapter of 4: the first and the last have one neighbour, the others two
    assert sorted(owners.count(row) for row in range(4)) == [1, 1, 2, 2]
    assert batch["context_present"].all()
    source, mask = batch["net_input"]["neighbour_source"], batch["net_input"]["neighbour_padding_mask"]
    assert source.shape[0] == 6 and not source[mask].any()


def test_ca_overhead_is_the_context_module_and_the_wider_output_layer(corpus, w2v_checkpoint):
    task = make_task(corpus)
    count = lambda model: sum(p.numel() for p in model.parameters())  # noqa: E731
    a = build_audio(task, w2v_checkpoint, corpus, context_source="none")
    b = build_audio(task, w2v_checkpoint, corpus, context_use="injection")
    big_b = build_audio(task, w2v_checkpoint, corpus, context_use="aware")
    frame_dim, d, vocab = 64, 32, len(task.target_dictionary)
    module = (frame_dim + 1) + (frame_dim * d + d)  # attention pooling + FC to D
    assert count(b) - count(a) == count(big_b) - count(a) == module + d * vocab


def test_aware_audio_model_decodes_without_neighbours_and_injection_refuses(corpus, w2v_checkpoint):
    task = make_task(corpus)  # no utterance table
    aware = build_audio(task, w2v_checkpoint, corpus, context_use="aware").eval()
    task.load_dataset("test")
    dataset = task.datasets["test"]
    batch = dataset.collater([dataset[i] for i in range(4)])
    assert "neighbour_source" not in batch["net_input"]
    out = aware(**batch["net_input"])
    assert out["student_embedding"].shape == (4, 32) and out["teacher_embedding"] is None
    injection = build_audio(task, w2v_checkpoint, corpus, context_use="injection")
    with pytest.raises(ValueError, match="give the task an utterance_table"):
        injection.eval()(**batch["net_input"])
    task = make_task(corpus)
    build_audio(task, w2v_checkpoint, corpus, context_use="injection")
    with pytest.raises(ValueError, match="set task.utterance_table"):
        task.load_dataset("test")


def test_audio_context_options_are_checked(corpus, w2v_checkpoint):
    task = make_task(corpus)
    with pytest.raises(ValueError, match="set context_fusion=concat"):
        build_audio(task, w2v_checkpoint, corpus, context_fusion="cross_attention")
    with pytest.raises(ValueError, match="must contain the segment i"):
        build_audio(task, w2v_checkpoint, corpus, context_window=2, context_offset=1)


@pytest.mark.slow
@pytest.mark.parametrize("window, offset", [(2, 0), (2, -1), (3, -1)])
def test_rows_b_and_B_train_and_decode_through_fairseq(corpus, w2v_checkpoint, tmp_path, window, offset):
    table = f"'{corpus}/{{split}}.utterances.jsonl'"
    common = [f"task.data={corpus}", f"model.w2v_path={w2v_checkpoint}", "optimization.max_update=30",
              f"model.context_window={window}", f"model.context_offset={offset}", "dataset.validate_interval_updates=15"]
    for system in ("ca_b", "B"):
        hydra_train("demo_tiny", tmp_path / system, common + [f"task.utterance_table={table}"], system=system)
        report = read_training_log(tmp_path / system / "train.log")
        assert report.num_updates == 30 and report.train_losses[-1] < report.train_losses[0]
        assert ('"context_loss"' in (tmp_path / system / "train.log").read_text()) == (system == "B")
    # (b) needs the neighbours at inference; B needs nothing but the current audio.
    generate(corpus, tmp_path / "ca_b" / "checkpoint_last.pt", "test", tmp_path / "decode_ca_b",
             ["--utterance-table", f"{corpus}/{{split}}.utterances.jsonl"])
    generate(corpus, tmp_path / "B" / "checkpoint_last.pt", "test", tmp_path / "decode_B", ["--utterance-table", str(tmp_path / "none-{split}.jsonl")])
    for system in ("ca_b", "B"):
        assert sorted(read_generate_output(tmp_path / f"decode_{system}", "test").hypotheses) == [0, 1, 2, 3]


@pytest.mark.slow
def test_the_ca_sweep_writes_one_table_and_resumes(corpus, w2v_checkpoint, tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "scripts" / "recipes" / "ca_sweep.py"
    command = [sys.executable, str(script), "--data", str(corpus), "--w2v", str(w2v_checkpoint),
               "--utterance-table", f"{corpus}/{{split}}.utterances.jsonl", "--alphas", "1", "10",
               "--windows", "3,-1", "--out", str(tmp_path / "sweep"), "--", "optimization.max_update=8"]
    subprocess.run(command, check=True, capture_output=True)
    results = json.loads((tmp_path / "sweep" / "results.json").read_text())
    assert [(r["alpha"], r["L"], r["O"]) for r in results] == [(1.0, 3, -1), (10.0, 3, -1)]
    assert all(r["utterances"] == 4 and r["updates"] == 8 for r in results)
    assert (tmp_path / "sweep" / "results.md").read_text().count("| B_a") == 2
    # a second run finds every result and trains nothing
    rerun = subprocess.run(command, check=True, capture_output=True, text=True)
    assert "[sweep]" not in rerun.stdout


def test_the_sentiment_classifier_takes_audio_context(corpus, w2v_checkpoint, copy_of):
    """B for the classifier: e_i fused before pooling, CA's loss against the neighbours' e_j."""
    from omegaconf import OmegaConf

    from gcaf_fairseq.criterions import SeqClsContextCriterion, SeqClsContextCriterionConfig
    from gcaf_fairseq.models import Wav2Vec2ContextSeqClsConfig

    data = copy_of(corpus, "with_sentiment")  # manifests and tables point at the original audio
    (data / "labels.sent.txt").write_text("Negative\nNeutral\nPositive\n")
    count = len((data / "test.tsv").read_text().splitlines()) - 1
    (data / "test.sent").write_text("".join(["Neutral\n", "Positive\n"][i % 2] for i in range(count)))
    task = audio_task(data, labels="sent")
    cfg = Wav2Vec2ContextSeqClsConfig(
        w2v_path=str(w2v_checkpoint), data=str(data), normalize=False, ddp_backend="pytorch_ddp",
        mask_channel_length=8, mask_channel_prob=0.25, context_source="audio", context_use="aware",
        context_fusion="concat", context_window=3, context_offset=-1,
    )
    cfg._name = "wav2vec2_context_seq_cls"
    torch.manual_seed(0)
    model = task.build_model(OmegaConf.structured(cfg))
    task.load_dataset("test")
    dataset = task.datasets["test"]
    batch = dataset.collater([dataset[i] for i in range(4)])
    criterion = SeqClsContextCriterion(OmegaConf.structured(SeqClsContextCriterionConfig(context_alpha=2.0)), task)
    model.train()
    loss, sample_size, log = criterion(model, batch)
    assert log["context_count"] == 4 and log["context_loss"] > 0
    assert log["loss"] == pytest.approx(log["ce_loss"] + 2.0 * log["context_loss"], rel=1e-5)
    loss.backward()
    assert model.w2v_encoder.context_module.fc.weight.grad.abs().sum() > 0
    assert model.pooling.score.weight.shape[1] == 64 + 32  # pooled frames carry [z, e_i]
