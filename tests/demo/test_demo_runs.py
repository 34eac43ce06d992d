"""The demo's systems beyond the papers (E at depth, K previous sentences), its fine-tuning
seeds and its output folder: which runs, stores and tables it makes, with the expensive
stages (synthesis, pretraining, fine-tuning) replaced by recorders."""

import json
from pathlib import Path

import numpy as np
import pytest

from gcaf_demo import pipeline
from gcaf_demo.cli import demo as demo_cli
from gcaf_demo.pipeline import (
    ALL_SYSTEMS, CORPORA, SYSTEMS, SystemResult, claim_output_folder, embed_previous_sentences, results_table,
    seed_means_table,
)
from gcaf_fairseq.data.context_store import ContextStore


def test_store_names_per_system():
    names = {system: spec.store_name for system, spec in SYSTEMS.items()}
    assert names == {
        "A": None, "C1": "prev", "D4": "P4", "E": "P4", "C1L": "prev", "EL": "P4",
        "C1L-K2": "prev2", "C1L-K3": "prev3", "C1L-K3s": "prev3-sep",
    }
    assert SYSTEMS["EL"].overlay == "E" and SYSTEMS["EL"].context_layer == -1
    assert ALL_SYSTEMS == ("A", "C1", "D4", "E", "C1L")  # the five-system table; the others are opt-in


def test_command_line_seeds_and_all(monkeypatch):
    calls = []
    monkeypatch.setattr(demo_cli, "run_demo", lambda **kwargs: calls.append(kwargs))
    demo_cli.main(["--systems", "all", "--finetune-seeds", "1,2,3"])
    demo_cli.main(["--systems", "EL,C1L-K3s"])
    assert calls[0]["systems"] == list(ALL_SYSTEMS) and calls[0]["finetune_seeds"] == [1, 2, 3]
    assert calls[1]["systems"] == ["EL", "C1L-K3s"] and calls[1]["finetune_seeds"] is None
    for bad in (["--finetune-seeds", "1,x"], ["--systems", "A,C9"]):
        with pytest.raises(SystemExit):
            demo_cli.main(bad)


def write_table(corpus_dir: Path, split: str, chapters: int, sentences: int) -> None:
    rows = []
    for chapter in range(chapters):
        for position in range(sentences):
            stream = f"{split}-{chapter}"
            rows.append({
                "id": f"{stream}-{position}", "stream": stream, "position": position, "audio": "x.flac",
                "text": f"SENTENCE {position} OF {split.upper()} CHAPTER {chapter}",
                "prev_id": f"{stream}-{position - 1}" if position else None,
                "next_id": f"{stream}-{position + 1}" if position + 1 < sentences else None,
                "in_split": True,
            })
    (corpus_dir / f"{split}.utterances.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_k_previous_stores_of_the_demo(tmp_path):
    """The stores of C1L-K2 (one text) and C1L-K3s (K [CLS] rows), with the real MiniLM:
    a chapter's k-th sentence has min(k, K) previous sentences, its first none."""
    corpus_dir, context_dir = tmp_path / "corpus", tmp_path / "context"
    corpus_dir.mkdir()
    for split in pipeline.SPLITS:
        write_table(corpus_dir, split, chapters=2, sentences=4)
    without = embed_previous_sentences(
        corpus_dir, context_dir, pipeline.demo_text_encoder(),
        [(SYSTEMS[s].previous, SYSTEMS[s].join) for s in ("C1L", "C1L-K2", "C1L-K3s")],
    )
    assert without == {split: 2 for split in pipeline.SPLITS}  # the first sentence of each chapter
    one, two, rows = (ContextStore(context_dir / f"test.{name}.cls") for name in ("prev", "prev2", "prev3-sep"))
    assert (one.pooling, two.pooling, rows.pooling) == ("cls", "cls", "sequence")
    assert [rows.get(f"test-1-{k}").shape[0] for k in range(4)] == [0, 1, 2, 3]
    assert [two.get(f"test-1-{k}").shape[0] for k in range(4)] == [0, 1, 1, 1]
    # Sentence 1 has one previous sentence: K = 2 and the first row of K = 3 are K = 1's vector
    # (up to float16 and the padding of other batches).
    def same(a, b):
        np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32), atol=5e-3)

    same(two.get("test-1-1"), one.get("test-1-1"))
    same(rows.get("test-1-1"), one.get("test-1-1"))
    # Sentence 3 sees sentences 0, 1, 2, oldest first: its last row is sentence 2 alone, K = 1's vector.
    same(rows.get("test-1-3")[-1], one.get("test-1-3")[0])
    same(rows.get("test-1-3")[0], one.get("test-1-1")[0])
    difference = np.abs(np.asarray(two.get("test-1-3"), np.float32) - np.asarray(one.get("test-1-3"), np.float32))
    assert difference.max() > 0.05  # two sentences in one text are not the last one
    texts = [json.loads(line) for line in (context_dir / "test.prev2_text.jsonl").read_text().splitlines()]
    assert texts[3]["text"] == "SENTENCE 1 OF TEST CHAPTER 0 SENTENCE 2 OF TEST CHAPTER 0"


