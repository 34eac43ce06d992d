"""Real ``fairseq-hydra-train`` and ``fairseq-generate`` runs of systems A, C1 and E on a
synthesized corpus with a tiny wav2vec2 (a few dozen updates each)."""

import collections
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gcaf_demo.fairseq_runs import generate, read_generate_output
from gcaf_fairseq.recipes.processes import hydra_train
from gcaf_fairseq.tables.train_log import read_training_log

pytestmark = pytest.mark.slow

UPDATES = 40
TEST_UTTERANCES = 4


@pytest.fixture(scope="session")
def trained(corpus, w2v_checkpoint, context_dir, tmp_path_factory):
    """Fine-tune A, C1 and E once per session; E's stores live in a folder that is deleted
    after training, so its decoding provably runs without any store."""
    root = tmp_path_factory.mktemp("finetune")
    e_context = root / "e_context"
    shutil.copytree(context_dir, e_context)
    stores = {"A": None, "C1": context_dir, "E": e_context}
    runs = {}
    for system, store_dir in stores.items():
        overrides = [f"task.data={corpus}", f"model.w2v_path={w2v_checkpoint}", f"optimization.max_update={UPDATES}", "dataset.validate_interval_updates=20"]
        if store_dir is not None:
            overrides.append(f"task.context_store='{store_dir}/{{split}}.prev.cls'")
        hydra_train("demo_tiny", root / system, overrides, system=system)
        runs[system] = root / system
    shutil.rmtree(e_context)
    return runs


@pytest.mark.parametrize("system", ["A", "C1", "E"])
def test_training_loss_goes_down(trained, system):
    report = read_training_log(trained[system] / "train.log")
    assert report.num_updates == UPDATES
    assert len(report.train_losses) >= 3
    assert report.train_losses[-1] < 0.7 * report.train_losses[0]
    text = (trained[system] / "train.log").read_text()
    assert '"ctc_loss"' in text
    assert ('"context_loss"' in text) == (system == "E")  # only the aware model distils
    assert report.valid and "wer" in report.valid[-1]


@pytest.mark.parametrize("system", ["A", "C1", "E"])
def test_fairseq_generate_decodes_and_scores_every_utterance(trained, corpus, context_dir, system, tmp_path):
    # C1 needs the store at inference; E has none (its store folder was deleted) and needs none.
    extra = ["--context-store", f"{context_dir}/{{split}}.prev.cls"] if system == "C1" else []
    generate(corpus, trained[system] / "checkpoint_last.pt", "test", tmp_path, extra)
    report = read_generate_output(tmp_path, "test")
    assert sorted(report.hypotheses) == list(range(TEST_UTTERANCES))
    assert sorted(report.references) == list(range(TEST_UTTERANCES))
    assert report.sentences == TEST_UTTERANCES
    references = (corpus / "test.wrd").read_text().splitlines()
    assert sorted(report.references.values()) == sorted(references)  # words, not letters
    assert 0 <= report.wer
    # The same results in utterance-id order, next to fairseq's own file.
    ids = (tmp_path / "test.ids").read_text().splitlines()
    assert ids == sorted(ids) and len(ids) == TEST_UTTERANCES
    assert sorted((tmp_path / "test.ref.wrd").read_text().splitlines()) == sorted(references)
    # the same words (fairseq's D- line keeps the extra spaces of repeated "|" tokens)
    words = lambda lines: sorted(" ".join(line.split()) for line in lines)  # noqa: E731
    assert words((tmp_path / "test.hyp.wrd").read_text().splitlines()) == words(report.hypotheses.values())
    assert json.loads((tmp_path / "test.wer.json").read_text())["wer"] == pytest.approx(report.wer, abs=0.005)


