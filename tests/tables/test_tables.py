"""The table builder and gcaf-collect-results: fake run folders (run.json, a fairseq train.log,
decoding outputs) in, the papers' tables out (mean ± std over seeds beside the published
numbers, missing results listed with their reason, links to every run's files, CA Fig. 3).

Expected numbers are computed by hand in the comments.
"""

import csv
import json
import math
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from gcaf_fairseq.cli.collect_results import main
from gcaf_fairseq.data.decoding_timing import GENERATION_LOOP
from gcaf_fairseq.data.fingerprints import file_sha256
from gcaf_fairseq.data.language_models import LM_ROLES, lm_role, write_lm_record
from gcaf_fairseq.tables.builder import collect, fig3_labels
from gcaf_fairseq.tables.cells import cell_spec
from gcaf_fairseq.tables.published import TABLES, table_names
from gcaf_fairseq.tables.runs import (
    RunFileError, read_run, training_state, write_run_file, write_skipped, write_timing,
)

REPOSITORY = Path(__file__).resolve().parents[2]
#: the sha256 the fake runs' lm.json give each LM role
LM_SHA256 = {role: f"{number}" * 64 for number, role in enumerate(LM_ROLES, 1)}


# ---------------------------------------------------------------- fake runs

def train_log(updates: int, max_update: int, done: bool, tail: str = "") -> str:
    """A fairseq-hydra-train log in json format: the config line, train_inner lines, the end."""
    lines = [
        "[2026-01-01 00:00:00,000][fairseq_cli.train][INFO] - {'_name': None, 'optimization': "
        f"{{'_name': None, 'max_epoch': 0, 'max_update': {max_update}, 'lr': [5e-05]}}}}",
    ]
    for update in range(10, updates + 1, 10):
        lines.append(f'[2026-01-01 00:00:01,000][train_inner][INFO] - {{"epoch": 1, "loss": "3.2", '
                     f'"num_updates": "{update}", "lr": "5e-05"}}')
    if done:
        lines.append(f"[2026-01-01 00:00:02,000][fairseq_cli.train][INFO] - Stopping training due to num_updates: "
                     f"{updates} >= max_update: {max_update}")
        lines.append(f'[2026-01-01 00:00:02,000][train][INFO] - {{"epoch": 1, "train_loss": "3.1", '
                     f'"train_num_updates": "{updates}"}}')
        lines.append("[2026-01-01 00:00:02,000][fairseq_cli.train][INFO] - done training in 2.0 seconds")
    return "\n".join(lines) + "\n" + tail


def write_run(folder: Path, coordinates: dict, results: dict = None, updates: int = 20, max_update: int = 20,
              trained: bool = True, log_tail: str = "", with_max_update: bool = True) -> Path:
    """A run folder. ``results``: {decode folder name: {"wer"|"ner"|"sentiment"|"timing": value}}."""
    folder.mkdir(parents=True)
    run = dict(coordinates)
    if with_max_update:
        run["overrides"] = [f"optimization.max_update={max_update}", "distributed_training.distributed_world_size=1"]
    (folder / "run.json").write_text(json.dumps(run))
    if trained:
        (folder / "train.log").write_text(train_log(updates, max_update, updates >= max_update) + log_tail)
        (folder / ".hydra").mkdir()
        (folder / ".hydra" / "config.yaml").write_text(
            f"common:\n  seed: {coordinates.get('seed', 1)}\noptimization:\n  max_update: {max_update}\n"
            "lr_scheduler:\n  max_update: ${optimization.max_update}\n"
        )
        if updates >= max_update:
            (folder / "checkpoint_best.pt").write_bytes(b"not a real checkpoint")
    for name, outputs in (results or {}).items():
        decode = folder / "decode" / name
        decode.mkdir(parents=True)
        subset = name.replace("+lm", "")
        if name.endswith("+lm") and "skipped" not in outputs and coordinates.get("task") != "sentiment":
            role = lm_role(coordinates["dataset"], coordinates.get("task", "asr"))
            write_lm_record(decode, role, f"/lm/{role}.bin", LM_SHA256[role], f"/lm/{role}.lexicon", "0" * 64,
                            LM_ROLES[role].settings())
        for kind, value in outputs.items():
            if kind == "wer":
                (decode / f"{subset}.wer.json").write_text(json.dumps({"subset": subset, "wer": value, "cer": 1.0}))
                (decode / f"{subset}.hyp.wrd").write_text("a b\n")
                (decode / f"{subset}.ref.wrd").write_text("a c\n")
            elif kind == "ner":
                (decode / "ner.json").write_text(json.dumps({"f1": value, "tags": "combined"}))
            elif kind == "sentiment":
                (decode / "sentiment.json").write_text(json.dumps({"macro_f1": value}))
            elif kind == "timing":
                write_timing(decode, value, 10, 60.0, real_time_factor=value / 60.0, device="cpu",
                             timed=GENERATION_LOOP)
            elif kind == "skipped":
                (decode / "skipped.json").write_text(json.dumps({"reason": value}))
    return folder


def fake_value(coordinates: dict, seed: int, decode: str, metric: str) -> float:
    """A deterministic number per run, decoding and metric: 10..40 plus 0.2 per seed."""
    key = json.dumps([coordinates, decode, metric], sort_keys=True)
    return 10 + zlib.crc32(key.encode()) % 3000 / 100 + 0.2 * seed


METRIC_OUTPUT = {"wer": "wer", "ner_f1": "ner", "sa_f1": "sentiment", "decode_seconds": "timing"}


