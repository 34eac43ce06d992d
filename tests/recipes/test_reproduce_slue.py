"""scripts/reproduce_slue.sh end to end at smoke scale: the SLUE smoke run of docs/reproduction.md,
read from the page and run as written: GCAF Table 8 restricted to rows A and E and the two
SLUE-only tasks (VoxPopuli NER: e2e_ner labels, NER F1; VoxCeleb sentiment: the classifier,
gcaf-predict-labels, macro F1), 2 seeds, the models of gcaf-make-smoke-models and MiniLM, on
look-alike SLUE release folders. (The ASR columns take the path of test_reproduce_librilight.py;
the other SLUE tables are checked with --dry-run in test_reproduce_plan.py.)"""

import json
import time
from pathlib import Path

import pytest

from docs_commands import documented_commands, run_in_shell, shell_environment
from gcaf_demo.lookalike_trees import build_slue_releases
from gcaf_fairseq.tables.published import TABLES
from speech_clips import PHRASES, clip, needs_speech_tools, speech_clips  # noqa: F401  (session fixture)

pytestmark = [pytest.mark.slow, needs_speech_tools]

SEEDS = 2
COLUMNS = ("vp_ner/dev", "vp_ner/test", "vc_sa/dev", "vc_sa/test")


def test_table8_ner_and_sentiment_end_to_end(tmp_path, speech_clips, smoke_models):
    started = time.perf_counter()
    build_slue_releases(tmp_path / "slue", lambda index: clip(speech_clips, index), PHRASES)
    out = tmp_path / "out"
    env = shell_environment(MODELS=Path(smoke_models["llm"]).parent, DATA=tmp_path / "slue", OUT=out)
    make_models, command = documented_commands("docs/reproduction.md", "tests/recipes/test_reproduce_slue.py")
    assert make_models == "gcaf-make-smoke-models --out $MODELS" and command.startswith("scripts/reproduce_slue.sh ")
    made = run_in_shell(make_models, env)  # finds the session's models: seconds
    assert made.returncode == 0 and json.loads(made.stdout)["llm_reused"], made.stderr[-3000:]
    result = run_in_shell(command, env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    table = TABLES["gcaf-table8"]
    rows = {row["key"]: row for row in json.loads((out / "tables" / "gcaf-table8.json").read_text())["rows"]}
    markdown = (out / "tables" / "gcaf-table8.md").read_text()
    for row in ("A", "E"):
        for column in COLUMNS:
            cell = rows[row]["cells"][column]
            assert cell["n"] == SEEDS and cell["std"] is not None and not cell["missing"], (row, column, cell["missing"])
            assert cell["published"] == table.published(row, column)
            metric = cell["measure"]["metric"]
            assert metric == ("ner_f1" if column.startswith("vp_ner") else "sa_f1")
        line = next(line for line in markdown.splitlines() if line.startswith(f"| {row} |"))
        assert all(f"paper {table.published(row, column):.1f}" in line for column in COLUMNS)
    for row in ("B", "C1", "D4"):  # rows left out by --systems: listed as left out, with the reason
        cell = rows[row]["cells"]["vp_ner/dev"]
        assert cell["status"] == "left out" and cell["missing"][0]["reason"] == "left out by --systems A E"
    ner = json.loads((out / "runs" / "voxpopuli-ner" / "fine-tune" / "E" / "seed2" / "decode" / "test" /
                      "ner.json").read_text())
    assert "f1" in ner

    log_lines = len((out / "recipe.log").read_text().splitlines())
    again = run_in_shell(command, env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert not [line for line in (out / "recipe.log").read_text().splitlines()[log_lines:] if "] run:" in line]
    print(f"\nsmoke Table 8 (A, E x NER, SA x {SEEDS} seeds): {time.perf_counter() - started:.0f} s")
