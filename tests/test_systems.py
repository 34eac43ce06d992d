"""The one list of systems (gcaf_fairseq.systems): every record has its overlay yaml and every
yaml a record; the tables, the recipes and the demo read their systems from it, so adding a
system is one record and one yaml."""

import io
import json
from pathlib import Path

import pytest

from gcaf_fairseq import systems
from gcaf_fairseq.recipes.options import parse_options
from gcaf_fairseq.recipes.plan import context_need, plan_runs, system_overlay
from gcaf_fairseq.recipes.run import run_recipe
from gcaf_fairseq.resources import config_dir
from gcaf_fairseq.tables import published
from gcaf_fairseq.tables.cells import cell_spec
from gcaf_fairseq.tables.published import TABLES, Column, PublishedTable, Row

OVERLAYS = config_dir() / "finetuning" / "system"


def test_every_record_has_its_overlay_and_every_overlay_a_record():
    used = systems.overlays()
    on_disk = {path.stem for path in OVERLAYS.glob("*.yaml")}
    assert set(used) <= on_disk, f"records name overlays that do not exist: {sorted(set(used) - on_disk)}"
    assert on_disk <= set(used), f"overlays no record uses: {sorted(on_disk - set(used))}"


def test_every_row_of_every_table_is_a_system_of_the_registry():
    rows = set()
    for name, table in TABLES.items():
        for row in table.rows:
            for column in table.columns:
                spec = cell_spec(name, row.key, column.key)
                measures = [spec.measure] if spec.kind == "measure" else [part for _, part in spec.components]
                rows.update(measure.system for measure in measures if measure is not None)
    assert rows <= set(systems.paper_rows())
    assert {"A", "B", "ca_b", "C1", "C2", "C3", "C4", "D1", "D4", "D7", "E"} <= rows


def test_needs_and_overrides_of_the_papers_rows():
    assert systems.get("(b)").name == "ca_b" and systems.get("(c)").name == "B"
    b = systems.get("B")
    assert b.need() == systems.ContextNeed("neighbours", at_decoding=False)
    assert b.hydra_overrides() == ["+system=B", "criterion.context_alpha=10.0", "model.context_dim=32",
                                   "model.context_window=2", "model.context_offset=0"]
    assert systems.get("ca_b").need().at_decoding and "criterion.context_alpha" not in " ".join(
        systems.get("ca_b").hydra_overrides())
    assert systems.get("D5").need().kind == "P4-7B" and systems.get("D5").overlay_for({"pooling": "sequence"}) == "C2"
    assert systems.get("E").need().at_decoding is False and systems.get("E").need({"llm": None}).kind == "P4"
    k3s = systems.get("C1L-K3s")
    assert (k3s.need().kind, k3s.need().pooling) == ("prev3-sep", "sequence")
    assert k3s.hydra_overrides()[1:] == ["model.context_layer=-1", "model.context_pooling=sequence"]
    with pytest.raises(KeyError, match="unknown system 'Z9'"):
        systems.get("Z9")


def test_a_family_run_is_named_by_its_knobs_and_identity_knobs_are_enforced():
    assert systems.resolve("run.json", "D", {"prompt": "P2"})[0] == "D2"
    assert systems.resolve("run.json", "C", {"context_text": "current", "pooling": "sequence"})[0] == "C4"
    with pytest.raises(ValueError, match="system C1 has pooling = 'cls'"):
        systems.resolve("run.json", "C1", {"pooling": "sequence"})