def runs_for_tables(root: Path, names, seeds=(1, 2)) -> dict:
    """One run folder per (measure coordinates, seed) the tables need, every decoding they read.
    Returns {(folder, decode, metric): value}."""
    needed = {}
    for name in names:
        table = TABLES[name]
        for row in table.rows:
            for column in table.columns:
                spec = cell_spec(name, row.key, column.key)
                measures = [spec.measure] if spec.kind == "measure" else [m for _, m in spec.components]
                for measure in measures:
                    if measure is None:
                        continue
                    coordinates = {"dataset": measure.dataset, "task": measure.task, "split": measure.split,
                                   "system": measure.system, **measure.required_knobs()}
                    key = json.dumps(coordinates, sort_keys=True)
                    decode = measure.subset + ("+lm" if measure.lm else "")
                    needed.setdefault(key, set()).add((decode, measure.metric))
    values = {}
    for number, (key, decodes) in enumerate(sorted(needed.items())):
        coordinates = json.loads(key)
        for seed in seeds:
            results = {}
            for decode, metric in sorted(decodes):
                value = fake_value(coordinates, seed, decode, metric)
                results.setdefault(decode, {})[METRIC_OUTPUT[metric]] = value
                values[(f"run{number:03d}_seed{seed}", decode, metric)] = value
            write_run(root / f"run{number:03d}_seed{seed}", {**coordinates, "seed": seed}, results)
    return values


# ---------------------------------------------------------------- published numbers

def test_published_tables_have_every_cell_of_the_papers():
    shapes = {name: (len(table.rows), len(table.columns)) for name, table in TABLES.items()}
    assert shapes == {
        "gcaf-table2": (6, 1), "gcaf-table3": (5, 2), "gcaf-table4": (5, 1), "gcaf-table5": (4, 1),
        "gcaf-table6": (2, 1), "gcaf-table7": (20, 4), "gcaf-table8": (5, 8),
        "ca-table1": (10, 2), "ca-table2": (8, 2), "ca-table3": (11, 2), "ca-table4": (8, 5), "ca-table5": (8, 5),
        "ca-table6": (12, 4), "ca-fig3": (5, 2),
    }
    t7 = TABLES["gcaf-table7"]
    assert t7.published("10m/E", "test_other") == 43.5 and t7.published("100h/A", "dev_clean") == 6.1
    assert [row.group for row in t7.rows][::5] == ["10min labeled", "1h labeled", "10h labeled", "100h labeled"]
    assert TABLES["gcaf-table8"].published("D4", "vp_ner/test") == 56.8
    assert TABLES["ca-table1"].published("100000", "lm") == 64.77
    assert TABLES["ca-table3"].rows[0].labels == ("(a)", "-", "-")
    assert TABLES["ca-table3"].published("(b)/L3/O-2", "no_lm") == 16.82
    assert TABLES["ca-fig3"].published("(a)", "decode_seconds") is None  # not published
    assert "prompt 3" in TABLES["gcaf-table5"].caption and any("P4" in note for note in TABLES["gcaf-table5"].notes)


def test_published_numbers_agree_across_the_papers_tables():
    """Transcription check: the same system's numbers printed in several tables agree."""
    t7, ca6, t8 = TABLES["gcaf-table7"], TABLES["ca-table6"], TABLES["gcaf-table8"]
    for split in ("10m", "1h", "10h", "100h"):
        for subset in ("dev_clean", "dev_other", "test_clean", "test_other"):
            assert t7.published(f"{split}/A", subset) == ca6.published(f"{split}/(a)", subset)
            assert t7.published(f"{split}/B", subset) == ca6.published(f"{split}/(c)", subset)  # B = CA (c)
    for ca_table, subset in (("ca-table4", "dev"), ("ca-table5", "test")):
        ca = TABLES[ca_table]
        for gcaf_row, ca_row in (("A", "(a)*"), ("B", "(c)")):
            for column in ("vc_asr", "vp_asr", "vp_ner", "vc_sa"):
                assert t8.published(gcaf_row, f"{column}/{subset}") == ca.published(ca_row, column)
    for name, row in (("gcaf-table2", "A"), ("gcaf-table2", "B"), ("gcaf-table2", "C1"), ("gcaf-table4", "D4"),
                      ("gcaf-table5", "D4"), ("gcaf-table6", "E")):
        assert TABLES[name].published(row, "wer") == t7.published(f"1h/{row}", "dev_other")
    assert TABLES["ca-fig3"].published("(c)/L2", "wer") == TABLES["ca-table3"].published("(c)/L2/O0", "no_lm")


def test_published_slue_scores_follow_from_their_rows_except_the_one_the_paper_misprints():
    from gcaf_fairseq.scoring.slue_score import slue_score

    off = []
    for name in ("ca-table4", "ca-table5"):
        table = TABLES[name]
        for row in table.rows:
            p = {column: table.published(row.key, column) for column in ("vc_asr", "vp_asr", "vp_ner", "vc_sa")}
            computed = slue_score(p["vp_asr"], p["vc_asr"], p["vc_sa"], p["vp_ner"])
            if abs(computed - table.published(row.key, "slue_score")) > 0.051:
                off.append((name, row.key, round(computed, 2)))
    # ((100 - (13.3 + 12.0) / 2) + 68.1 + 43.3) / 3 = 66.25, printed 65.9 (noted in the table)
    assert off == [("ca-table4", "(a)+LM", 66.25)]


def test_table_names_select_tables_benchmarks_or_all_and_refuse_unknown_names():
    assert table_names(["librilight"]) == ["gcaf-table2", "gcaf-table3", "gcaf-table4", "gcaf-table5", "gcaf-table6",
                                          "gcaf-table7", "ca-table6"]
    assert "ca-fig3" in table_names(["slue"]) and len(table_names(["all"])) == 14
    with pytest.raises(ValueError, match="unknown table 'gcaf-table9'.*gcaf-table2"):
        table_names(["gcaf-table9"])


# ---------------------------------------------------------------- cells from two seeds

