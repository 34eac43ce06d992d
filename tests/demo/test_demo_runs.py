"""The demo's systems beyond the papers (E at depth, K previous sentences, (b) with a
previous-only window), its fine-tuning seeds, repeats, decoding variants and output folder:
which runs, stores, commands and tables it makes, with the expensive stages (synthesis,
pretraining, fine-tuning, decoding) replaced by recorders."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from gcaf_demo import pipeline
from gcaf_demo.cli import demo as demo_cli
from gcaf_demo.fairseq_runs import DecodingReport
from gcaf_demo.pipeline import (
    ALL_SYSTEMS, CORPORA, SYSTEMS, SystemResult, claim_output_folder, embed_previous_sentences, results_table,
    seed_means_table,
)
from gcaf_fairseq.data.context_store import ContextStore
from gcaf_fairseq.recipes.processes import hydra_path
from gcaf_fairseq.tables.train_log import TrainingReport


def test_store_names_per_system():
    names = {system: spec.store_name for system, spec in SYSTEMS.items()}
    assert names == {
        "A": None, "C1": "prev", "D4": "P4", "E": "P4", "C1L": "prev", "EL": "P4",
        "C1L-K2": "prev2", "C1L-K3": "prev3", "C1L-K3s": "prev3-sep", "bP": None,
        "C1L-hA": "prev",
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
    # as gcaf-embed-context records it: --sequential-context refuses a model trained on K > 1
    assert (one.meta["previous"], two.meta["previous"], rows.meta["previous"]) == (1, 2, 3)
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
    assert lines[-2] == "| A | 1,2 | 2 | 42.0 (40.0-44.0) | 65.0 (60.0-70.0) | 15.0 (10.0-20.0) | 55.0 (50.0-60.0) | 15.0 (10.0-20.0) |"
    assert lines[-1] == "| C1L | 1,2 | 2 | 33.0 (30.0-36.0) | 25.0 (20.0-30.0) | 3.0 (2.0-4.0) | 35.0 (30.0-40.0) | 5.0 (0.0-10.0) |"
    table = results_table(results)
    assert "| system | seed | description |" in table and "mean (min-max) over fine-tuning seeds and runs:" in table
    single = results_table(results[:2])
    assert "| seed |" not in single and "mean (min-max)" not in single and "| decoding |" not in single


def test_means_over_runs_and_decodings_with_the_gain_kept():
    """Three runs of A and C1L, C1L decoded with the ground truth and its own hypotheses: one
    row per (system, decoding), the runs pooled, and the share of C1L's gain over A that its
    own hypotheses keep, from the means (60 - 34) / (60 - 20) and per paired run."""
    def result(system, repeat, neutral_error, decoding=None, seconds=1.0):
        r = fake_result(system, 1, 30.0, (neutral_error, 1.0), (40.0, 2.0))
        r.repeat, r.decode_loop_seconds = repeat, seconds
        r.decoding = decoding or SYSTEMS[system].decodings[0].name
        return r

    results = []
    for repeat, (a, gt, own) in enumerate([(60.0, 20.0, 30.0), (70.0, 10.0, 37.0), (50.0, 30.0, 35.0)], start=1):
        results += [result("A", repeat, a), result("C1L", repeat, gt), result("C1L", repeat, own, "own", seconds=2.0)]
    table = results_table(results)
    assert "| system | run | decoding | description |" in table
    assert "| C1L | 2 | own hyp. | C1L |" in table
    means = seed_means_table(results).splitlines()
    assert means[2] == ("| system | decoding | seeds | runs | test WER | neutral: homophone err % | neutral: swap % | "
                        "topic: homophone err % | topic: swap % | decode loop s | context s | neutral err: gain over A kept % |")
    rows = {line.split(" | ")[1]: line for line in means[4:]}
    assert rows["GT"].startswith("| C1L | GT | 1 | 3 | ") and rows["GT"].endswith(" | 1.0 (1.0-1.0) | - | - |")
    # means: A 60, GT 20, own 34 -> 65%; paired runs: 30/40 = 75, 33/60 = 55, 15/20 = 75
    assert rows["own hyp."].endswith("| 2.0 (2.0-2.0) | - | 65 (55-75) |")
    assert pipeline.gain_kept(60.0, 20.0, 30.0) == pytest.approx(75.0)
    assert pipeline.gain_kept(60.0, 65.0, 30.0) is None  # no gain to keep
    assert pipeline.gain_kept(60.0, 20.0, 70.0) == pytest.approx(-25.0)  # worse than A


def stub_shared_stages(monkeypatch, tmp_path, calls):
    monkeypatch.setattr(pipeline, "build_homophone_corpus", lambda out, **kw: {"kept_pairs": [1], "dropped_pairs": []})
    monkeypatch.setattr(pipeline, "pretrain_tiny_wav2vec2", lambda *a, **kw: tmp_path / "w2v.pt")
    monkeypatch.setattr(pipeline, "demo_text_encoder", lambda: tmp_path)
    monkeypatch.setattr(
        pipeline, "embed_previous_sentences", lambda corpus, context, encoder, layouts: calls.update(layouts=layouts)
    )
    monkeypatch.setattr(pipeline, "generate_p4_contexts", lambda *a: calls.update(llm=True))


def stub_runs(monkeypatch, calls):
    """train_system and decode_system replaced by recorders: (system, seed, repeat, run name)
    per training, (run name, variant) per decoding."""
    calls.update(runs=[], decodings=[])

    def train_system(system, out_dir, corpus_dir, w2v, updates, seed, alpha, llm, threads, lr, run_name, repeat,
                     store=None):
        calls["runs"].append((system, seed, repeat, run_name))
        calls.setdefault("stores", {})[run_name] = store
        return pipeline.TrainedRun(system, run_name, seed, repeat, out_dir / "finetune" / run_name / "checkpoint_last.pt",
                                   system, None, None)

    def decode_system(run, variant, out_dir, corpus_dir, demo_seed):
        calls["decodings"].append((run.run_name, variant.name))
        result = fake_result(run.system, run.seed, 30.0, (20.0, 2.0), (30.0, 0.0))
        result.repeat, result.decoding = run.repeat, variant.name
        return result

    monkeypatch.setattr(pipeline, "train_system", train_system)
    monkeypatch.setattr(pipeline, "decode_system", decode_system)


def test_every_system_is_fine_tuned_once_per_seed(monkeypatch, tmp_path):
    """run_demo's schedule: the shared stages once, each (system, seed) once, in seed order,
    into finetune/{system} for --seed and finetune/{system}.seed{n} for the others."""
    calls = {"layouts": None}
    stub_shared_stages(monkeypatch, tmp_path, calls)
    stub_runs(monkeypatch, calls)
    results = pipeline.run_demo(
        out_dir=tmp_path / "demo", systems=["A", "C1L-K3s", "EL"], seed=1, finetune_seeds=[1, 2], parallel=1
    )
    assert calls["runs"] == [
        ("A", 1, 1, "A"), ("C1L-K3s", 1, 1, "C1L-K3s"), ("EL", 1, 1, "EL"),
        ("A", 2, 1, "A.seed2"), ("C1L-K3s", 2, 1, "C1L-K3s.seed2"), ("EL", 2, 1, "EL.seed2"),
    ]
    assert calls["decodings"] == [(name, SYSTEMS[system].decodings[0].name) for system, _, _, name in calls["runs"]]
    assert calls["layouts"] == [(3, "separate")] and calls["llm"]
    assert [(r.system, r.seed) for r in results] == [(system, seed) for system, seed, _, _ in calls["runs"]]
    assert "mean (min-max) over fine-tuning seeds and runs:" in (tmp_path / "demo" / "results.md").read_text()


def test_repeats_and_decoding_variants_are_scheduled(monkeypatch, tmp_path):
    """--repeats 2 --decodings all: each (system, seed) trained twice (finetune/C1L.run2), all
    trainings before any decoding, every run's plain decoding before the variants (C1L's
    two passes read A's plain decoding of the same run), one result per (run, variant)."""
    calls = {}
    stub_shared_stages(monkeypatch, tmp_path, calls)
    stub_runs(monkeypatch, calls)
    results = pipeline.run_demo(out_dir=tmp_path / "demo", systems=["A", "C1L", "bP"], repeats=2, decodings="all",
                                parallel=2)
    assert sorted(calls["runs"]) == sorted([
        ("A", 1, 1, "A"), ("C1L", 1, 1, "C1L"), ("bP", 1, 1, "bP"),
        ("A", 1, 2, "A.run2"), ("C1L", 1, 2, "C1L.run2"), ("bP", 1, 2, "bP.run2"),
    ])
    plain = [("A", "plain"), ("C1L", "gt"), ("bP", "reencoded"), ("A.run2", "plain"), ("C1L.run2", "gt"),
             ("bP.run2", "reencoded")]
    variants = [("C1L", "hyp-A"), ("C1L", "own"), ("bP", "cached"), ("C1L.run2", "hyp-A"), ("C1L.run2", "own"),
                ("bP.run2", "cached")]
    assert calls["decodings"] == plain + variants
    assert [(r.system, r.repeat, r.decoding) for r in results] == [
        ("A", 1, "plain"), ("C1L", 1, "gt"), ("C1L", 1, "hyp-A"), ("C1L", 1, "own"), ("bP", 1, "reencoded"),
        ("bP", 1, "cached"), ("A", 2, "plain"), ("C1L", 2, "gt"), ("C1L", 2, "hyp-A"), ("C1L", 2, "own"),
        ("bP", 2, "reencoded"), ("bP", 2, "cached"),
    ]
    saved = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert [(row["repeat"], row["decoding"]) for row in saved][:3] == [(1, "plain"), (1, "gt"), (1, "hyp-A")]
    # the default demo: each system's plain decoding only
    calls.update(runs=[], decodings=[])
    pipeline.run_demo(out_dir=tmp_path / "demo", systems=["A", "C1L"], parallel=1)
    assert calls["decodings"] == [("A", "plain"), ("C1L", "gt")]
    assert "| decoding |" not in (tmp_path / "demo" / "results.md").read_text()


