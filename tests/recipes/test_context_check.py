"""No system trains on context it does not have (gcaf_fairseq/recipes/context_check.py): the
share of a split's utterances that should have context and have none in a store is an error
above --max-empty-context (naming the store, the count and the first ids), a warning below it;
run.json records the LLM, the text encoder and the stores each run read."""

import json
from pathlib import Path

import numpy as np
import pytest

from gcaf_fairseq.data.context_store import ContextStoreWriter
from gcaf_fairseq.data.utterance_table import write_utterance_table
from gcaf_fairseq.recipes.context_check import ContextError, check_coverage, context_coverage
from gcaf_fairseq.recipes.options import OptionError, parse_options
from gcaf_fairseq.recipes.recipe import Recipe
from gcaf_fairseq.recipes.stages import s4_train
from gcaf_fairseq.tables.runs import read_run

DIM = 8


def stream_rows(stream: str, count: int, in_split: bool = True, blind: bool = False) -> list:
    """``count`` utterances of one stream, linked in order (the first has no previous one)."""
    ids = [f"{stream}-{number:04d}" for number in range(count)]
    return [{"id": uid, "stream": stream, "position": number, "audio": f"/a/{uid}.flac",
             "text": None if blind else f"TEXT {uid}", "prev_id": ids[number - 1] if number else None,
             "next_id": ids[number + 1] if number + 1 < count else None, "in_split": in_split}
            for number, uid in enumerate(ids)]


def write_store(path: Path, rows_per_id: dict, encoder: str = "/enc") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with ContextStoreWriter(str(path), DIM, "cls", meta={"encoder": encoder, "source": str(path) + ".texts"}) as writer:
        for uid, rows in rows_per_id.items():
            writer.add(uid, np.ones((rows, DIM), dtype=np.float32))
    return path


def test_only_utterances_that_should_have_context_count(tmp_path):
    """A stream's first utterance has no previous text by design: not counted. An empty
    generation (zero rows) and an id the store lacks are."""
    rows = stream_rows("s1", 4) + stream_rows("s2", 3) + stream_rows("other", 2, in_split=False)
    write_utterance_table(tmp_path / "t.utterances.jsonl", rows)
    store = write_store(tmp_path / "t.P4-13B.cls", {"s1-0000": 0, "s1-0001": 1, "s1-0002": 0, "s1-0003": 1,
                                                    "s2-0000": 0, "s2-0001": 1})  # s2-0002 missing
    coverage = context_coverage(store, tmp_path / "t.utterances.jsonl", "P4-13B", tmp_path / "t.gen.jsonl")
    assert (coverage.expected, coverage.missing) == (5, ["s1-0002", "s2-0002"])
    with pytest.raises(ContextError) as error:
        check_coverage(coverage, 0.01)
    message = str(error.value)
    assert message.startswith(f"{store}: 2 of 5 utterances that should have context have none (40.0%)")
    assert "first: s1-0002, s2-0002" in message and f"{tmp_path / 't.gen.jsonl'}" in message
    warning = check_coverage(coverage, 0.5)
    assert warning.startswith(f"{store}: 2 of 5") and "accepted (--max-empty-context 50%)" in warning
    full = write_store(tmp_path / "full.cls",
                       {uid: 1 for uid in ("s1-0001", "s1-0002", "s1-0003", "s2-0001", "s2-0002")})
    assert check_coverage(context_coverage(full, tmp_path / "t.utterances.jsonl", "prev"), 0.0) is None


def test_a_store_not_made_yet_says_which_stage_makes_it(tmp_path):
    with pytest.raises(ContextError, match=r"t\.cls: no such context store: run stage 3 \(embed\) first"):
        context_coverage(tmp_path / "t.cls", tmp_path / "t.utterances.jsonl", "prev")


def test_current_text_context_counts_every_utterance_with_a_text(tmp_path):
    rows = stream_rows("s1", 3) + stream_rows("blind", 2, blind=True)
    write_utterance_table(tmp_path / "t.utterances.jsonl", rows)
    store = write_store(tmp_path / "t.cur.cls", {"s1-0000": 0, "s1-0001": 1, "s1-0002": 1, "blind-0000": 0})
    coverage = context_coverage(store, tmp_path / "t.utterances.jsonl", "cur")
    assert (coverage.expected, coverage.missing) == (3, ["s1-0000"])  # the first has its own text