def fake_result(system: str, seed: int, wer: float, neutral: tuple, topic: tuple) -> SystemResult:
    def kind(rates):
        return {"targets": 10, "homophone_error_rate": rates[0], "swap_rate": rates[1]}

    return SystemResult(
        system=system, seed=seed, description=system, test_wer=wer,
        homophones={"per_kind": {"neutral": kind(neutral), "topic": kind(topic)}},
        valid_wer=wer, parameters=100, updates=9, train_seconds=1.0, train_cpu_seconds=1.0, decode_seconds=0.1,
        decoded=20, context_at_inference="none",
    )


def test_seed_means_table():
    results = [
        fake_result("A", 1, 40.0, (60.0, 20.0), (50.0, 10.0)),
        fake_result("C1L", 1, 30.0, (20.0, 2.0), (30.0, 0.0)),
        fake_result("A", 2, 44.0, (70.0, 10.0), (60.0, 20.0)),
        fake_result("C1L", 2, 36.0, (30.0, 4.0), (40.0, 10.0)),
    ]
    lines = seed_means_table(results).splitlines()
    assert lines[-2] == "| A | 1,2 | 42.0 (40.0-44.0) | 65.0 (60.0-70.0) | 15.0 (10.0-20.0) | 55.0 (50.0-60.0) | 15.0 (10.0-20.0) |"
    assert lines[-1] == "| C1L | 1,2 | 33.0 (30.0-36.0) | 25.0 (20.0-30.0) | 3.0 (2.0-4.0) | 35.0 (30.0-40.0) | 5.0 (0.0-10.0) |"
    table = results_table(results)
    assert "| system | seed | description |" in table and "mean (min-max) over fine-tuning seeds:" in table
    single = results_table(results[:2])
    assert "| seed |" not in single and "mean (min-max)" not in single


def test_every_system_is_fine_tuned_once_per_seed(monkeypatch, tmp_path):
    """run_demo's schedule: the shared stages once, each (system, seed) once, in seed order,
    into finetune/{system} for --seed and finetune/{system}.seed{n} for the others."""
    calls = {"runs": [], "layouts": None}
    monkeypatch.setattr(pipeline, "build_homophone_corpus", lambda out, **kw: {"kept_pairs": [1], "dropped_pairs": []})
    monkeypatch.setattr(pipeline, "pretrain_tiny_wav2vec2", lambda *a, **kw: tmp_path / "w2v.pt")
    monkeypatch.setattr(pipeline, "demo_text_encoder", lambda: tmp_path)
    monkeypatch.setattr(
        pipeline, "embed_previous_sentences", lambda corpus, context, encoder, layouts: calls.update(layouts=layouts)
    )
    monkeypatch.setattr(pipeline, "generate_p4_contexts", lambda *a: calls.update(llm=True))

    def run_system(system, out_dir, corpus_dir, w2v, updates, seed, alpha, llm, threads, lr, run_name):
        calls["runs"].append((system, seed, run_name))
        return fake_result(system, seed, 30.0, (20.0, 2.0), (30.0, 0.0))

    monkeypatch.setattr(pipeline, "run_system", run_system)
    results = pipeline.run_demo(
        out_dir=tmp_path / "demo", systems=["A", "C1L-K3s", "EL"], seed=1, finetune_seeds=[1, 2], parallel=1
    )
    assert calls["runs"] == [
        ("A", 1, "A"), ("C1L-K3s", 1, "C1L-K3s"), ("EL", 1, "EL"),
        ("A", 2, "A.seed2"), ("C1L-K3s", 2, "C1L-K3s.seed2"), ("EL", 2, "EL.seed2"),
    ]
    assert calls["layouts"] == [(3, "separate")] and calls["llm"]
    assert [(r.system, r.seed) for r in results] == [(system, seed) for system, seed, _ in calls["runs"]]
    assert "mean (min-max) over fine-tuning seeds:" in (tmp_path / "demo" / "results.md").read_text()