def test_a_system_trained_on_hypotheses_waits_for_its_first_pass(monkeypatch, tmp_path):
    """C1L-hA.run2 is trained after A.run2 (the second wave), on the store of A.run2's
    hypotheses of train and valid; every other run trains in the first wave with the demo's
    stores."""
    calls = {}
    stub_shared_stages(monkeypatch, tmp_path, calls)
    stub_runs(monkeypatch, calls)
    first_passes = []

    def first_pass_training_store(first_pass, spec, out_dir, corpus_dir):
        first_passes.append((first_pass.run_name, spec.name, len(calls["runs"])))
        return f"{out_dir}/context/hyp-{first_pass.run_name}/{{split}}.prev.cls"

    monkeypatch.setattr(pipeline, "first_pass_training_store", first_pass_training_store)
    results = pipeline.run_demo(out_dir=tmp_path / "demo", systems=["C1L-hA", "A"], repeats=2, parallel=2)
    assert first_passes == [("A", "C1L-hA", 2), ("A.run2", "C1L-hA", 2)]  # after both A runs, before C1L-hA's
    assert [name for *_, name in calls["runs"][2:]] == ["C1L-hA", "C1L-hA.run2"]
    assert calls["stores"]["C1L-hA.run2"] == f"{tmp_path / 'demo'}/context/hyp-A.run2/{{split}}.prev.cls"
    assert calls["stores"]["A"] is None
    assert [(r.system, r.repeat) for r in results] == [("C1L-hA", 1), ("A", 1), ("C1L-hA", 2), ("A", 2)]
    with pytest.raises(ValueError, match="C1L-hA is trained on A's hypotheses of the same run: add A"):
        pipeline.run_demo(out_dir=tmp_path / "demo", systems=["C1L-hA"])