def test_kenlm_lexicon_decoding_through_fairseq_generate(trained, corpus, tmp_path, capsys):
    from gcaf_fairseq.cli.build_lexicon import main as build_lexicon_main

    words = " ".join((corpus / f"{split}.wrd").read_text() for split in ("train", "valid", "test")).split()
    counts = collections.Counter(words)
    total = sum(counts.values())
    unigrams = "".join(f"{math.log10(c / total):.4f}\t{w}\t0\n" for w, c in sorted(counts.items()))
    arpa = tmp_path / "words.arpa"
    arpa.write_text(
        f"\\data\\\nngram 1={len(counts) + 3}\nngram 2=1\n\n\\1-grams:\n-2.0\t<unk>\t0\n-99\t<s>\t0\n-1.0\t</s>\t0\n"
        f"{unigrams}\n\\2-grams:\n-0.5\t<s> {words[0]}\n\n\\end\\\n"
    )
    build_lexicon_main(["--arpa", str(arpa), "--dict", str(corpus / "dict.ltr.txt"), "--out", str(tmp_path / "lexicon.txt")])
    assert json.loads(capsys.readouterr().out)["skipped"] == 0
    results = tmp_path / "results"
    # Through the recipe script, with the beam cut down for speed.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "BEAM": "20", "WORD_SCORE": "1"}
    script = Path(__file__).resolve().parents[2] / "scripts" / "recipes" / "decode.sh"
    subprocess.run(["bash", str(script), str(corpus), str(trained["A"] / "checkpoint_last.pt"), "test", str(results),
                    str(arpa), str(tmp_path / "lexicon.txt")], check=True, env=env, capture_output=True)
    report = read_generate_output(results, "test")
    assert sorted(report.hypotheses) == list(range(TEST_UTTERANCES))
    hypothesis_words = " ".join((results / "test.hyp.wrd").read_text().split("\n")).split()
    assert set(hypothesis_words) <= set(counts)  # lexicon-constrained
    assert json.loads((results / "test.wer.json").read_text())["wer"] == pytest.approx(report.wer, abs=0.005)
    assert json.loads((results / "test.timing.json").read_text())["device"] == "cpu"

    # The recipes' decoder, same settings: the same words, plus the LM record and the generation loop's time
    from gcaf_fairseq.data.decoding_timing import GENERATION_LOOP
    from gcaf_fairseq.data.fingerprints import file_sha256
    from gcaf_fairseq.data.manifest import manifest_size

    recipe = tmp_path / "recipe"
    subprocess.run([sys.executable, "-m", "gcaf_fairseq.recipes.decode", "--out", str(recipe), "--subsets", "test",
                    "--suffix", "+lm", "--lm-role", "slue-asr", "--", str(corpus), "--user-dir",
                    str(Path(__file__).resolve().parents[2] / "gcaf_fairseq"), "--task", "audio_context_finetuning",
                    "--path", str(trained["A"] / "checkpoint_last.pt"), "--labels", "ltr", "--cpu", "--ctc-decoder",
                    "kenlm", "--decoder-lm", str(arpa), "--decoder-lexicon", str(tmp_path / "lexicon.txt"),
                    "--decoder-beam", "20", "--decoder-lm-weight", "2", "--decoder-word-score", "1"],
                   check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True)
    decoded = recipe / "test+lm"
    assert (decoded / "test.hyp.wrd").read_text() == (results / "test.hyp.wrd").read_text()
    record = json.loads((decoded / "lm.json").read_text())
    assert (record["role"], record["lm"], record["lm_sha256"]) == ("slue-asr", str(arpa), file_sha256(arpa))
    assert (record["beam"], record["lm_weight"], record["word_score"]) == (20, 2.0, 1.0)
    timing = json.loads((decoded / "timing.json").read_text())
    utterances, audio_seconds = manifest_size(corpus / "test.tsv")
    assert timing["timed"] == GENERATION_LOOP and timing["device"] == "cpu" and timing["utterances"] == utterances
    assert timing["audio_seconds"] == pytest.approx(audio_seconds, abs=1e-3)  # every utterance once, no padding
    assert timing["real_time_factor"] == pytest.approx(timing["decode_seconds"] / audio_seconds, rel=1e-2)


def test_injection_model_refuses_to_decode_without_its_store(trained, corpus, tmp_path):
    with pytest.raises(RuntimeError, match=r"context store .*missing\.test\.cls for split 'test' does not exist"):
        generate(corpus, trained["C1"] / "checkpoint_last.pt", "test", tmp_path, ["--context-store", f"{tmp_path}/missing.{{split}}.cls"])


def test_e_overhead_over_a_in_the_trained_models(trained):
    a = read_training_log(trained["A"] / "train.log").parameters
    e = read_training_log(trained["E"] / "train.log").parameters
    frame_dim, embed_dim, attention_dim = 64, 384, 32
    student = (frame_dim + 1) + (frame_dim * embed_dim + embed_dim)
    cross_attention = (frame_dim * attention_dim + attention_dim) + 2 * (embed_dim * attention_dim + attention_dim) + (attention_dim * frame_dim + frame_dim)
    assert e - a == student + cross_attention


def test_training_resumes_from_checkpoint_last(trained, corpus, w2v_checkpoint, tmp_path):
    save_dir = tmp_path / "A"
    shutil.copytree(trained["A"], save_dir)
    hydra_train("demo_tiny", save_dir, [f"task.data={corpus}", f"model.w2v_path={w2v_checkpoint}", f"optimization.max_update={UPDATES + 10}"], system="A")
    log = (save_dir / "train.log").read_text()
    assert f"@ {UPDATES} updates" in log  # fairseq: "Loaded checkpoint ... (epoch N @ 40 updates)"
    assert read_training_log(save_dir / "train.log").num_updates == UPDATES + 10


def test_finetuned_checkpoints_load_under_weights_only_thanks_to_the_allowlist(trained):
    checkpoint = trained["E"] / "checkpoint_last.pt"
    load = f"import torch; state = torch.load({str(checkpoint)!r}, weights_only=True); print(type(state['task_state']['target_dictionary']).__name__)"
    without = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True)
    assert without.returncode != 0 and "Dictionary" in without.stderr
    with_plugin = subprocess.run([sys.executable, "-c", "import gcaf_fairseq.plugin; " + load], capture_output=True, text=True)
    assert with_plugin.returncode == 0, with_plugin.stderr
    assert with_plugin.stdout.strip().endswith("Dictionary")


