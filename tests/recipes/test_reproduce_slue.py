"""scripts/reproduce_slue.sh end to end at smoke scale: GCAF Table 8 restricted to rows A and E and
the two SLUE-only tasks (VoxPopuli NER: e2e_ner labels, NER F1; VoxCeleb sentiment: the
classifier, gcaf-predict-labels, macro F1), 2 seeds, on look-alike SLUE release folders with the
tiny wav2vec2, the tiny Llama and MiniLM. (The ASR columns take the path of
test_reproduce_librilight.py; the other SLUE tables are checked with --dry-run in
test_reproduce_plan.py.)"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gcaf_demo.lookalike_trees import build_slue_releases
from gcaf_fairseq.tables.published import TABLES
from speech_clips import PHRASES, clip, needs_speech_tools, speech_clips  # noqa: F401  (session fixture)

pytestmark = [pytest.mark.slow, needs_speech_tools]

ROOT = Path(__file__).resolve().parents[2]
SEEDS = 2
COLUMNS = ("vp_ner/dev", "vp_ner/test", "vc_sa/dev", "vc_sa/test")


def test_table8_ner_and_sentiment_end_to_end(tmp_path, speech_clips, w2v_checkpoint, corpus):
    from gcaf_demo.pipeline import demo_text_encoder
    from gcaf_demo.tiny_llm import train_tiny_llm

    started = time.perf_counter()
    releases = build_slue_releases(tmp_path / "slue", lambda index: clip(speech_clips, index), PHRASES)
    llm = train_tiny_llm(corpus, tmp_path / "llm", steps=40).folder  # after 5 steps: empty titles, refused
    out = tmp_path / "out"
    command = ["bash", str(ROOT / "scripts" / "reproduce_slue.sh"), "--out", str(out), "--w2v", str(w2v_checkpoint),
               "--text-encoder", str(demo_text_encoder()), "--llm", str(llm), "--llm-max-new-tokens", "12",
               "--slue-voxceleb", str(releases["voxceleb"]), "--slue-voxpopuli", str(releases["voxpopuli"]),
               "--tables", "gcaf-table8", "--systems", "A", "E", "--splits", "voxpopuli-ner", "voxceleb-sentiment",
               "--seeds", str(SEEDS), "--cpu", "--smoke"]
    environment = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=environment, capture_output=True, text=True)
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
    again = subprocess.run(command, env=environment, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert not [line for line in (out / "recipe.log").read_text().splitlines()[log_lines:] if "] run:" in line]
    print(f"\nsmoke Table 8 (A, E x NER, SA x {SEEDS} seeds): {time.perf_counter() - started:.0f} s")