def test_the_training_store_of_a_first_pass_is_made_once_per_checkpoint(monkeypatch, tmp_path):
    """A.run2 decodes train and valid (recorded here), their hypotheses are embedded by the
    real MiniLM into context/hyp-A.run2/; a second call keeps them (C1L-hA's training inputs
    do not change), a retrained A makes them again."""
    out_dir = tmp_path / "demo"
    corpus_dir = out_dir / "corpus"
    corpus_dir.mkdir(parents=True)
    checkpoint = out_dir / "finetune" / "A.run2" / "checkpoint_last.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_text("weights")
    for split in ("train", "valid"):
        write_table(corpus_dir, split, chapters=1, sentences=2)
    decoded = []

    def generate(data, checkpoint, subset, results, extra):
        decoded.append(subset)
        results.mkdir(parents=True, exist_ok=True)
        (results / f"{subset}.ids").write_text(f"{subset}-0-0\n{subset}-0-1\n")
        (results / f"{subset}.hyp.wrd").write_text(f"{subset.upper()} ZERO\n{subset.upper()} ONE\n")

    monkeypatch.setattr(pipeline, "generate", generate)
    first_pass = pipeline.TrainedRun("A", "A.run2", 1, 2, checkpoint, "A", TrainingReport(0, 0, [], []),
                                     pipeline.RunTimes(1.0, 1.0))
    template = pipeline.first_pass_training_store(first_pass, SYSTEMS["C1L-hA"], out_dir, corpus_dir)
    assert template == f"{out_dir}/context/hyp-A.run2/{{split}}.prev.cls" and decoded == ["train", "valid"]
    texts = (out_dir / "context" / "hyp-A.run2" / "train.prev_text.jsonl").read_text().splitlines()
    assert [json.loads(line)["text"] for line in texts] == ["", "TRAIN ZERO"]
    assert ContextStore(template.format(split="valid")).get("valid-0-1").shape[0] == 1
    pipeline.first_pass_training_store(first_pass, SYSTEMS["C1L-hA"], out_dir, corpus_dir)
    assert decoded == ["train", "valid"]  # kept
    later = (out_dir / "context" / "hyp-A.run2" / "train.prev.cls").stat().st_mtime + 10
    os.utime(checkpoint, (later, later))  # A trained again
    pipeline.first_pass_training_store(first_pass, SYSTEMS["C1L-hA"], out_dir, corpus_dir)
    assert decoded == ["train", "valid"] * 2


