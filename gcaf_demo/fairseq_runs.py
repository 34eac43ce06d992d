"""Run fairseq's own command-line tools on this plugin, and read what they report.

Used by the demo and the end-to-end tests: every run is a real ``fairseq-hydra-train`` or
``fairseq-generate`` process, with its log kept next to its outputs.
"""

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from gcaf_fairseq.resources import PLUGIN_DIR, config_dir as _config_root


def config_dir_of(kind: str) -> Path:
    """``config/{kind}`` (``finetuning`` or ``pretraining``), wherever the package is installed."""
    return _config_root() / kind


def fairseq_command(name: str) -> str:
    """The console script ``name`` of the running interpreter's environment."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def run_logged(command: List[str], log_path: Path, env: Optional[Dict[str, str]] = None) -> float:
    """Run ``command`` with its output in ``log_path``; return the wall time in seconds.
    A failure raises with the end of the log."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # One thread per process: on a 2-core machine two torch processes with default threading
    # slow each other down by an order of magnitude, and one thread is as fast for tiny models.
    full_env = {"OMP_NUM_THREADS": "1", **os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    start = time.perf_counter()
    with open(log_path, "w") as log:
        log.write(" ".join(command) + "\n")
        log.flush()
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=full_env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        tail = "".join(Path(log_path).read_text().splitlines(keepends=True)[-40:])
        raise RuntimeError(f"{command[0]} failed (exit {result.returncode}); log {log_path}:\n{tail}")
    return seconds


def hydra_train(
    config_name: str,
    save_dir: Path,
    overrides: List[str],
    system: Optional[str] = None,
    config_dir: Optional[Path] = None,
) -> float:
    """``fairseq-hydra-train`` with this plugin; checkpoints, hydra files and
    ``train.log`` go to ``save_dir``. Returns the wall time."""
    save_dir = Path(save_dir)
    command = [
        fairseq_command("fairseq-hydra-train"),
        "--config-dir", str(config_dir or config_dir_of("finetuning")),
        "--config-name", config_name,
        f"common.user_dir={PLUGIN_DIR}",
        f"checkpoint.save_dir={save_dir}",
        f"hydra.run.dir={save_dir}",
    ]
    if system is not None:
        command.append(f"+system={system}")
    return run_logged(command + list(overrides), save_dir / "train.log")


@dataclass
class TrainingReport:
    num_updates: int
    parameters: int
    train_losses: List[float]  # the total loss of each train_inner log line
    valid: List[Dict[str, float]]  # one dict per validation, without the subset prefix (loss, wer, ...)


def read_training_log(log_path: Path) -> TrainingReport:
    """Numbers from a ``fairseq-hydra-train`` log written with ``common.log_format=json``."""
    text = Path(log_path).read_text()
    parameters = re.search(r"num\. shared model params: ([\d,]+)", text)
    losses, valid, num_updates = [], [], 0
    for line in text.splitlines():
        tag = re.search(r"\]\[([^\]]+)\]\[INFO\] - \{", line)
        if tag is None or not line.rstrip().endswith("}"):
            continue
        try:
            stats = json.loads(line[line.index("{"):])
        except json.JSONDecodeError:
            continue
        tag = tag.group(1)
        if tag == "train_inner" and "loss" in stats:
            losses.append(float(stats["loss"]))
            num_updates = max(num_updates, int(stats["num_updates"]))
        elif tag == "train" and "train_num_updates" in stats:
            num_updates = max(num_updates, int(stats["train_num_updates"]))
        elif f"{tag}_loss" in stats:  # validation, tagged with the subset's name
            prefix = f"{tag}_"
            valid.append({key[len(prefix):]: float(value) for key, value in stats.items() if key.startswith(prefix)})
    return TrainingReport(
        num_updates=num_updates,
        parameters=int(parameters.group(1).replace(",", "")) if parameters else 0,
        train_losses=losses,
        valid=valid,
    )


def generate(
    data_dir: Path,
    checkpoint: Path,
    subset: str,
    results_dir: Path,
    extra_args: Optional[List[str]] = None,
) -> float:
    """``fairseq-generate`` with the task ``audio_context_finetuning``; writes
    ``generate-{subset}.txt`` and the id-ordered ``{subset}.ids/.hyp.wrd/.ref.wrd/.wer.json``
    to ``results_dir``. Returns the wall time."""
    command = [
        fairseq_command("fairseq-generate"), str(data_dir),
        "--user-dir", str(PLUGIN_DIR),
        "--task", "audio_context_finetuning",
        "--path", str(checkpoint),
        "--gen-subset", subset,
        "--results-path", str(results_dir),
        "--decoding-output", str(results_dir),
        "--scoring", "wer",
        "--cpu",
    ]
    return run_logged(command + list(extra_args or []), Path(results_dir) / f"generate-{subset}.log")


@dataclass
class DecodingReport:
    hypotheses: Dict[int, str]  # dataset index -> decoded words
    references: Dict[int, str]
    wer: float
    sentences: int
    generation_seconds: float


def read_generate_output(results_dir: Path, subset: str) -> DecodingReport:
    """Hypotheses, references and WER from ``generate-{subset}.txt``; the decoding time from
    the same file or, where fairseq's logging went to stderr, from ``generate-{subset}.log``."""
    results = Path(results_dir) / f"generate-{subset}.txt"
    hypotheses, references, wer, sentences, seconds = {}, {}, None, 0, float("nan")
    for line in results.read_text().splitlines():
        if line.startswith("D-"):
            index, _score, *words = line[2:].split("\t")
            hypotheses[int(index)] = words[0] if words else ""
        elif line.startswith("T-"):
            index, *words = line[2:].split("\t")
            references[int(index)] = words[0] if words else ""
        elif line.startswith("Generate ") and "WER:" in line:
            wer = float(line.rsplit("WER:", 1)[1].strip())
    if wer is None:
        raise ValueError(f"{results}: no WER line; did fairseq-generate finish?")
    log = Path(results_dir) / f"generate-{subset}.log"
    for text in (results.read_text(), log.read_text() if log.exists() else ""):
        match = re.search(r"Translated ([\d,]+) sentences .* in ([\d.]+)s", text)
        if match:
            sentences, seconds = int(match.group(1).replace(",", "")), float(match.group(2))
    return DecodingReport(hypotheses, references, wer, sentences, seconds)
