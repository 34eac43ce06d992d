"""Decoding uses what the command gives: a checkpoint's saved context store / utterance table is
never read silently. Injection models without one on the command line fail naming the saved
path (unless --context-from-checkpoint); aware models (E, B) decode from the current audio alone.
In-process through the task (as fairseq-generate calls it), then through fairseq-generate,
scripts/recipes/decode.sh and gcaf-predict-labels."""

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import build, make_task, model_config

import gcaf_fairseq.plugin  # noqa: F401,I001  (registers the plugin before data.context_join, which imports models)
from gcaf_demo.fairseq_runs import generate, read_generate_output
from gcaf_fairseq.recipes.processes import hydra_train
from gcaf_fairseq.data.context_join import context_paths

REPOSITORY = Path(__file__).resolve().parents[2]
TEST_UTTERANCES = 4


def first_batch(task, split):
    dataset = task.datasets[split]
    return dataset.collater([dataset[i] for i in range(len(dataset))])


def saved_task_cfg(corpus, **paths):
    """The task config a checkpoint carries (what fairseq-generate passes as ``task_cfg``)."""
    return make_task(corpus, **paths).cfg


def garbage_copies(folder: Path, pattern: str, target: Path) -> str:
    """Files named like ``folder/pattern`` for each split, with content no reader accepts;
    returns their ``{split}`` template."""
    target.mkdir(parents=True, exist_ok=True)
    for split in ("train", "valid", "test"):
        (target / pattern.format(split=split)).write_text("this is not a context file\n")
    return str(target / pattern)


# --- the task, in-process ----------------------------------------------------------------------


def test_training_reads_its_own_config_and_decoding_only_the_commands(corpus, w2v_checkpoint, context_dir):
    command = make_task(corpus, context_store="/command/{split}.cls").cfg
    saved = saved_task_cfg(corpus, context_store="/saved/{split}.cls")
    model = model_config(w2v_checkpoint, corpus, context_source="text")
    assert context_paths(command, None, model, "test") == ("/command/{split}.cls", None)  # training
    assert context_paths(command, saved, model, "test") == ("/command/{split}.cls", None)  # decoding


def test_aware_text_model_decodes_without_reading_the_saved_store(corpus, w2v_checkpoint, tmp_path, caplog):
    store = garbage_copies(tmp_path, "{split}.prev.cls", tmp_path / "stores")
    trained = make_task(corpus, context_store=store)
    build(trained, w2v_checkpoint, corpus, context_source="text", context_use="aware")
    with pytest.raises(Exception):  # the saved store is unreadable: reading it would fail
        trained.load_dataset("test")
    task = make_task(corpus)  # fairseq-generate without --context-store
    model = build(task, w2v_checkpoint, corpus, context_source="text", context_use="aware").eval()
    with caplog.at_level(logging.INFO, logger="gcaf_fairseq"):
        task.load_dataset("test", task_cfg=trained.cfg)
    assert f"the checkpoint's context_store {store} is not read" in caplog.text
    assert "context from" not in caplog.text  # no store was opened
    batch = first_batch(task, "test")
    assert "context" not in batch["net_input"]
    assert model(**batch["net_input"])["encoder_out"].shape[1] == TEST_UTTERANCES


def test_aware_audio_model_decodes_without_reading_the_saved_table(corpus, w2v_checkpoint, tmp_path, caplog):
    table = garbage_copies(tmp_path, "{split}.utterances.jsonl", tmp_path / "tables")
    options = dict(context_source="audio", context_use="aware", context_fusion="concat")
    trained = make_task(corpus, utterance_table=table)
    build(trained, w2v_checkpoint, corpus, **options)
    with pytest.raises(Exception):  # the saved table is unreadable
        trained.load_dataset("test")
    task = make_task(corpus)
    model = build(task, w2v_checkpoint, corpus, **options).eval()
    with caplog.at_level(logging.INFO, logger="gcaf_fairseq"):
        task.load_dataset("test", task_cfg=trained.cfg)
    assert f"the checkpoint's utterance_table {table} is not read" in caplog.text
    assert "neighbours at relative positions" not in caplog.text
    batch = first_batch(task, "test")
    assert "neighbour_source" not in batch["net_input"]  # B does not re-encode neighbours
    out = model(**batch["net_input"])
    assert out["teacher_embedding"] is None and out["encoder_out"].shape[1] == TEST_UTTERANCES


@pytest.mark.parametrize(
    "options, saved_option, flag",
    [
        (dict(context_source="text"), "context_store", "--context-store"),  # C1
        (dict(context_source="audio", context_fusion="concat"), "utterance_table", "--utterance-table"),  # CA (b)
    ],
)
def test_injection_model_names_the_saved_path_and_reads_it_only_on_opt_in(corpus, w2v_checkpoint, context_dir, options, saved_option, flag, caplog):
    saved_path = str(context_dir / "{split}.prev.cls") if saved_option == "context_store" else str(corpus / "{split}.utterances.jsonl")
    saved = saved_task_cfg(corpus, **{saved_option: saved_path})
    task = make_task(corpus)
    build(task, w2v_checkpoint, corpus, **options)
    with pytest.raises(ValueError) as error:
        task.load_dataset("test", task_cfg=saved)
    message = str(error.value)
    assert f"task.{saved_option}={saved_path}" in message and flag in message and "--context-from-checkpoint" in message
    task = make_task(corpus, context_from_checkpoint=True)
    build(task, w2v_checkpoint, corpus, **options)
    with caplog.at_level(logging.INFO, logger="gcaf_fairseq"):
        task.load_dataset("test", task_cfg=saved)
    assert f"{saved_option} {saved_path} saved in the checkpoint" in caplog.text
    batch = first_batch(task, "test")
    assert ("context" if saved_option == "context_store" else "neighbour_source") in batch["net_input"]