def test_decoding_plan_and_its_errors():
    plan = pipeline.decoding_plan(["A", "C1L", "bP", "C1L-K3s"], "own,cached")
    assert {system: [v.name for v in variants] for system, variants in plan.items()} == {
        "A": ["plain"], "C1L": ["gt", "own"], "bP": ["reencoded", "cached"], "C1L-K3s": ["gt"],
    }
    assert [v.name for v in pipeline.decoding_plan(["A", "C1L-K3s"], "all")["C1L-K3s"]] == ["gt", "hyp-A"]
    assert [v.name for v in pipeline.decoding_plan(["C1L"], "plain")["C1L"]] == ["gt"]
    with pytest.raises(ValueError, match="unknown decoding variant"):
        pipeline.decoding_plan(["A"], "mine")
    with pytest.raises(ValueError, match="reads A's hypotheses of the same run: add A to the systems"):
        pipeline.decoding_plan(["C1L"], "hyp-A")
    with pytest.raises(ValueError, match="no system among A, E has the decoding variant"):
        pipeline.decoding_plan(["A", "E"], "cached")


def test_the_command_line_takes_repeats_and_decodings(monkeypatch):
    calls = []
    monkeypatch.setattr(demo_cli, "run_demo", lambda **kwargs: calls.append(kwargs))
    demo_cli.main(["--systems", "A,C1L,bP", "--repeats", "3", "--decodings", "all"])
    assert (calls[0]["systems"], calls[0]["repeats"], calls[0]["decodings"]) == (["A", "C1L", "bP"], 3, "all")
    for bad in (["--repeats", "0"], ["--systems", "C1L", "--decodings", "hyp-A"], ["--decodings", "cached"]):
        with pytest.raises(SystemExit):
            demo_cli.main(bad)


