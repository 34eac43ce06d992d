"""GPU-hours measured on the user's machine (issue 19 §4), and the formula without a measurement.

``--calibrate`` runs a few real updates of the real config (frozen, then unfrozen) on the
prepared data and the real checkpoint, for the runs without audio context (row A) and apart for
row B, and writes OUT/calibration.json; ``--dry-run`` then prices every table from it and says
so. Here on the CPU at toy scale (the tiny wav2vec2, look-alike LibriSpeech trees); the formula's
parts are checked on their own without training."""

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gcaf_demo.lookalike_trees import build_librispeech_trees
from gcaf_fairseq.recipes.calibrate import phase_seconds
from gcaf_fairseq.recipes.estimate import (
    ASSUMED_GPU_SECONDS, FROZEN_FRACTION, REFERENCE_SAMPLES, estimate_lines, run_cost, samples_per_update,
)
from gcaf_fairseq.recipes.options import parse_options
from gcaf_fairseq.recipes.recipe import Recipe
from gcaf_fairseq.recipes.run import run_recipe
from speech_clips import PHRASES, clip, needs_speech_tools, speech_clips  # noqa: F401  (session fixture)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def encoder(tmp_path):
    folder = tmp_path / "encoder"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"hidden_size": 384}))
    return folder


def librilight_options(out, encoder, *extra):
    return parse_options("librilight", ["--out", str(out), "--w2v", "/w.pt", "--text-encoder", str(encoder),
                                        "--llm", "/m/13b", "--librispeech", "/ls", "--librilight", "/ll", *extra])


def test_frozen_updates_cost_their_own_and_a_small_epoch_its_real_size(tmp_path, encoder):
    """10m: 13k updates, 10k frozen; its epoch (10 min = 9.6M samples) is smaller than the 25.6M
    effective batch, so an update sees 9.6M samples, not 25.6M."""
    recipe = Recipe(librilight_options(tmp_path / "out", encoder, "--tables", "gcaf-table7", "--splits", "10m", "1h",
                                       "--systems", "A", "B", "--seeds", "1", "--gpus", "8"))
    runs = {(run.split, run.system): run for run in recipe.plan.runs}
    assert samples_per_update(recipe, runs["10m", "A"]) == pytest.approx(10 * 60 * 16000)
    assert samples_per_update(recipe, runs["1h", "A"]) == 3_200_000 * 8
    per_batch = ASSUMED_GPU_SECONDS * 25.6e6 / REFERENCE_SAMPLES  # an unfrozen 1h update
    expected = 10_000 * per_batch * FROZEN_FRACTION + 3_000 * per_batch
    assert run_cost(recipe, runs["1h", "A"], None, ASSUMED_GPU_SECONDS).gpu_seconds == pytest.approx(expected)
    assert run_cost(recipe, runs["1h", "B"], None, ASSUMED_GPU_SECONDS).gpu_seconds == pytest.approx(2 * expected)
    ten_minutes = run_cost(recipe, runs["10m", "A"], None, ASSUMED_GPU_SECONDS).gpu_seconds
    assert ten_minutes == pytest.approx(expected * 9.6e6 / 25.6e6)


def test_without_a_calibration_the_dry_run_names_the_assumed_figure_per_table(tmp_path, encoder):
    options = librilight_options(tmp_path / "out", encoder, "--tables", "gcaf-table2", "gcaf-table7", "--seeds", "1",
                                 "--dry-run")
    stream = io.StringIO()
    run_recipe(options, stream)
    printed = stream.getvalue()
    assert "# estimate: ASSUMED 2.5 GPU-s per 3.2M-sample batch forward + backward (a fairseq user's report, " \
           "facebookresearch/fairseq#4002, not measured here; an H200 ran such a batch of row A in 0.075 s" in printed
    assert "frozen updates at 1/3 of that, audio-context rows x L, an update seeing min(effective batch, epoch)" in printed
    assert f"no {tmp_path / 'out' / 'calibration.json'} (run the recipe with --calibrate to measure)" in printed
    assert re.search(r"^#   gcaf-table2: 6 training run\(s\), [\d,.]+ CPU process-hours$", printed, re.M)
    assert re.search(r"^#   gcaf-table7: 20 training run\(s\), [\d,.]+ CPU process-hours$", printed, re.M)
    assert re.search(r"^#   all tables: 23 training run\(s\)", printed, re.M)  # Table 2's 1h A, B, C1 are Table 7's


