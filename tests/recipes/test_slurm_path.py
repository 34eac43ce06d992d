"""The recipes' ``--slurm`` path, exercised (issue 19 §5): hydra-submitit-launcher's
``submitit_local`` launcher runs the very multirun jobs ``submitit_slurm`` would queue, as local
processes. One tiny training (row A, Libri-light 10m, the tiny wav2vec2 on look-alike trees, on
the CPU) goes through the recipe's --slurm command line: the launcher's job folder, a killed job
resumed from checkpoint_last.pt by the next run of the recipe, and the run-folder contract
(run.json, .hydra/, train.log, checkpoint_best.pt, decodings, the table) as a local run has them.
Only the launcher's name differs from a cluster's."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gcaf_demo.lookalike_trees import build_librispeech_trees
from gcaf_fairseq.tables.runs import read_run, training_state
from speech_clips import PHRASES, clip, needs_speech_tools, speech_clips  # noqa: F401  (session fixture)

pytestmark = [pytest.mark.slow, needs_speech_tools]

ROOT = Path(__file__).resolve().parents[2]


def test_slurm_path_through_the_local_submitit_launcher_trains_resumes_and_fills_the_table(
        tmp_path, speech_clips, w2v_checkpoint):
    trees = build_librispeech_trees(tmp_path / "trees", lambda number: clip(speech_clips, number),
                                    lambda speaker, number: PHRASES[number % len(PHRASES)].upper())
    out = tmp_path / "out"
    command = ["bash", str(ROOT / "scripts" / "reproduce_librilight.sh"), "--out", str(out), "--w2v", str(w2v_checkpoint),
               "--librispeech", str(trees["librispeech"]), "--librilight", str(trees["librilight"]),
               "--tables", "gcaf-table7", "--splits", "10m", "--systems", "A", "--seeds", "1", "--cpu", "--smoke",
               "--slurm", "debug", "--launcher", "submitit_local", "--slurm-time", "30",
               "--slurm-setting", "mem_gb=4", "--", "optimization.max_update=40"]
    environment = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    cut = command.index("--")
    subprocess.run(command[:cut] + ["--stage", "1"] + command[cut:], env=environment, check=True, capture_output=True)
    run = out / "runs" / "librilight-asr" / "10m" / "A" / "seed1"

    # The training's job, killed once it has saved a checkpoint before its end
    process = subprocess.Popen(command[:cut] + ["--stage", "4"] + command[cut:], env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and process.poll() is None:
            log = run / "train.log"
            text = log.read_text(errors="replace") if log.is_file() else ""
            if "Saved checkpoint" in text and "done training" not in text:
                break
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert "done training" not in (run / "train.log").read_text(), "the job ended before it could be killed"
    jobs = [folder for folder in (run / ".submitit").iterdir() if folder.name.isdigit()]  # named by the job id
    assert len(jobs) == 1 and list(jobs[0].glob("*_submitted.pkl")) and list(jobs[0].glob("*_log.out"))
    submitted = (run / "submit.log").read_text()
    assert "hydra/launcher=submitit_local" in submitted and "hydra.launcher.mem_gb=4" in submitted
    assert "hydra.launcher.timeout_min=30" in submitted and "hydra.launcher.gpus_per_node=0" in submitted

    result = subprocess.run(command, env=environment, capture_output=True, text=True)  # every stage, resumed
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    log = (run / "train.log").read_text()
    resumed = [line for line in log.splitlines() if "Loaded checkpoint" in line][-1]
    assert "@ 0 updates" not in resumed, resumed  # from checkpoint_last.pt, not from scratch
    assert len([folder for folder in (run / ".submitit").iterdir() if folder.name.isdigit()]) == 2  # a second job
    state = training_state(read_run(run))
    assert state.finished and state.num_updates == 40
    assert read_run(run).coordinates()["system"] == "A" and (run / ".hydra" / "config.yaml").is_file()
    assert (run / "checkpoint_best.pt").is_file()
    rows = {row["key"]: row for row in json.loads((out / "tables" / "gcaf-table7.json").read_text())["rows"]}
    cell = rows["10m/A"]["cells"]["dev_other"]
    assert cell["n"] == 1 and cell["mean"] is not None and not cell["missing"]