def test_context_options_of_each_decoding_variant(tmp_path):
    """What fairseq-generate gets per variant: the store (GT, or two passes' store), the
    utterance table (audio context, the sequential pass's streams), --sequential-context with
    the demo's MiniLM for text, and one utterance per batch for audio context."""
    out_dir, corpus_dir = tmp_path / "demo", tmp_path / "demo" / "corpus"
    table = f"{corpus_dir}/{{split}}.utterances.jsonl"

    def arguments(system, variant, store=None):
        chosen = next(v for v in SYSTEMS[system].decodings if v.name == variant)
        return pipeline.decoding_arguments(SYSTEMS[system], chosen, out_dir, corpus_dir, store)

    assert arguments("A", "plain") == []
    assert arguments("C1L", "gt") == ["--context-store", f"{out_dir}/context/{{split}}.prev.cls"]
    assert arguments("C1L", "hyp-A", "/h/{split}.prev.cls") == ["--context-store", "/h/{split}.prev.cls"]
    assert arguments("C1L", "own") == ["--utterance-table", table, "--sequential-context", "--context-text-encoder",
                                       str(pipeline.demo_text_encoder())]
    assert arguments("bP", "reencoded") == ["--utterance-table", table, "--batch-size", "1"]
    assert arguments("bP", "cached") == ["--utterance-table", table, "--batch-size", "1", "--sequential-context"]


class FakeRunner:
    """The recipes' runner, recording the step instead of running fairseq-hydra-train."""

    def __init__(self):
        self.steps = []

    def run(self, step):
        self.steps.append(step)
        return True

    def times(self, step):
        return 1.0, 1.0


def test_bP_trains_with_a_previous_only_window_and_the_utterance_tables(monkeypatch, tmp_path):
    monkeypatch.setattr(pipeline, "read_training_log", lambda path: TrainingReport(0, 0, [], []))
    runner = FakeRunner()
    corpus_dir = tmp_path / "corpus"
    run = pipeline.train_system("bP", tmp_path, corpus_dir, tmp_path / "w2v.pt", 9, 1, 1.0, runner=runner, repeat=2,
                                run_name="bP.run2")
    (step,) = runner.steps
    command = " ".join(step.argv)
    assert "+system=ca_b model.context_dim=32 model.context_window=2 model.context_offset=-1" in command
    assert hydra_path("task.utterance_table", f"{corpus_dir}/{{split}}.utterances.jsonl") in step.argv
    assert "context_store" not in command
    assert {corpus_dir / "train.utterances.jsonl", corpus_dir / "valid.utterances.jsonl"} <= set(step.inputs)
    assert (run.run_name, run.repeat, run.checkpoint) == ("bP.run2", 2, tmp_path / "finetune" / "bP.run2" / "checkpoint_last.pt")
    # A and C1L keep the overrides of the runs made before bP existed (their trainings are reused)
    pipeline.train_system("C1L", tmp_path, corpus_dir, tmp_path / "w2v.pt", 9, 1, 1.0, runner=runner)
    c1l = runner.steps[-1].argv
    assert c1l[-2:] == ["+system=C1", "model.context_layer=-1"] and not any("utterance_table" in item for item in c1l)