def test_phase_seconds_come_from_the_log_timestamps(tmp_path):
    log = tmp_path / "train.log"
    lines = []
    for update in range(1, 9):  # frozen: 0.1 s per update; unfrozen: 0.3 s
        seconds = 0.1 * min(update, 4) + 0.3 * max(0, update - 4)
        stamp = f"2026-01-01 00:00:{int(seconds):02d},{round(seconds % 1 * 1000):03d}"
        lines.append(f'[{stamp}][train_inner][INFO] - {{"epoch": 1, "loss": "3.2", "num_updates": "{update}"}}')
    log.write_text("\n".join(lines) + "\n")
    assert phase_seconds(log, 4) == pytest.approx({"frozen": 0.1, "unfrozen": 0.3})
    with pytest.raises(ValueError, match=r"no train_inner line for update\(s\) \[10\]"):
        phase_seconds(log, 5)


@pytest.mark.slow
@needs_speech_tools
def test_calibration_on_the_cpu_at_toy_scale_prices_every_table(tmp_path, speech_clips, w2v_checkpoint, encoder):
    trees = build_librispeech_trees(tmp_path / "trees", lambda number: clip(speech_clips, number),
                                    lambda speaker, number: PHRASES[number % len(PHRASES)].upper())
    out = tmp_path / "out"
    llm = tmp_path / "llm"  # given (every path is checked before stage 1), never loaded: calibration trains A and B
    llm.mkdir()
    command = ["bash", str(ROOT / "scripts" / "reproduce_librilight.sh"), "--out", str(out), "--w2v", str(w2v_checkpoint),
               "--text-encoder", str(encoder), "--llm", str(llm), "--librispeech", str(trees["librispeech"]),
               "--librilight", str(trees["librilight"]), "--tables", "gcaf-table7", "--splits", "10m",
               "--systems", "A", "B", "E", "--seeds", "3", "--cpu", "--smoke"]
    environment = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command + ["--calibrate", "--calibration-updates", "8"], env=environment,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    calibration = json.loads((out / "calibration.json").read_text())
    assert calibration["hardware"] == {"gpus": 0, "precision": "fp32", "cpu": True, "smoke": True}
    entries = {(entry["config"], entry["class"]): entry for entry in calibration["entries"]}
    assert set(entries) == {("librilight_10m", "plain"), ("librilight_10m", "audio-L2")}  # A and E share one
    assert entries["librilight_10m", "plain"]["system"] == "A" and entries["librilight_10m", "audio-L2"]["system"] == "B"
    for entry in entries.values():
        assert 0 < entry["frozen_seconds_per_update"] < entry["unfrozen_seconds_per_update"] < 30
        log = Path(entry["log"]).read_text()
        assert "'freeze_finetune_updates': 8" in log and '"num_updates": "16"' in log
        assert not list(Path(entry["log"]).parent.glob("checkpoint*.pt"))  # no checkpoint, no validation
    assert not (out / "runs").exists()  # nothing else ran

    dry = subprocess.run(command + ["--dry-run"], env=environment, capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert f"# estimate: MEASURED here ({out / 'calibration.json'}, CPU, " in dry.stdout
    match = re.search(r"^#   gcaf-table7: 9 training run\(s\), 0.0 CPU process-hours \(([\d.]+) s\)$", dry.stdout, re.M)
    plain, audio = entries["librilight_10m", "plain"], entries["librilight_10m", "audio-L2"]
    per_run = {name: 5 * entry["frozen_seconds_per_update"] + 15 * entry["unfrozen_seconds_per_update"]
               for name, entry in (("plain", plain), ("audio", audio))}  # +smoke=tiny: 20 updates, 5 frozen
    assert float(match.group(1)) == pytest.approx(6 * per_run["plain"] + 3 * per_run["audio"], abs=0.06)  # A, E; B
    print("\n" + "\n".join(line for line in dry.stdout.splitlines() if line.startswith("# estimate")
                           or line.startswith("#   ")) + "\n" + "\n".join(
        f"calibrated {key}: {entry['frozen_seconds_per_update']:.4f} s frozen, "
        f"{entry['unfrozen_seconds_per_update']:.4f} s unfrozen per update" for key, entry in entries.items()))