@pytest.fixture
def recipe_folder(tmp_path):
    """A Table 6 recipe of row E whose stage 1-3 outputs exist (utterance tables, stores), and
    the models it names."""
    encoder, llm = tmp_path / "encoder", tmp_path / "llm"
    for folder in (encoder, llm):
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"hidden_size": DIM}))
    (llm / "model.safetensors").write_bytes(b"weights")
    out = tmp_path / "out"

    def make(*extra):
        argv = ["--out", str(out), "--w2v", str(tmp_path / "w2v.pt"), "--text-encoder", str(encoder), "--llm", str(llm),
                "--tables", "gcaf-table6", "--systems", "E", "--seeds", "1", "--cpu", *extra]
        recipe = Recipe(parse_options("librilight", argv))
        for subset, count in (("train_1h", 6), ("dev_other", 3)):
            write_utterance_table(recipe.layout.utterances("librilight", subset), stream_rows(subset, count))
            rows = {f"{subset}-{number:04d}": int(number > 0) for number in range(count)}
            if subset == "train_1h":
                rows[f"{subset}-0003"] = 0  # the LLM wrote nothing for it
            write_store(recipe.layout.store_file("librilight", subset, "P4-13B", "cls"), rows, str(encoder))
        return recipe
    return make


def test_stage_4_stops_before_a_training_reads_a_store_with_too_little_context(recipe_folder):
    recipe = recipe_folder()
    with pytest.raises(ContextError, match=r"train_1h\.P4-13B\.cls: 1 of 5 utterances that should have context "
                                           r"have none \(20\.0%\), more than --max-empty-context 1%; first: "
                                           r"train_1h-0003"):
        s4_train.steps(recipe)


def test_below_the_share_a_warning_and_run_json_names_the_context_used(recipe_folder):
    recipe = recipe_folder("--max-empty-context", "0.25")
    [step] = s4_train.steps(recipe)
    [warning] = recipe.take_notices()
    assert warning.startswith("[stage 4] warning: ") and "train_1h.P4-13B.cls: 1 of 5" in warning
    step.before()  # run.json, written before the training starts
    run = read_run(recipe.layout.run_folder(recipe.plan.runs[0]))
    assert run.raw["text_encoder"]["folder"] == str(recipe.options.text_encoder)
    assert run.raw["llm_model"]["folder"] == recipe.options.llms["13B"].model_dir
    assert len(run.raw["llm_model"]["fingerprint"]) == 16
    stores = {Path(store["path"]).name: store for store in run.raw["context_stores"]}
    assert set(stores) == {"train_1h.P4-13B.cls", "dev_other.P4-13B.cls"}
    assert (stores["train_1h.P4-13B.cls"]["without_context"], stores["train_1h.P4-13B.cls"]["first_without_context"]) \
        == (1, ["train_1h-0003"])
    assert stores["dev_other.P4-13B.cls"]["encoder"] == str(recipe.options.text_encoder)


def test_an_llm_changed_in_place_changes_the_fingerprint_run_json_records(recipe_folder, tmp_path):
    recipe = recipe_folder("--max-empty-context", "0.25")
    first = s4_train.steps(recipe)[0].before
    first()
    before = read_run(recipe.layout.run_folder(recipe.plan.runs[0])).raw["llm_model"]["fingerprint"]
    (tmp_path / "llm" / "model.safetensors").write_bytes(b"other weights")
    s4_train.steps(recipe)[0].before()
    assert read_run(recipe.layout.run_folder(recipe.plan.runs[0])).raw["llm_model"]["fingerprint"] != before


def test_the_share_is_checked_as_an_option():
    with pytest.raises(OptionError, match="--max-empty-context is a share between 0 and 1"):
        parse_options("librilight", ["--out", "/o", "--w2v", "/w", "--max-empty-context", "5"])