def test_the_demo_pipeline_runs_end_to_end(tmp_path):
    from gcaf_demo.pipeline import run_demo

    # 5 chapters x 3 sentences: train 1 chapter, valid 2, test 2 (6 utterances).
    results = run_demo(out_dir=tmp_path / "demo", corpus="topics", chapters=5, sentences_per_chapter=3,
                       pretrain_updates=6, finetune_updates=10, jobs=2, llm_steps=20)
    assert [r.system for r in results] == ["A", "E"]
    generations = (tmp_path / "demo" / "context" / "test.P4.jsonl").read_text().splitlines()
    assert len(generations) == 6  # one record per test utterance, E's teacher
    assert all(r.decoded == 6 and r.updates == 10 for r in results)
    assert all(r.train_cpu_seconds > 0 for r in results)
    assert results[1].parameters > results[0].parameters
    assert results[0].llm is None and results[1].llm["steps"] == 20  # the steps actually run, in results.json too
    assert json.loads((tmp_path / "demo" / "results.json").read_text())[1]["llm"]["steps"] == 20
    table = (tmp_path / "demo" / "results.md").read_text()
    assert "| A |" in table and "| E |" in table and "swap" not in table
    assert "(LLM trained 20 steps)" in table and "train CPU s" in table
    assert all(r.homophones is None for r in results)
    with pytest.raises(ValueError, match="holds a demo on the 'topics' corpus"):
        run_demo(out_dir=tmp_path / "demo", corpus="homophones")


def test_the_homophone_demo_scores_every_target_of_every_system(tmp_path):
    from gcaf_demo.pipeline import run_demo

    # 2 topics x 3 chapters x 4 sentences: the test split is 2 chapters, 8 utterances with 4
    # neutral targets and 0-4 topic ones; C1L injects before the small model's last layer, EL
    # (E at depth) pools and fuses its student there, C1L-K3s attends to 3 previous [CLS], bP
    # takes the previous sentence's audio. C1L is also decoded with its own hypotheses and bP
    # with the previous utterance's encoding kept (fairseq-generate --sequential-context).
    options = dict(topics=["kitchen", "garden"], chapters_per_topic=3, sentences_per_chapter=4)
    results = run_demo(out_dir=tmp_path / "demo", systems=["A", "C1L", "EL", "C1L-K3s", "bP"], pretrain_updates=4,
                       finetune_updates=6, corpus_options=options, llm_steps=20, decodings="own,cached")
    assert [(r.system, r.decoding) for r in results] == [
        ("A", "plain"), ("C1L", "gt"), ("C1L", "own"), ("EL", "plain"), ("C1L-K3s", "gt"), ("bP", "reencoded"),
        ("bP", "cached")]
    decode = tmp_path / "demo" / "decode"
    # one utterance per batch: the cached encoding is the re-encoded one, so are the hypotheses
    assert (decode / "bP.cached" / "test.hyp.wrd").read_text() == (decode / "bP" / "test.hyp.wrd").read_text()
    assert "sequential pass: {'decoded': 8" in (decode / "C1L.own" / "generate-test.log").read_text()
    results = [r for r in results if r.decoding in ("plain", "gt")]
    rows = [json.loads(line) for line in (tmp_path / "demo" / "corpus" / "test.homophones.jsonl").read_text().splitlines()]
    for result in results:
        assert result.decoded == len(rows) == 8
        neutral = result.homophones["per_kind"]["neutral"]
        assert neutral["targets"] == sum(len(row["targets"]) for row in rows if row["kind"] == "neutral") == 4
        assert result.homophones["all"]["wer"] == pytest.approx(result.test_wer, abs=0.005)  # fairseq rounds to 0.01
    overrides = json.loads((tmp_path / "demo" / "finetune" / "C1L" / "demo_settings.json").read_text())
    assert "model.context_layer=-1" in overrides  # before the last of small_wav2vec2's 4 layers
    assert "context_layer=-1" in results[1].description
    table = (tmp_path / "demo" / "results.md").read_text()
    assert "neutral: homophone err % / swap %" in table and "| C1L |" in table
    el_config = (tmp_path / "demo" / "finetune" / "EL" / ".hydra" / "config.yaml").read_text()
    assert "context_use: aware" in el_config and "context_layer: -1" in el_config
    k3s_settings = json.loads((tmp_path / "demo" / "finetune" / "C1L-K3s" / "demo_settings.json").read_text())
    assert "model.context_pooling=sequence" in k3s_settings
    assert any(item.endswith("{split}.prev3-sep.cls'") for item in k3s_settings)
    # The student probe of EL: every test sentence but a chapter's first has a teacher vector,
    # the neutral ones at positions 1 and 3, the topic-bearing one at position 2.
    probe = results[2].student_probe
    assert (probe["neutral"]["utterances"], probe["topic"]["utterances"], probe["all"]["chance"]) == (4, 2, 50.0)
    assert all(-1 <= probe[kind]["cosine"] <= 1 for kind in ("neutral", "topic", "all"))
    assert results[0].student_probe is None and results[3].student_probe is None
    assert "student's topic accuracy" in table