def write_first_pass(out_dir: Path, run_name: str, hypotheses: dict) -> None:
    folder = out_dir / "decode" / run_name
    folder.mkdir(parents=True)
    (folder / "test.ids").write_text("".join(f"{utterance_id}\n" for utterance_id in hypotheses))
    (folder / "test.hyp.wrd").write_text("".join(f"{text}\n" for text in hypotheses.values()))
    (folder / "test.timing.json").write_text(json.dumps({"decode_seconds": 2.5}))


def test_two_passes_embed_a_s_hypotheses_of_the_same_run(monkeypatch, tmp_path):
    """C1L.run2 decoded with hyp-A: A.run2's hypotheses become the previous texts (a chapter's
    first sentence none), embedded by the real MiniLM into context/hyp-A.run2/, and
    fairseq-generate reads that store; the context time counts A's decoding loop."""
    out_dir = tmp_path / "demo"
    corpus_dir = out_dir / "corpus"
    corpus_dir.mkdir(parents=True)
    write_table(corpus_dir, "test", chapters=1, sentences=3)
    write_first_pass(out_dir, "A.run2", {f"test-0-{k}": f"HYPOTHESIS {k}" for k in range(3)})
    commands = []
    monkeypatch.setattr(pipeline, "generate", lambda data, checkpoint, subset, results, extra: commands.append(extra))
    monkeypatch.setattr(pipeline, "read_generate_output",
                        lambda folder, subset: DecodingReport({0: "X"}, {0: "X"}, 10.0, 1, 1.0))
    run = pipeline.TrainedRun("C1L", "C1L.run2", 1, 2, out_dir / "finetune" / "C1L.run2" / "checkpoint_last.pt", "C1L",
                              TrainingReport(0, 0, [], []), pipeline.RunTimes(1.0, 1.0))
    hyp_a = next(v for v in SYSTEMS["C1L"].decodings if v.name == "hyp-A")
    result = pipeline.decode_system(run, hyp_a, out_dir, corpus_dir, demo_seed=1)
    store_dir = out_dir / "context" / "hyp-A.run2"
    assert commands == [["--context-store", f"{store_dir}/{{split}}.prev.cls"]]
    texts = [json.loads(line)["text"] for line in (store_dir / "test.prev_text.jsonl").read_text().splitlines()]
    assert texts == ["", "HYPOTHESIS 0", "HYPOTHESIS 1"]
    store = ContextStore(store_dir / "test.prev.cls")
    assert store.meta["previous"] == 1 and [store.get(f"test-0-{k}").shape[0] for k in range(3)] == [0, 1, 1]
    assert (result.decoding, result.repeat) == ("hyp-A", 2) and result.context_seconds >= 2.5
    assert "A's hypotheses" in result.context_at_inference
    # without A's decoding of the same run: a message naming it
    run3 = pipeline.TrainedRun("C1L", "C1L.run3", 1, 3, run.checkpoint, "C1L", TrainingReport(0, 0, [], []), run.train_times)
    with pytest.raises(ValueError, match="needs A's hypotheses of the same run .*decode/A.run3"):
        pipeline.decode_system(run3, hyp_a, out_dir, corpus_dir, demo_seed=1)


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
    repeated = fake_result("C1L", 1, 99.0, (100.0, 0.0), (100.0, 0.0))
    repeated.repeat, repeated.decoding = 3, "gt"
    own = fake_result("C1L", 1, 99.0, (100.0, 0.0), (100.0, 0.0))
    own.repeat, own.decoding = 3, "own"  # the same run: named once
    warnings = unlearned_warnings([repeated, own], tmp_path, demo_seed=1)
    assert len(warnings) == 1 and "C1L (seed 1, run 3) did not learn" in warnings[0]
    assert str(tmp_path / "finetune" / "C1L.run3" / "train.log") in warnings[0]