def test_every_cell_of_the_libri_light_and_slue_tables_is_mean_and_std_of_two_seeds(tmp_path):
    names = ["gcaf-table7", "gcaf-table8", "ca-table4", "ca-fig3"]
    values = runs_for_tables(tmp_path / "runs", names)
    collection = collect(tmp_path / "runs", tmp_path / "out", names)
    assert collection.problems == []
    for name in names:
        built = collection.tables[name]
        assert built.summary()["filled"] == built.summary()["cells"], name
        for (row, column), cell in built.cells.items():
            assert cell["status"] == "filled" and cell["n"] == 2 and cell["seeds"] == [1, 2]
            assert cell["std"] is not None and cell["std"] > 0
            published = built.table.published(row, column)
            assert cell["published"] == published
            if published is not None:
                assert cell["difference"] == pytest.approx(cell["mean"] - published)
            if cell.get("components") is None:
                expected = [entry["value"] for entry in cell["values"]]
                assert cell["mean"] == pytest.approx(sum(expected) / 2)
                assert cell["std"] == pytest.approx(abs(expected[0] - expected[1]) / math.sqrt(2))
    # a measure cell's values are the fake runs' numbers
    cell = collection.tables["gcaf-table7"].cell("10m/E", "test_other")
    run = Path(cell["values"][0]["run"]).name
    assert cell["values"][0]["value"] == values[(run, "test_other", "wer")]
    for suffix in (".md", ".csv", ".json"):
        for name in names:
            assert (tmp_path / "out" / "tables" / f"{name}{suffix}").is_file()
    assert (tmp_path / "out" / "tables" / "ca-fig3.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (tmp_path / "out" / "tables" / "gcaf-table7.md").read_text()
    assert "20 of 20" not in markdown and "80 of 80 cells filled" in markdown
    assert "| **10min labeled** |" in markdown and "paper 43.5; Δ " in markdown
    assert "None: every cell has every result." in markdown


def test_a_hand_computed_gcaf_table6(tmp_path):
    """GCAF Table 6 from hand-written run folders.

    D4: seeds 1, 2 -> 24.0, 26.0: mean 25.0, std sqrt(((-1)^2 + 1^2) / 1) = 1.41421; paper 24.9, Δ +0.10.
    E: seed 1 only -> 24.5: std n/a; paper 24.9, Δ -0.40."""
    runs = tmp_path / "runs"
    for seed, wer in ((1, 24.0), (2, 26.0)):
        write_run(runs / f"d4_{seed}", {"dataset": "librilight", "split": "1h", "system": "D", "prompt": "P4",
                                        "llm": "13B", "seed": seed}, {"dev_other": {"wer": wer}})
    write_run(runs / "e_1", {"dataset": "librilight", "split": "1h", "system": "E", "seed": 1},
              {"dev-other": {"wer": 24.5}})  # the dev-other spelling is read too
    collection = collect(runs, tmp_path / "out", ["gcaf-table6"])
    table = (tmp_path / "out" / "tables" / "gcaf-table6.md").read_text().splitlines()
    header = table.index("| Model |  | WER |")
    assert table[header + 1:header + 4] == [
        "|---|---|---|",
        "| D4 | Generative context injection | 25.00 ± 1.41 (n=2); paper 24.9; Δ +0.10 |",
        "| E | Generative context-aware | 24.50 ± n/a (n=1); paper 24.9; Δ -0.40 |",
    ]
    cell = collection.tables["gcaf-table6"].cell("D4", "wer")
    assert cell["std"] == pytest.approx(math.sqrt(2))
    csv_lines = (tmp_path / "out" / "tables" / "gcaf-table6.csv").read_text().splitlines()
    assert csv_lines[0] == "group,Model,label,WER mean,WER std,WER n,WER paper,WER difference,WER status"
    assert csv_lines[2] == ",E,Generative context-aware,24.5,,1,24.9,-0.4,filled"


def test_a_hand_computed_ca_table4_with_the_slue_score(tmp_path):
    """CA Table 4, row (c) and (c)+LM, from hand-written runs (B = CA (c)), two seeds each.

    (c):    VC WER 16, 18 -> 17;   VP WER 15, 17 -> 16;   NER F1 60, 62 -> 61;   SA F1 50, 48 -> 49
            SLUE per seed: ((100 - (15 + 16)/2) + 50 + 60)/3 = 194.5/3 = 64.8333
                           ((100 - (17 + 18)/2) + 48 + 62)/3 = 192.5/3 = 64.1667
            mean 64.5 (= SLUE score of the means: ((100 - 16.5) + 49 + 61)/3 = 193.5/3), std 0.4714
    (c)+LM: VC 13, VP 12, NER 70 (seed 1 only, seed 2 not decoded with an LM), SA 49 (no-LM sentiment)
    """
    runs = tmp_path / "runs"
    per_seed = {1: (16.0, 15.0, 60.0, 50.0), 2: (18.0, 17.0, 62.0, 48.0)}
    for seed, (vc, vp, ner, sa) in per_seed.items():
        lm = seed == 1
        write_run(runs / f"vc_asr_{seed}", {"dataset": "voxceleb", "task": "asr", "split": "fine-tune",
                                            "system": "(c)", "seed": seed},
                  {"dev": {"wer": vc}, **({"dev+lm": {"wer": 13.0}} if lm else {})})
        write_run(runs / f"vp_asr_{seed}", {"dataset": "voxpopuli", "task": "asr", "split": "fine-tune",
                                            "system": "B", "alpha": 10, "D": 32, "L": 2, "O": 0, "seed": seed},
                  {"dev": {"wer": vp}, **({"dev+lm": {"wer": 12.0}} if lm else {})})
        write_run(runs / f"vp_ner_{seed}", {"dataset": "voxpopuli", "task": "ner", "split": "fine-tune",
                                            "system": "(c)", "seed": seed},
                  {"dev": {"wer": 30.0, "ner": ner},
                   **({"dev+lm": {"wer": 25.0, "ner": 70.0}} if lm else {"dev+lm": {"skipped": "no LM given"}})})
        write_run(runs / f"vc_sa_{seed}", {"dataset": "voxceleb", "task": "sentiment", "split": "fine-tune",
                                           "system": "(c)", "seed": seed}, {"dev": {"sentiment": sa}})
    collection = collect(runs, tmp_path / "out", ["ca-table4"])
    built = collection.tables["ca-table4"]
    score = built.cell("(c)", "slue_score")
    assert score["mean"] == pytest.approx(64.5) and score["n"] == 2
    assert [value["value"] for value in score["values"]] == pytest.approx([194.5 / 3, 192.5 / 3])
    assert score["std"] == pytest.approx(math.sqrt(2) / 3)  # |64.8333 - 64.1667| / sqrt(2)
    assert score["difference"] == pytest.approx(64.5 - 64.4)
    assert built.cell("(c)", "vc_sa")["mean"] == 49.0 and built.cell("(c)+LM", "vc_sa")["mean"] == 49.0
    lm_score = built.cell("(c)+LM", "slue_score")
    # means: VC 13 (seed 1), VP 12 (seed 1), NER 70 (seed 1), SA 49 -> ((100 - 12.5) + 49 + 70) / 3 = 68.8333
    assert lm_score["mean"] == pytest.approx(206.5 / 3) and lm_score["status"] == "partial"
    assert lm_score["n"] == 1 and lm_score["std"] is None
    reasons = [entry["reason"] for entry in built.cell("(c)+LM", "vp_ner")["missing"]]
    assert reasons == ["no LM given"]
    vc_reasons = [entry["reason"] for entry in built.cell("(c)+LM", "vc_asr")["missing"]]
    assert vc_reasons == ["not decoded with an LM (no decode/dev+lm/; the recipes need the slue-asr LM: --lm-asr FILE "
                          "--lexicon-asr FILE)"]
    markdown = (tmp_path / "out" / "tables" / "ca-table4.md").read_text()
    assert "| (c) | 64.50 ± 0.47 (n=2); paper 64.4; Δ +0.10 | 17.00 ± 1.41 (n=2); paper 16.7; Δ +0.30 |" in markdown
    # (a) and (b) have no runs: marked and listed, never dropped
    assert built.cell("(a)", "vc_asr")["status"] == "missing"
    assert "(a) / ASR(↓) VC: not trained: no run folder with these coordinates (voxceleb asr split fine-tune, " \
           "system A)" in markdown


# ---------------------------------------------------------------- missing results, with reasons

def test_missing_runs_and_decodings_are_marked_and_listed_with_their_reason(tmp_path):
    runs = tmp_path / "runs"
    coordinates = {"dataset": "librilight", "split": "1h"}
    write_run(runs / "A_1", {**coordinates, "system": "A", "seed": 1}, {"dev_other": {"wer": 29.0}})
    write_run(runs / "A_2", {**coordinates, "system": "A", "seed": 2}, trained=False)  # only run.json
    write_run(runs / "B_1", {**coordinates, "system": "B", "seed": 1}, updates=10, max_update=20)
    write_run(runs / "C1_1", {**coordinates, "system": "C1", "seed": 1})  # trained, never decoded
    write_run(runs / "C2_1", {**coordinates, "system": "C2", "seed": 1}, updates=10, max_update=20,
              log_tail="Traceback (most recent call last):\n  File \"x.py\"\nRuntimeError: CUDA out of memory\n")
    write_run(runs / "C3_1", {**coordinates, "system": "C3", "seed": 1}, {"dev_other": {"skipped": "filtered out"}})
    write_run(runs / "C4_1", {**coordinates, "system": "C4", "seed": 1}, {"dev_other": {"ner": 1.0}})
    (runs / "C4_1" / "decode" / "dev_other" / "dev_other.wer.json").write_text("{not json")
    collection = collect(runs, tmp_path / "out", ["gcaf-table2"])
    built = collection.tables["gcaf-table2"]
    assert built.cell("A", "wer")["status"] == "partial" and built.cell("A", "wer")["mean"] == 29.0
    expected = {
        "A": "not trained (no train.log, no checkpoint)",
        "B": "training unfinished: 10 of 20 updates",
        "C1": "not decoded (no decode/dev_other/)",
        "C2": "training failed at 10 of 20 updates: RuntimeError: CUDA out of memory",
        "C3": "filtered out",
        "C4": "unreadable result",
    }
    for row, reason in expected.items():
        missing = built.cell(row, "wer")["missing"]
        assert len(missing) == 1 and missing[0]["reason"].startswith(reason), (row, missing)
        assert built.cell(row, "wer")["published"] is not None
    markdown = (tmp_path / "out" / "tables" / "gcaf-table2.md").read_text()
    assert "## Missing results (6)" in markdown
    assert "| B | Context-aware [9] | Previous audio | — missing [2]; paper 28.8 |" in markdown
    assert "2. B Context-aware [9] Previous audio / WER (`../../runs/B_1`, seed 1): training unfinished: 10 of 20 " \
           "updates" in markdown
    listed = json.loads((tmp_path / "out" / "tables" / "gcaf-table2.json").read_text())["missing"]
    assert [(entry["row"], entry["run"], entry["seed"]) for entry in listed][:2] == [
        ("A", "../../runs/A_2", 2), ("B", "../../runs/B_1", 1)]


def test_expected_seeds_mark_a_cell_with_too_few_run_folders_partial(tmp_path):
    runs = tmp_path / "runs"
    for seed in (1, 2):
        write_run(runs / f"E_{seed}", {"dataset": "librilight", "split": "1h", "system": "E", "seed": seed},
                  {"dev_other": {"wer": 25.0 + seed}})
    built = collect(runs, tmp_path / "out", ["gcaf-table6"], expected_seeds=3).tables["gcaf-table6"]
    cell = built.cell("E", "wer")
    assert cell["status"] == "partial" and cell["mean"] == 26.5
    assert [entry["reason"] for entry in cell["missing"]] == [
        "1 of 3 seeds have no run folder (seed 3; found seeds 1, 2)"]


def test_seeds_n_builds_from_seeds_1_to_n_exactly(tmp_path):
    """Fig. 3 mixed a seed-2 run an earlier command left, and its time cell averaged decodes of
    two runs: --seeds 1 takes seed 1 alone; the other run is listed, with why, as unused."""
    runs = tmp_path / "runs"
    coordinates = {"dataset": "voxceleb", "task": "asr", "split": "fine-tune", "system": "A"}
    for seed, wer, seconds in ((1, 20.0, 3.0), (2, 40.0, 9.0)):
        write_run(runs / f"A_{seed}", {**coordinates, "seed": seed},
                  {"dev": {"wer": wer, "timing": seconds}})
    collection = collect(runs, tmp_path / "out", ["ca-fig3"], expected_seeds=1)
    wer, seconds = (collection.tables["ca-fig3"].cell("(a)", column) for column in ("wer", "decode_seconds"))
    assert (wer["mean"], wer["seeds"], wer["status"]) == (20.0, [1], "filled")
    assert (seconds["mean"], seconds["seeds"]) == (3.0, [1])
    listed = json.loads((tmp_path / "out" / "tables" / "runs.json").read_text())
    assert listed["unused_runs"] == ["../../runs/A_2"]
    ignored = next(run for run in listed["runs"] if run["run_dir"] == "../../runs/A_2")["ignored"]
    assert ignored == "seed 2 is not among the seeds built (--seeds 1: 1..1)"
    assert "`../../runs/A_2`: seed 2 is not among the seeds built" in (tmp_path / "out" / "tables" / "index.md").read_text()
    everything = collect(runs, tmp_path / "all", ["ca-fig3"]).tables["ca-fig3"].cell("(a)", "wer")
    assert everything["seeds"] == [1, 2]  # without --seeds: every seed found


def test_one_index_over_every_table_built_into_one_folder(tmp_path):
    """A second table built into the same folder keeps the first in index.md, runs.json and
    summary.json (it used to overwrite them)."""
    runs = tmp_path / "runs"
    write_run(runs / "E_1", {"dataset": "librilight", "split": "1h", "system": "E", "seed": 1},
              {"dev_other": {"wer": 25.0}})
    write_run(runs / "A_10m", {"dataset": "librilight", "split": "10m", "system": "A", "seed": 1},
              {name: {"wer": 50.0} for name in ("dev_clean", "dev_other", "test_clean", "test_other")})
    out = tmp_path / "out"
    collect(runs, out, ["gcaf-table6"])
    collect(runs, out, ["gcaf-table7"])
    tables = out / "tables"
    index = (tables / "index.md").read_text()
    assert "[GCAF Table 6" in index and "gcaf-table6.md) |" in index and "gcaf-table7.md) * |" in index
    summary = json.loads((tables / "summary.json").read_text())
    assert list(summary["tables"]) == ["gcaf-table6", "gcaf-table7"] and summary["built_now"] == ["gcaf-table7"]
    assert summary["tables"]["gcaf-table6"]["filled"] == 1
    used = {run["run_dir"]: run["used_by"] for run in json.loads((tables / "runs.json").read_text())["runs"]}
    assert used["../../runs/E_1"][-1] == "gcaf-table6 (built earlier)"  # and Table 7's 1h/E cells
    assert used["../../runs/A_10m"] and all(use.startswith("gcaf-table7: 10m/A") for use in used["../../runs/A_10m"])


def test_a_cell_left_out_by_systems_or_splits_says_so(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs / "E_1", {"dataset": "librilight", "split": "1h", "system": "E", "seed": 1},
              {"dev_other": {"wer": 25.0}})
    write_run(runs / "D4_1", {"dataset": "librilight", "split": "1h", "system": "D4", "seed": 1},
              {"dev_other": {"wer": 24.0}})
    built = collect(runs, tmp_path / "out", ["gcaf-table6"], systems=["E"]).tables["gcaf-table6"]
    assert built.cell("E", "wer")["mean"] == 25.0
    left = built.cell("D4", "wer")  # its run exists: left out all the same, not mixed in
    assert left["status"] == "left out" and left["mean"] is None
    assert left["missing"][0]["reason"] == "left out by --systems E"
    assert built.summary() == {"cells": 2, "filled": 1, "partial": 0, "missing": 0, "left_out": 1}
    markdown = (tmp_path / "out" / "tables" / "gcaf-table6.md").read_text()
    assert "— left out [1]" in markdown and "1. D4 Generative context injection / WER: left out by --systems E" in markdown
    table7 = collect(runs, tmp_path / "out7", ["gcaf-table7"], splits=["1h"]).tables["gcaf-table7"]
    assert table7.cell("10m/A", "dev_clean")["missing"][0]["reason"] == "left out by --splits 1h"
    assert table7.cell("1h/E", "dev_other")["mean"] == 25.0


def test_two_runs_claiming_one_seed_are_refused_not_averaged(tmp_path):
    runs = tmp_path / "runs"
    for name, wer in (("E_1", 25.0), ("E_1_copy", 30.0)):
        write_run(runs / name, {"dataset": "librilight", "split": "1h", "system": "E", "seed": 1},
                  {"dev_other": {"wer": wer}})
    cell = collect(runs, tmp_path / "out", ["gcaf-table6"]).tables["gcaf-table6"].cell("E", "wer")
    assert cell["status"] == "missing" and cell["missing"][0]["reason"].startswith("ambiguous: 2 runs claim seed 1")


def test_the_training_state_reads_max_update_from_run_json_the_hydra_config_or_the_log(tmp_path):
    base = {"dataset": "librilight", "split": "1h", "system": "A", "seed": 1}
    # no max_update in run.json: the .hydra config's optimization.max_update (not lr_scheduler's)
    folder = write_run(tmp_path / "hydra", base, updates=10, max_update=30, with_max_update=False)
    state = training_state(read_run(folder))
    assert (state.finished, state.num_updates, state.max_update) == (False, 10, 30)
    assert state.reason == "training unfinished: 10 of 30 updates"
    # neither run.json nor .hydra: fairseq's config line at the start of train.log
    (folder / ".hydra" / "config.yaml").unlink()
    assert training_state(read_run(folder)).max_update == 30
    # a finished log: "done training"
    done = write_run(tmp_path / "done", base, updates=30, max_update=30)
    assert training_state(read_run(done)).finished
    # a hand-made run with a checkpoint and no log counts as trained, with a note
    hand = write_run(tmp_path / "hand", base, trained=False)
    (hand / "checkpoint_best.pt").write_bytes(b"x")
    state = training_state(read_run(hand))
    assert state.finished and state.notes == ["no train.log; taken as trained from checkpoint_best.pt"]


# ---------------------------------------------------------------- run.json

@pytest.mark.parametrize(
    "content, message",
    [
        ('{"dataset": "librilight", "split": "1h", "system": "A"', "run.json:1: not JSON"),
        ('{"dataset": "librilight", "split": "1h", "system": "A"}', "no 'seed'"),
        ('{"dataset": "librilight", "split": "2h", "system": "A", "seed": 1}', "split '2h' is not a librilight"),
        ('{"dataset": "voxceleb", "split": "fine-tune", "system": "A", "seed": 1}', "needs a task (asr or sentiment)"),
        ('{"dataset": "librilight", "split": "1h", "system": "D4", "prompt": "P1", "seed": 1}',
         "system D4 has prompt = 'P4', but run.json says 'P1'"),
        ('{"dataset": "librilight", "split": "1h", "system": "F", "seed": 1}', "system 'F' is not a table row"),
        ('{"dataset": "librilight", "split": "1h", "system": "B", "alpha": "ten", "seed": 1}', "alpha is 'ten'"),
        ('{"dataset": "librilight", "split": "1h", "system": "A", "seed": 1, "lr": 0.1}', "unknown key(s) lr"),
    ],
)
def test_a_bad_run_json_is_refused_with_the_file_and_what_to_fix(tmp_path, content, message):
    (tmp_path / "run.json").write_text(content)
    with pytest.raises(RunFileError) as error:
        read_run(tmp_path)
    assert str(tmp_path / "run.json") in str(error.value) and message in str(error.value)


def test_the_contract_writers_write_what_the_reader_reads(tmp_path):
    run = write_run_file(tmp_path / "run", {"dataset": "voxceleb", "task": "asr", "split": "fine-tune",
                                            "system": "(b)", "window": 3, "offset": 0, "seed": 2})
    assert (run.system, run.knobs["window"], run.seed) == ("ca_b", 3, 2)
    with pytest.raises(RunFileError, match="no 'seed'"):
        write_run_file(tmp_path / "bad", {"dataset": "librilight", "split": "1h", "system": "A"})
    assert not (tmp_path / "bad" / "run.json").exists()  # a refused run.json is not left behind
    with pytest.raises(RunFileError, match="no 'seed'"):
        write_run_file(tmp_path / "run", {"dataset": "librilight", "split": "1h", "system": "A"})
    assert read_run(tmp_path / "run").system == "ca_b"  # nor does it replace a good one
    (tmp_path / "run" / "train.log").write_text(train_log(20, 20, True))
    write_skipped(tmp_path / "run" / "decode" / "dev+lm", "no LM given (--lm/--lexicon)")
    write_timing(tmp_path / "run" / "decode" / "dev", 31.5, 10, 60.0, real_time_factor=0.525, device="cpu",
                 timed=GENERATION_LOOP)
    cell = collect(tmp_path, tmp_path / "out", ["ca-fig3"]).tables["ca-fig3"].cell("(b)/L3", "decode_seconds")
    assert cell["mean"] == 31.5
    cell = collect(tmp_path, tmp_path / "out", ["ca-table3"]).tables["ca-table3"].cell("(b)/L3/O0", "lm")
    assert cell["missing"][0]["reason"] == "no LM given (--lm/--lexicon)"


def test_a_lm_cell_decoded_with_another_lm_than_it_needs_is_refused(tmp_path):
    """CA Table 4's (c)+LM NER cell needs SLUE's VoxPopuli NER 4-gram (SLUE-toolkit eval-ner.sh), its ASR
    cells the TED-LIUM 3 3-gram (eval_w2v.py): a decoding's lm.json must name that role and, when the
    builder is given the LM files (gcaf-collect-results --lm ROLE=FILE), that file."""
    runs = tmp_path / "runs"
    ner = {"dataset": "voxpopuli", "task": "ner", "split": "fine-tune", "system": "(c)"}
    for seed in (1, 2, 3):
        write_run(runs / f"ner{seed}", {**ner, "seed": seed}, {"dev+lm": {"wer": 20.0, "ner": 70.0 + seed}})
    ner_lm, other_lm = tmp_path / "4gram.bin", tmp_path / "other.bin"
    ner_lm.write_bytes(b"the NER 4-gram")
    other_lm.write_bytes(b"another 4-gram")
    settings = LM_ROLES["slue-ner"].settings()
    write_lm_record(runs / "ner1" / "decode" / "dev+lm", "slue-ner", str(ner_lm), file_sha256(ner_lm), None, None,
                    settings)
    write_lm_record(runs / "ner2" / "decode" / "dev+lm", "slue-asr", "/lm/t3.bin", "a" * 64, None, None, settings)
    (runs / "ner3" / "decode" / "dev+lm" / "lm.json").unlink()

    def reasons(**options):
        cell = collect(runs, tmp_path / "out", ["ca-table4"], **options).tables["ca-table4"].cell("(c)+LM", "vp_ner")
        return cell["mean"], {entry["seed"]: entry["reason"] for entry in cell["missing"]}

    mean, missing = reasons(language_models={"slue-ner": ner_lm})
    assert mean == 71.0  # seed 1 only
    assert missing[2].startswith("decoded with the slue-asr LM (/lm/t3.bin); this cell needs the slue-ner LM")
    assert missing[3].startswith("LM unknown: no lm.json in ")
    _, missing = reasons(language_models={"slue-ner": other_lm})
    assert missing[1].startswith(f"decoded with another slue-ner LM ({ner_lm}, sha256 ")
    main([str(runs), "--out", str(tmp_path / "cli"), "--tables", "ca-table4", "--lm", f"slue-ner={other_lm}"])
    rows = json.loads((tmp_path / "cli" / "tables" / "ca-table4.json").read_text())["rows"]
    cell = next(row for row in rows if row["key"] == "(c)+LM")["cells"]["vp_ner"]
    assert cell["mean"] is None and "decoded with another slue-ner LM" in cell["missing"][0]["reason"]
    with pytest.raises(SystemExit):
        main([str(runs), "--out", str(tmp_path / "cli"), "--lm", "ted=/lm"])


def test_a_decoding_time_that_is_not_the_generation_loops_is_refused(tmp_path):
    """CA Fig. 3's x axis is the decoding time, audio loading excluded: a timing.json of a whole
    process (model loading included, as the recipes wrote before) does not fill the cell."""
    coordinates = {"dataset": "voxceleb", "task": "asr", "split": "fine-tune", "system": "A", "seed": 1}
    folder = write_run(tmp_path / "runs" / "a", coordinates, {"dev": {"wer": 17.0}})
    write_timing(folder / "decode" / "dev", 18.8, 8, 24.0)
    cell = collect(tmp_path / "runs", tmp_path / "out", ["ca-fig3"]).tables["ca-fig3"].cell("(a)", "decode_seconds")
    assert cell["mean"] is None and "does not time the generation loop" in cell["missing"][0]["reason"]


def test_system_names_and_knobs_resolve_to_the_papers_rows(tmp_path):
    def system_of(**run):
        (tmp_path / "run.json").write_text(json.dumps({"dataset": "librilight", "split": "10min", "seed": 1, **run}))
        read = read_run(tmp_path)
        return read.system, read.knobs, read.split

    assert system_of(system="(c)")[:2] == ("B", {"alpha": 10.0, "context_dim": 32, "window": 2, "offset": 0})
    assert system_of(system="(b)", L=3, O=-1)[1] == {"context_dim": 32, "window": 3, "offset": -1}
    assert system_of(system="D", prompt="p2", llm=13)[0] == "D2"
    assert system_of(system="D", prompt="P4", llm="70b")[0] == "D7"
    assert system_of(system="D", prompt="P1", llm="7B")[0] == "D"  # no table row: an unused run
    assert system_of(system="C", pooling="[CLS]", context_text="current")[0] == "C3"
    assert system_of(system="A")[2] == "10m"


def test_a_run_with_other_knobs_fills_only_the_cells_of_its_setting(tmp_path):
    """B with alpha 100 and O = -1 is CA Table 1's row 100, not GCAF Table 7's B."""
    runs = tmp_path / "runs"
    write_run(runs / "sweep", {"dataset": "voxceleb", "task": "asr", "split": "fine-tune", "system": "B",
                               "alpha": 100, "offset": -1, "seed": 1}, {"dev": {"wer": 16.9}})
    write_run(runs / "d_p1_7b", {"dataset": "librilight", "split": "1h", "system": "D", "prompt": "P1", "llm": "7B",
                                 "seed": 1}, {"dev_other": {"wer": 26.0}})
    collection = collect(runs, tmp_path / "out", ["ca-table1", "ca-table2", "gcaf-table8", "gcaf-table4"])
    assert collection.tables["ca-table1"].cell("100", "no_lm")["mean"] == 16.9
    assert collection.tables["ca-table1"].cell("10", "no_lm")["status"] == "missing"
    assert collection.tables["gcaf-table8"].cell("B", "vc_asr/dev")["status"] == "missing"
    document = json.loads((tmp_path / "out" / "tables" / "runs.json").read_text())
    assert collection.tables["gcaf-table4"].cell("D1", "wer")["status"] == "missing"  # D1 is P1 with 13B
    by_folder = {Path(run["run_dir"]).name: run for run in document["runs"]}
    assert by_folder["sweep"]["used_by"] == ["ca-table1: 100 / no_lm", "ca-table1: 100 / lm"]
    assert by_folder["d_p1_7b"]["used_by"] == [] and by_folder["d_p1_7b"]["coordinates"]["system"] == "D"
    assert document["unused_runs"] == ["../../runs/d_p1_7b"]
    assert "- `../../runs/d_p1_7b`" in (tmp_path / "out" / "tables" / "index.md").read_text()


# ---------------------------------------------------------------- links, table 3, figure, the tool

def test_the_json_links_every_runs_folder_config_log_decodings_and_scores(tmp_path):
    runs = tmp_path / "runs"
    for seed in (1, 2):
        write_run(runs / f"ner_{seed}", {"dataset": "voxpopuli", "task": "ner", "split": "fine-tune", "system": "E",
                                         "seed": seed}, {"dev": {"wer": 30.0, "ner": 58.0 + seed}})
    collect(runs, tmp_path / "out", ["gcaf-table8"])
    tables = tmp_path / "out" / "tables"
    document = json.loads((tables / "gcaf-table8.json").read_text())
    row = next(row for row in document["rows"] if row["key"] == "E")
    cell = row["cells"]["vp_ner/dev"]
    assert cell["mean"] == 59.5 and cell["measure"]["metric"] == "ner_f1"
    for entry in cell["values"]:
        files = entry["files"]
        for key in ("run_dir", "run_json", "config", "train_log", "checkpoint", "decode_dir", "score_file"):
            assert (tables / files[key]).exists(), key
        assert (tables / files["score_file"]).name == "ner.json"
        assert sorted(Path(path).name for path in files["decoded_files"]) == [
            "dev.hyp.wrd", "dev.ref.wrd", "dev.wer.json", "ner.json"]
        assert (tables / files["run_dir"]).resolve() == (runs / f"ner_{entry['seed']}").resolve()
    assert document["paths"] == "relative to the folder of this file"


def test_gcaf_table3_reads_gcaf_rouge_results(tmp_path):
    runs = tmp_path / "runs" / "rouge"
    runs.mkdir(parents=True)
    (runs / "run.json").write_text(json.dumps({"kind": "rouge", "dataset": "librilight", "subset": "dev_other",
                                               "llm": "13B"}))
    rows = [{"row": "previous GT text", "rouge1_f": 0.15, "average_words": 18.0, "utterances": 100}] + [
        {"row": f"generated with P{k} (stabilityai/StableBeluga-13B)", "rouge1_f": 0.1 - 0.01 * k,
         "average_words": 10.0 + k, "utterances": 100} for k in (1, 2, 4)]
    (runs / "rouge.json").write_text(json.dumps(rows))
    built = collect(tmp_path / "runs", tmp_path / "out", ["gcaf-table3"]).tables["gcaf-table3"]
    assert built.cell("previous", "rouge1_f")["mean"] == 0.15
    assert built.cell("P4", "average_words")["mean"] == 14.0
    assert built.cell("P4", "rouge1_f")["difference"] == pytest.approx(0.06 - 0.06)
    assert built.cell("P3", "rouge1_f")["missing"][0]["reason"].startswith("no ROUGE run has a row for P3")
    markdown = (tmp_path / "out" / "tables" / "gcaf-table3.md").read_text()
    assert "| Previous GT text | 0.150 ± n/a (n=1); paper 0.14; Δ +0.010 | 18.0 ± n/a (n=1); paper 17.7; Δ +0.3 |" \
        in markdown


def test_ca_fig3_plots_wer_against_decoding_time_and_marks_the_times_not_published(tmp_path):
    runs_for_tables(tmp_path / "runs", ["ca-fig3"])
    built = collect(tmp_path / "runs", tmp_path / "out", ["ca-fig3"]).tables["ca-fig3"]
    seconds = built.cell("(c)/L3", "decode_seconds")
    assert seconds["n"] == 2 and seconds["published"] is None and seconds["difference"] is None
    assert built.cell("(b)/L2", "wer")["published"] == 16.77
    png = tmp_path / "out" / "tables" / "ca-fig3.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    markdown = (tmp_path / "out" / "tables" / "ca-fig3.md").read_text()
    assert "paper not published" in markdown and "![CA Fig. 3](ca-fig3.png)" in markdown
    # The figure prints no values: its five WERs are our inference from CA Table 3's O = 0 rows, marked so
    assert markdown.count("paper 16.77 (inferred, not printed)") == 2 and "OUR INFERENCE" in markdown
    cell = json.loads((tmp_path / "out" / "tables" / "ca-fig3.json").read_text())["rows"][1]["cells"]["wer"]
    assert cell["published_inferred_from"] == "inferred from CA Table 3, row (b)/L2/O0 without LM"
    assert seconds["published_inferred_from"] is None
    header, first = list(csv.reader((tmp_path / "out" / "tables" / "ca-fig3.csv").open()))[:2]
    assert header[8] == "WER paper inferred from" and first[8] == "inferred from CA Table 3, row (a) without LM"
    x_label, title = fig3_labels(["cuda:0 (NVIDIA H200)"])
    assert "generation loop on cuda:0 (NVIDIA H200)" in x_label and "model and audio loading excluded" in x_label
    assert "INFERRED from CA Table 3" in title


def test_gcaf_collect_results_end_to_end(tmp_path, capsys):
    runs = tmp_path / "runs"
    runs_for_tables(runs, ["gcaf-table6"])
    (runs / "broken").mkdir()
    (runs / "broken" / "run.json").write_text('{"dataset": "librilight"}')
    with pytest.raises(SystemExit) as exit_:
        main([str(runs), "--out", str(tmp_path / "out"), "--tables", "gcaf-table6"])
    assert exit_.value.code == 2  # the broken run.json, after writing everything else
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["tables"] == {"gcaf-table6": {"cells": 2, "filled": 2, "partial": 0, "missing": 0, "left_out": 0}}
    assert summary["runs"] == 4
    assert f"{runs / 'broken' / 'run.json'}: no 'split'" in captured.err
    tables = tmp_path / "out" / "tables"
    assert {path.name for path in tables.iterdir()} == {
        "gcaf-table6.md", "gcaf-table6.csv", "gcaf-table6.json", "runs.json", "index.md", "summary.json"}
    assert "## Problems (1)" in (tables / "index.md").read_text()
    # fixed: status 0; default --out is RUNS_DIR, default tables those of the benchmarks present (librilight)
    (runs / "broken" / "run.json").write_text('{"dataset": "librilight", "split": "1h", "system": "A", "seed": 1}')
    main([str(runs)])
    summary = json.loads(capsys.readouterr().out)
    assert list(summary["tables"]) == table_names(["librilight"]) and summary["problems"] == []
    assert (runs / "tables" / "gcaf-table7.md").is_file()
    # the console script, as a process: no torch, no fairseq
    probe = (
        "import sys, json; from gcaf_fairseq.cli.collect_results import main; "
        f"main([{str(runs)!r}, '--tables', 'gcaf-table6'])"
        "\nprint(json.dumps({m: m in sys.modules for m in ('torch', 'fairseq', 'matplotlib')}))"
    )
    process = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPOSITORY,
                             env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert process.returncode == 0, process.stderr
    assert json.loads(process.stdout.splitlines()[-1]) == {"torch": False, "fairseq": False, "matplotlib": False}


def test_a_missing_or_empty_runs_dir_is_an_error_naming_it(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path / "nowhere")])
    assert exit_.value.code == 2 and f"{tmp_path / 'nowhere'}: no such folder of runs" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path / "empty")])
    assert exit_.value.code == 2 and f"{tmp_path / 'empty'}: no run folder" in capsys.readouterr().err


