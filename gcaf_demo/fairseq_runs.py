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


@dataclass
class RunTimes:
    """How long a command ran: wall time (depends on what else the machine runs) and CPU
    time (user + system time of the command and its own children, less dependent on load)."""

    wall_seconds: float
    cpu_seconds: float


def format_duration(seconds: float) -> str:
    """``'42s'``, ``'3m05s'``, ``'1h02m'``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def progress_line(label: str, done: int, total: int, elapsed: float, seconds_per_step: Optional[float], unit: str) -> str:
    """``'{label}: 300/1500 updates (20%), 1m05s, ETA 4m20s'``: one line of progress."""
    percent = f" ({100 * done / total:.0f}%)" if total else ""
    eta = f", ETA {format_duration(seconds_per_step * max(0, total - done))}" if seconds_per_step is not None else ""
    return f"{label}: {done}/{total} {unit}{percent}, {format_duration(elapsed)}{eta}"


def updates_in_log_line(line: str) -> Optional[int]:
    """The update count a ``fairseq-hydra-train`` json log line reports (``train_inner``:
    ``num_updates``; the end of an epoch, ``train``: ``train_num_updates``), or None."""
    tag = re.search(r"\]\[(train_inner|train)\]\[INFO\] - \{", line)
    if tag is None:
        return None
    try:
        stats = json.loads(line[line.index("{"):])
    except json.JSONDecodeError:
        return None
    value = stats.get("num_updates" if tag.group(1) == "train_inner" else "train_num_updates")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@dataclass
class TrainingProgress:
    """Progress lines of a training that :func:`run_logged` prints while it runs: updates
    done out of ``total_updates`` and an ETA, at most one line per ``every_seconds``, read
    from fairseq's json log (``common.log_format=json``: ``train_inner`` every
    ``log_interval`` updates), plus a last line when the run ends."""

    label: str
    total_updates: int
    every_seconds: float = 15.0

    def __post_init__(self):
        self._offset = 0
        self._partial = ""
        self._first = None  # (time, updates) of the first update count seen
        self.updates = None  # the latest update count seen
        self._printed_at = None

    def _seconds_per_update(self, now: float, started: float) -> Optional[float]:
        if self.updates is None or self._first is None:
            return None
        first_time, first_updates = self._first
        if self.updates > first_updates:  # the rate since the first count: start-up excluded
            return (now - first_time) / (self.updates - first_updates)
        return (first_time - started) / first_updates if first_updates > 0 else None

    def follow(self, log_path: Path, started: float, final: bool = False) -> None:
        """Read what the log gained since the last call; print a line when one is due."""
        try:
            with open(log_path, encoding="utf-8", errors="replace") as log:
                log.seek(self._offset)
                text = log.read()
                self._offset = log.tell()
        except OSError:
            return
        lines = (self._partial + text).split("\n")
        self._partial = "" if final else lines.pop()
        now = time.perf_counter()
        for line in lines:
            updates = updates_in_log_line(line)
            if updates is not None:
                self.updates = max(updates, self.updates or 0)
                if self._first is None:
                    self._first = (now, updates)
        due = self._printed_at is None or now - self._printed_at >= self.every_seconds
        if self.updates is not None and (final or due):
            self._printed_at = now
            rate = None if final else self._seconds_per_update(now, started)
            print(progress_line(self.label, self.updates, self.total_updates, now - started, rate, "updates"), flush=True)


def run_logged(
    command: List[str],
    log_path: Path,
    env: Optional[Dict[str, str]] = None,
    progress: Optional[TrainingProgress] = None,
    poll_seconds: float = 1.0,
    append: bool = False,
) -> RunTimes:
    """Run ``command`` with its output in ``log_path`` (``append``: after what the log already
    holds, e.g. a training that resumes); return its wall and CPU time. With ``progress``,
    follow the log while it runs and print progress lines. A failure raises with the end of
    the log."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # One thread per process: on a 2-core machine two torch processes with default threading
    # slow each other down by an order of magnitude, and one thread is as fast for tiny models.
    full_env = {"OMP_NUM_THREADS": "1", **os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    start = time.perf_counter()
    with open(log_path, "a" if append else "w") as log:
        log.write(" ".join(command) + "\n")
        log.flush()
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=full_env)
        try:
            pause = 0.05  # short commands return quickly; long ones are polled every poll_seconds
            while True:
                # wait4: this child's own CPU time, also while other runs go on side by side.
                pid, status, usage = os.wait4(child.pid, os.WNOHANG)
                if pid:
                    child.returncode = os.waitstatus_to_exitcode(status)
                    break
                time.sleep(pause)
                pause = min(2 * pause, poll_seconds)
                if progress is not None:
                    progress.follow(log_path, start)
        except BaseException:  # interrupted: do not leave fairseq running on its own
            child.kill()
            child.wait()
            raise
    seconds = time.perf_counter() - start
    cpu_seconds = usage.ru_utime + usage.ru_stime
    if progress is not None:
        progress.follow(log_path, start, final=True)
    if child.returncode != 0:
        tail = "".join(Path(log_path).read_text().splitlines(keepends=True)[-40:])
        raise RuntimeError(f"{command[0]} failed (exit {child.returncode}); log {log_path}:\n{tail}")
    return RunTimes(wall_seconds=seconds, cpu_seconds=cpu_seconds)


def hydra_train(
    config_name: str,
    save_dir: Path,
    overrides: List[str],
    system: Optional[str] = None,
    config_dir: Optional[Path] = None,
    progress: Optional[TrainingProgress] = None,
    env: Optional[Dict[str, str]] = None,
) -> RunTimes:
    """``fairseq-hydra-train`` with this plugin; checkpoints, hydra files and
    ``train.log`` go to ``save_dir``. Returns the wall and CPU time; ``progress`` and
    ``env``: see :func:`run_logged`."""
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
    # Appended: a resumed training keeps the log of what it resumes from.
    return run_logged(command + list(overrides), save_dir / "train.log", env=env, progress=progress, append=True)


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
) -> RunTimes:
    """``fairseq-generate`` with the task ``audio_context_finetuning``; writes
    ``generate-{subset}.txt`` and the id-ordered ``{subset}.ids/.hyp.wrd/.ref.wrd/.wer.json``
    to ``results_dir``. Returns the wall and CPU time."""
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
