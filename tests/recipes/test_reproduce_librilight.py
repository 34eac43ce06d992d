"""scripts/reproduce_librilight.sh end to end at smoke scale: the Libri-light smoke run of
docs/reproduction.md, read from the page and run as written (GCAF Table 7, the 10m split, every
row (A, B, C1, D4, E), 2 seeds, the models of gcaf-make-smoke-models and MiniLM), on look-alike
LibriSpeech / Libri-light trees. A training killed mid-run resumes; a rerun runs nothing. (The
other tables are checked with --dry-run in test_reproduce_plan.py.)"""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from docs_commands import documented_commands, run_in_shell, shell_environment, with_options
from gcaf_demo.lookalike_trees import build_librispeech_trees
from gcaf_fairseq.tables.published import TABLES
from speech_clips import PHRASES, clip, needs_speech_tools, speech_clips  # noqa: F401  (session fixture)

pytestmark = [pytest.mark.slow, needs_speech_tools]

ROOT = Path(__file__).resolve().parents[2]
SEEDS = 2


def documented_smoke_run() -> tuple:
    """The two commands of the Libri-light smoke run in docs/reproduction.md."""
    make_models, recipe = documented_commands("docs/reproduction.md", "tests/recipes/test_reproduce_librilight.py")
    assert make_models == "gcaf-make-smoke-models --out $MODELS"
    assert recipe.startswith("scripts/reproduce_librilight.sh ") and f"--seeds {SEEDS}" in recipe
    return make_models, recipe


def files_under(folder: Path) -> dict:
    return {path: path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()}


def kill_first_training_after_a_save(command: str, env: dict, runs_dir: Path) -> Path:
    """Start the recipe's training stage; once a run has saved a checkpoint before its end,
    kill the recipe and its training (their process group); return that run folder."""
    process = subprocess.Popen(["bash", "-c", command], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            for log in runs_dir.glob("*/*/*/seed*/train.log"):
                text = log.read_text(errors="replace")
                if "Saved checkpoint" in text and "done training" not in text:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                    return log.parent
            if process.poll() is not None:
                break
            time.sleep(0.02)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    raise AssertionError(f"no training saved a checkpoint before its end (exit {process.returncode})")


def test_table7_10m_end_to_end_resumes_and_reruns_nothing(tmp_path, speech_clips, smoke_models):
    started = time.perf_counter()
    build_librispeech_trees(tmp_path / "trees", lambda number: clip(speech_clips, number),
                            lambda speaker, number: PHRASES[number % len(PHRASES)].upper())
    out = tmp_path / "out"
    env = shell_environment(MODELS=Path(smoke_models["llm"]).parent, DATA=tmp_path / "trees", OUT=out)
    make_models, command = documented_smoke_run()
    made = run_in_shell(make_models, env)  # finds the session's models: seconds
    assert made.returncode == 0 and json.loads(made.stdout)["llm_reused"], made.stderr[-3000:]
    stages = run_in_shell(with_options(command, "--stage 1-3"), env)
    assert stages.returncode == 0, stages.stdout[-3000:] + stages.stderr[-3000:]
    killed = kill_first_training_after_a_save(with_options(command, "--stage 4"), env, out / "runs")
    assert json.loads((killed / "run.json").read_text())["max_update"] == 60  # run.json written first

    result = run_in_shell(command, env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = (killed / "train.log").read_text()
    assert "Loaded checkpoint" in log and "done training" in log
    resumed = [line for line in log.splitlines() if "Loaded checkpoint" in line][-1]
    assert "@ 0 updates" not in resumed, resumed  # resumed from checkpoint_last.pt, not from scratch

    built = json.loads((out / "tables" / "gcaf-table7.json").read_text())
    table = TABLES["gcaf-table7"]
    rows = {row["key"]: row for row in built["rows"]}
    markdown = (out / "tables" / "gcaf-table7.md").read_text()
    for row in table.rows:
        if not row.key.startswith("10m/"):
            continue
        for column in table.columns:
            cell = rows[row.key]["cells"][column.key]
            assert cell["n"] == SEEDS and cell["seeds"] == [1, 2], (row.key, column.key, cell.get("missing"))
            assert cell["mean"] is not None and cell["std"] is not None and not cell["missing"]
            assert cell["published"] == table.published(row.key, column.key)
            assert cell["difference"] == pytest.approx(cell["mean"] - cell["published"])
        published = [f"paper {table.published(row.key, column.key):.1f}" for column in table.columns]
        line = next(line for line in markdown.splitlines() if line.startswith(f"| {row.labels[0]} |"))
        assert all(text in line for text in published) and "(n=2)" in line
    timing = json.loads((out / "runs" / "librilight-asr" / "10m" / "E" / "seed1" / "decode" / "dev_other" /
                         "timing.json").read_text())
    assert timing["utterances"] == 3 and timing["decode_seconds"] > 0

    before = files_under(out)
    log_lines = len((out / "recipe.log").read_text().splitlines())
    again = run_in_shell(command, env)
    assert again.returncode == 0, again.stderr[-3000:]
    new_lines = (out / "recipe.log").read_text().splitlines()[log_lines:]
    assert new_lines and not [line for line in new_lines if "] run:" in line]
    after = files_under(out)
    changed = sorted(str(path) for path in after if before.get(path) != after[path])
    assert changed == [str(out / ".recipe" / "lock"), str(out / "recipe.log")]  # the lock holds the last run's pid
    print(f"\nsmoke Table 7 (10m, 5 rows x {SEEDS} seeds): {time.perf_counter() - started:.0f} s")