def test_a_run_with_some_empty_context_gets_a_footnote_and_its_cell_links_the_context_it_read(tmp_path):
    runs = tmp_path / "runs"
    store = tmp_path / "context" / "train_1h.P4-13B.cls"
    context = {"text_encoder": {"folder": "/models/bert", "fingerprint": "aa"},
               "llm_model": {"size": "13B", "backend": "hf", "folder": "/models/13b", "fingerprint": "bb"},
               "context_stores": [{"path": str(store), "sha256": "cc", "encoder": "/models/bert", "texts": None,
                                   "should_have_context": 150, "without_context": 2,
                                   "first_without_context": ["u7", "u9"]}]}
    write_run(runs / "E_1", {"dataset": "librilight", "split": "1h", "system": "E", "seed": 1, **context},
              {"dev_other": {"wer": 25.0}})
    built = collect(runs, tmp_path / "out", ["gcaf-table6"]).tables["gcaf-table6"]
    cell = built.cell("E", "wer")
    assert cell["status"] == "filled" and [entry["warning"] for entry in cell["warnings"]] == [
        "2 of 150 utterances that should have context have none in train_1h.P4-13B.cls (first: u7, u9)"]
    markdown = (tmp_path / "out" / "tables" / "gcaf-table6.md").read_text()
    assert "25.00 ± n/a (n=1) context [c1]; paper 24.9" in markdown and "## Context warnings (1)" in markdown
    assert "c1. E Generative context-aware / WER (`../../runs/E_1`, seed 1): 2 of 150" in markdown
    document = json.loads((tmp_path / "out" / "tables" / "gcaf-table6.json").read_text())
    linked = document["rows"][1]["cells"]["wer"]["values"][0]["context"]
    assert linked["llm_model"]["fingerprint"] == "bb" and linked["text_encoder"]["folder"] == "/models/bert"
    assert linked["context_stores"][0]["path"] == "../../context/train_1h.P4-13B.cls"  # relative to the table
    clean = collect(runs, tmp_path / "out", ["gcaf-table6"]).tables["gcaf-table6"].cell("D4", "wer")
    assert clean["warnings"] == []