def test_an_output_folder_of_other_corpus_settings_is_refused(tmp_path):
    settings = {**CORPORA["homophones"].options, "seed": 1}
    claim_output_folder(tmp_path, "homophones", settings)
    claim_output_folder(tmp_path, "homophones", dict(settings))  # the same settings: accepted
    with pytest.raises(ValueError, match="built with other settings"):
        claim_output_folder(tmp_path, "homophones", {**settings, "seed": 2})
    with pytest.raises(ValueError, match="'homophones' corpus; give --out another folder for the 'topics'"):
        claim_output_folder(tmp_path, "topics", {"chapters": 24, "sentences_per_chapter": 8, "seed": 1})
    (tmp_path / pipeline.CORPUS_MARK_NAME).write_text(json.dumps({"corpus": "homophones"}))  # an earlier version's
    with pytest.raises(ValueError, match="an earlier version of the demo"):
        claim_output_folder(tmp_path, "homophones", settings)


def test_topic_probe_counts_nearest_centroids_per_kind():
    from gcaf_demo.student_probe import topic_probe

    centroids = {"kitchen": np.array([1.0, 0.0]), "garden": np.array([0.0, 1.0])}
    topic_of = {"k1": "kitchen", "k2": "kitchen", "g1": "garden", "g2": "garden", "first": "garden"}
    kind_of = {"k1": "neutral", "k2": "topic", "g1": "neutral", "g2": "topic", "first": "topic"}
    teacher = {"k1": [2.0, 0.1], "k2": [1.0, 0.0], "g1": [0.1, 3.0], "g2": [0.2, 1.0], "first": None}
    student = {
        "k1": [0.0, 1.0],  # says garden: wrong, orthogonal to its teacher
        "k2": [1.0, 0.0],  # right, the teacher's direction
        "g1": [1.0, 0.2],  # wrong
        "g2": [0.2, 1.0],  # right, the teacher's direction
        "first": [0.0, 1.0],  # no teacher (a chapter's first sentence): not counted
    }
    probe = topic_probe(student, teacher, topic_of, kind_of, centroids)
    assert probe["neutral"]["utterances"] == 2 and probe["topic"]["utterances"] == 2 and probe["all"]["utterances"] == 4
    assert probe["neutral"]["student_topic_accuracy"] == 0.0 and probe["topic"]["student_topic_accuracy"] == 100.0
    assert probe["all"]["teacher_topic_accuracy"] == 100.0 and probe["all"]["chance"] == 50.0
    assert probe["topic"]["cosine"] == pytest.approx(1.0)
    assert probe["all"]["student_topic_accuracy"] == 50.0


def test_a_run_that_did_not_learn_is_named(tmp_path):
    from gcaf_demo.pipeline import unlearned_warnings

    results = [fake_result("A", 1, 40.3, (60.0, 20.0), (50.0, 10.0)), fake_result("A", 2, 99.3, (100.0, 0.0), (100.0, 0.0))]
    warnings = unlearned_warnings(results, tmp_path, demo_seed=1)
    assert len(warnings) == 1 and "A (seed 2) did not learn to spell: test WER 99.3" in warnings[0]
    assert str(tmp_path / "finetune" / "A.seed2" / "train.log") in warnings[0]