def test_adding_a_system_is_one_record_and_one_yaml(tmp_path, monkeypatch):
    """A hypothetical system F (E's student fed the current text's teacher, an overlay of its
    own) in a temporary registry: a table row naming it is planned, trained with its overlay
    and knob overrides, embedded and decoded as its record says -- nothing else changed."""
    configs = tmp_path / "config"
    for kind in ("finetuning", "pretraining"):
        (configs / kind).mkdir(parents=True)
    for path in (config_dir() / "finetuning").rglob("*.yaml"):
        target = configs / "finetuning" / path.relative_to(config_dir() / "finetuning")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    (configs / "finetuning" / "system" / "F.yaml").write_text(
        "# @package _global_\nmodel:\n  context_source: text\n  context_use: aware\n  context_fusion: cross_attention\n")
    monkeypatch.setenv("GCAF_CONFIG_DIR", str(configs))
    record = systems.System("F", "F", "a student of the current text", "text", "aware",
                            fixed={"context_text": "current", "pooling": "cls", "distillation": True},
                            tunable={"alpha": 3.0}, paper_row=True)
    table = PublishedTable("test-table", "GCAF", "Table 99", "librilight", "a table with row F", ("Model",),
                           (Row("A", ("A",), cell={"system": "A"}), Row("F", ("F",), cell={"system": "F"})),
                           (Column("wer", ("WER",)),), {("A", "wer"): 30.0, ("F", "wer"): 29.0},
                           cell=published.GCAF_1H_CELL)
    monkeypatch.setitem(TABLES, "test-table", table)
    monkeypatch.setitem(published.BENCHMARK_TABLES, "librilight", published.BENCHMARK_TABLES["librilight"] + ("test-table",))
    with systems.temporary_systems(record):
        assert set(systems.overlays()) == {path.stem for path in (configs / "finetuning" / "system").glob("*.yaml")}
        plan = plan_runs(["test-table"], seeds=1)
        f_run = next(run for run in plan.runs if run.system == "F")
        assert system_overlay(f_run) == "F" and context_need(f_run).kind == "cur"
        encoder = tmp_path / "encoder"
        encoder.mkdir()
        (encoder / "config.json").write_text(json.dumps({"hidden_size": 16}))
        options = parse_options("librilight", ["--out", str(tmp_path / "out"), "--w2v", "/w.pt", "--text-encoder",
                                               str(encoder), "--librispeech", "/ls", "--librilight", "/ll",
                                               "--tables", "test-table", "--seeds", "1", "--dry-run"])
        stream = io.StringIO()
        run_recipe(options, stream=stream)
        printed = stream.getvalue()
    train = next(line for line in printed.splitlines() if "fairseq-hydra-train" in line and "/F/seed1" in line)
    assert "+system=F" in train and "criterion.context_alpha=3.0" in train and "train_1h.cur.cls" not in train
    assert "{split}.cur.cls" in train
    assert "--current" in printed and "train_1h.cur.cls" in printed  # stage 2 writes, stage 3 embeds its texts
    decode = next(line for line in printed.splitlines() if "recipes.decode" in line and "/F/seed1" in line)
    assert "--context-store" not in decode  # aware: decodes from the audio alone
    assert "F" not in systems.SYSTEMS  # the temporary registry is gone


def test_the_demo_reads_its_systems_and_stores_from_the_registry():
    from gcaf_demo.pipeline import SYSTEMS as DEMO

    for name, demo_system in DEMO.items():
        record = systems.get(name)
        assert demo_system.overlay == record.overlay_for() and demo_system.context_layer == record.context_layer
        assert demo_system.decoding_reads_store == (record.use == "injection" and record.context != "audio"
                                                    and record.context != "none")
    assert Path(OVERLAYS / "E.yaml").is_file()


def test_decoding_variants_follow_what_each_system_reads():
    """System.decodings: one rule over the context a system reads at decoding."""
    def variants(name, knobs=None):
        return [(v.name, v.oracle, v.sequential, v.first_pass) for v in systems.get(name).decodings(knobs)]

    assert variants("A") == variants("E") == variants("B") == [("plain", False, False, None)]
    assert variants("C1") == variants("C1L") == [
        ("gt", True, False, None), ("hyp-A", False, False, "A"), ("own", False, True, None)]
    assert variants("C2")[2] == ("own", False, True, None)  # a sequence store of one previous text
    # K previous texts: two passes only (the sequential pass embeds one hypothesis)
    assert variants("C1L-K2") == variants("C1L-K3s") == [("gt", True, False, None), ("hyp-A", False, False, "A")]
    assert "2 texts" in systems.get("C1L-K2").decodings()[1].context
    assert variants("C3") == variants("D4") == [("gt", True, False, None)]
    # (b): re-encoding the next utterance is an oracle; a previous-only window can be cached
    assert variants("ca_b") == [("reencoded", True, False, None)]
    assert variants("bP") == variants("ca_b", {"window": 2, "offset": -1}) == [
        ("reencoded", False, False, None), ("cached", False, True, None)]
    assert variants("ca_b", {"window": 3, "offset": -2})[1][0] == "cached"
    assert [v[0] for v in variants("ca_b", {"window": 3, "offset": -1})] == ["reencoded"]
    assert {v.name for name in systems.SYSTEMS for v in systems.get(name).decodings()} == set(systems.DECODING_VARIANTS)


def test_bP_is_row_b_with_a_previous_only_window():
    bp = systems.get("bP")
    assert not bp.paper_row and bp.overlay == "ca_b" and bp.need().source == "neighbours" and bp.need().at_decoding
    assert bp.hydra_overrides() == ["+system=ca_b", "model.context_dim=32", "model.context_window=2",
                                    "model.context_offset=-1"]
    assert "bP" not in systems.paper_rows()