def test_the_commands_store_wins_over_the_saved_one(corpus, w2v_checkpoint, context_dir, tmp_path, caplog):
    saved = saved_task_cfg(corpus, context_store=garbage_copies(tmp_path, "{split}.prev.cls", tmp_path / "old"))
    task = make_task(corpus, context_store=str(context_dir / "{split}.prev.cls"))
    build(task, w2v_checkpoint, corpus, context_source="text")
    with caplog.at_level(logging.INFO, logger="gcaf_fairseq"):
        task.load_dataset("test", task_cfg=saved)
    assert f"context from {context_dir / 'test.prev.cls'}" in caplog.text
    assert "context" in first_batch(task, "test")["net_input"]


# --- the real commands ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def audio_runs(corpus, w2v_checkpoint, tmp_path_factory):
    """B (aware) and CA row (b) (injection) trained a few updates with utterance tables in a
    folder whose files are then made unreadable: decoding must not need them."""
    root = tmp_path_factory.mktemp("decoding_inputs")
    tables = root / "tables"
    tables.mkdir()
    for split in ("train", "valid", "test"):
        shutil.copy(corpus / f"{split}.utterances.jsonl", tables)
    template = f"{tables}/{{split}}.utterances.jsonl"
    for system in ("B", "ca_b"):
        hydra_train("demo_tiny", root / system, [
            f"task.data={corpus}", f"model.w2v_path={w2v_checkpoint}", "optimization.max_update=4",
            f"task.utterance_table='{template}'",
        ], system=system)
    garbage_copies(tables, "{split}.utterances.jsonl", tables)
    return root, template


@pytest.mark.slow
def test_fairseq_generate_decodes_b_from_the_audio_alone(audio_runs, corpus, tmp_path):
    root, template = audio_runs
    generate(corpus, root / "B" / "checkpoint_last.pt", "test", tmp_path)
    assert sorted(read_generate_output(tmp_path, "test").hypotheses) == list(range(TEST_UTTERANCES))
    log = (tmp_path / "generate-test.log").read_text()
    assert f"the checkpoint's utterance_table {template} is not read" in log
    assert "neighbours at relative positions" not in log


@pytest.mark.slow
def test_fairseq_generate_and_decode_sh_give_row_b_only_the_table_they_are_given(audio_runs, corpus, tmp_path):
    root, template = audio_runs
    checkpoint = root / "ca_b" / "checkpoint_last.pt"
    with pytest.raises(RuntimeError, match=r"trained with task\.utterance_table=.*tables/\{split\}\.utterances\.jsonl.*--context-from-checkpoint"):
        generate(corpus, checkpoint, "test", tmp_path / "none")
    # The opt-in reads the saved (now unreadable) table: proof that it is the one read.
    with pytest.raises(RuntimeError, match=r"tables/test\.utterances\.jsonl"):
        generate(corpus, checkpoint, "test", tmp_path / "saved", ["--context-from-checkpoint"])
    out = tmp_path / "decode_sh"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "OMP_NUM_THREADS": "1",
           "UTTERANCE_TABLE": f"{corpus}/{{split}}.utterances.jsonl"}
    result = subprocess.run(["bash", str(REPOSITORY / "scripts" / "recipes" / "decode.sh"), str(corpus), str(checkpoint), "test", str(out)],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"neighbours at relative positions [1] from {corpus}/test.utterances.jsonl" in result.stdout + result.stderr
    assert len((out / "test.ids").read_text().splitlines()) == TEST_UTTERANCES


@pytest.mark.slow
def test_predict_labels_takes_an_utterance_table(corpus, w2v_checkpoint, copy_of, tmp_path, capsys):
    data = copy_of(corpus, "classes")
    (data / "labels.sent.txt").write_text("Negative\nNeutral\nPositive\n")
    for split in ("train", "valid", "test"):
        count = len((data / f"{split}.tsv").read_text().splitlines()) - 1
        (data / f"{split}.sent").write_text("".join(("Negative", "Neutral", "Positive")[i % 3] + "\n" for i in range(count)))
    hydra_train("demo_tiny_sentiment", tmp_path / "run", [
        f"task.data={data}", f"model.w2v_path={w2v_checkpoint}", "optimization.max_update=2",
        f"task.utterance_table='{data}/{{split}}.utterances.jsonl'",
    ], system="ca_b")
    from gcaf_fairseq.cli.predict_labels import main as predict_main

    arguments = ["--checkpoint", str(tmp_path / "run" / "checkpoint_last.pt"), "--data", str(data), "--split", "test",
                 "--out", str(tmp_path / "test.sent.pred"), "--device", "cpu"]
    with pytest.raises(ValueError, match=r"task\.utterance_table=.*classes/\{split\}\.utterances\.jsonl.*--utterance-table"):
        predict_main(arguments)
    predict_main(arguments + ["--utterance-table", f"{corpus}/{{split}}.utterances.jsonl"])
    assert len((tmp_path / "test.sent.pred").read_text().splitlines()) == TEST_UTTERANCES
    assert '"utterances": 4' in capsys.readouterr().out
