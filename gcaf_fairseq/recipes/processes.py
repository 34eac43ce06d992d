"""Running fairseq's command-line tools: the one place a training (or decoding) process is
started, followed and timed (pure Python).

- :func:`run_logged`: runs a command with its output in a log, follows the log while it runs
  (:class:`TrainingProgress` for ``fairseq-hydra-train``'s json log, :class:`LineProgress`
  for a tool's own lines) and returns its wall and CPU time (``wait4``: the child's own, also
  while other runs go on side by side);
- :func:`hydra_train_command`: the ``fairseq-hydra-train`` command line of one training, with
  every path quoted for Hydra (:func:`hydra_quote`).

The recipes' runner (:mod:`.runner`), the demo and ``scripts/recipes/ca_sweep.py`` all train
through these; ``train.log`` is read by :mod:`gcaf_fairseq.tables.train_log`.
"""

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Protocol

from ..tables.train_log import updates_in_log_line
from .hydra_alias import alias_command, hydra_run_dir, needs_alias


def fairseq_command(name: str) -> str:
    """The console script ``name`` of the running interpreter's environment (or ``name``,
    found on PATH)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


class ProcessFailed(RuntimeError):
    """A command run by :func:`run_logged` failed: its exit status and the end of its log."""

    def __init__(self, command: List[str], returncode: int, log_path: Path, tail: str):
        super().__init__(f"{command[0]} failed (exit {returncode}); log {log_path}:\n{tail}")
        self.returncode = returncode
        self.log_path = log_path
        self.tail = tail


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


class Progress(Protocol):
    def follow(self, log_path: Path, started: float, final: bool = False) -> None:
        """Read what the log gained since the last call; print a line when one is due."""


class _LogFollower:
    """Reads the lines a growing log gained since the last call (a half-written last line
    waits for the next call)."""

    def __init__(self):
        self._offset = 0
        self._partial = ""

    def new_lines(self, log_path: Path, final: bool) -> List[str]:
        try:
            with open(log_path, encoding="utf-8", errors="replace") as log:
                log.seek(self._offset)
                text = log.read()
                self._offset = log.tell()
        except OSError:
            return []
        lines = (self._partial + text).split("\n")
        self._partial = "" if final else lines.pop()
        return lines


class TrainingProgress(_LogFollower):
    """Progress lines of a training: updates done out of ``total_updates`` and an ETA, at
    most one line per ``every_seconds``, read from fairseq's json log
    (``common.log_format=json``: ``train_inner`` every ``log_interval`` updates), plus a last
    line when the run ends."""

    def __init__(self, label: str, total_updates: int, every_seconds: float = 15.0):
        super().__init__()
        self.label = label
        self.total_updates = total_updates
        self.every_seconds = every_seconds
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
        lines = self.new_lines(log_path, final)
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


class LineProgress(_LogFollower):
    """Progress of a tool that prints one line per finished item (``decoded SUBSET: ...``):
    ``{label}: k/N {unit} ({item}), elapsed, ETA``, one line per item matching ``pattern``
    (its first group names the item)."""

    def __init__(self, label: str, total: int, pattern: str, unit: str):
        super().__init__()
        self.label = label
        self.total = total
        self.pattern = re.compile(pattern)
        self.unit = unit
        self.done = 0

    def follow(self, log_path: Path, started: float, final: bool = False) -> None:
        for line in self.new_lines(log_path, final):
            match = self.pattern.search(line)
            if match is None:
                continue
            self.done += 1
            elapsed = time.perf_counter() - started
            rate = elapsed / self.done if self.done < self.total else None
            line = progress_line(self.label, self.done, self.total, elapsed, rate, self.unit)
            print(f"{line} [{match.group(1)}]" if match.groups() else line, flush=True)


def run_logged(
    command: List[str],
    log_path: Path,
    env: Optional[Dict[str, str]] = None,
    progress: Optional[Progress] = None,
    poll_seconds: float = 1.0,
    append: bool = False,
    progress_log: Optional[Path] = None,
) -> RunTimes:
    """Run ``command`` with its output in ``log_path`` (``append``: after what the log already
    holds, e.g. a training that resumes); return its wall and CPU time. With ``progress``,
    follow the log (or ``progress_log``, e.g. the train.log a SLURM job writes) while it
    runs. A failure raises :class:`ProcessFailed` (a ``RuntimeError``) with the end of the log."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # One thread per process unless the caller says otherwise: on a 2-core machine two torch
    # processes with default threading slow each other down by an order of magnitude.
    full_env = {"OMP_NUM_THREADS": "1", **os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    followed = progress_log or log_path
    start = time.perf_counter()
    with open(log_path, "a" if append else "w", encoding="utf-8") as log:
        log.write(" ".join(command) + "\n")
        log.flush()
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=full_env)
        try:
            pause = 0.05  # short commands return quickly; long ones are polled every poll_seconds
            while True:
                pid, status, usage = os.wait4(child.pid, os.WNOHANG)
                if pid:
                    child.returncode = os.waitstatus_to_exitcode(status)
                    break
                time.sleep(pause)
                pause = min(2 * pause, poll_seconds)
                if progress is not None:
                    progress.follow(followed, start)
        except BaseException:  # interrupted: do not leave fairseq running on its own
            child.kill()
            child.wait()
            raise
    seconds = time.perf_counter() - start
    cpu_seconds = usage.ru_utime + usage.ru_stime
    if progress is not None:
        progress.follow(followed, start, final=True)
    if child.returncode != 0:
        tail = "".join(Path(log_path).read_text(errors="replace").splitlines(keepends=True)[-40:])
        raise ProcessFailed(command, child.returncode, log_path, tail)
    return RunTimes(wall_seconds=seconds, cpu_seconds=cpu_seconds)


# ---------------------------------------------------------------- Hydra command lines


def hydra_quote(value, resolutions: int = 2) -> str:
    r"""``value`` as a quoted Hydra override value that arrives in the config unchanged,
    whatever a path holds (an apostrophe, spaces, ``$``, ``${...}``, non-ASCII).

    Hydra's grammar reads a single-quoted string with ``\'`` for a quote. OmegaConf then
    resolves ``${...}`` as an interpolation, once per ``resolutions``: twice for a fairseq
    setting (Hydra composes the config; fairseq-hydra-train resolves it into a new config,
    which resolves again when read), once for Hydra's own ``hydra.*`` settings. ``${`` is
    escaped for each: ``\${`` reads as a literal ``${``, ``\\\${`` as ``\${``."""
    text = backslashes_before_quotes(str(value)).replace("'", "\\'")
    return "'" + escape_interpolations(text, resolutions) + "'"


def backslashes_before_quotes(text: str) -> str:
    """``text`` with the backslashes right before a quote, or at the end (before the closing
    quote), doubled: Hydra's grammar reads ``\\'`` as an escaped quote."""
    return re.sub(r"(\\+)(?='|$)", lambda match: match.group(1) * 2, text)


def escape_interpolations(text: str, resolutions: int = 2) -> str:
    r"""``text`` with every ``${`` escaped so that it reads as a literal ``${`` after OmegaConf
    resolved it ``resolutions`` times (``\${`` for one, ``\\\${`` for two); backslashes right
    before it are part of what is escaped (OmegaConf reads ``\\${`` as a backslash and an
    interpolation)."""
    def escape(match: "re.Match") -> str:
        literal = match.group(0)
        for _ in range(resolutions):
            literal = _escape_once(literal)
        return literal

    return re.sub(r"\\*\$\{", escape, str(text))


def _escape_once(literal: str) -> str:
    r"""OmegaConf's spelling of ``literal`` (k backslashes and ``${``): each backslash doubled,
    then ``\${``."""
    backslashes = literal[: len(literal) - 2]
    return backslashes * 2 + "\\${"


_PLAIN_PATH = re.compile(r"[A-Za-z0-9_./@%+-]*/[A-Za-z0-9_./@%+-]*")


def hydra_path(key: str, value) -> str:
    """``key=value`` for a path (or a path template such as ``/d/{split}.cls``): as it is when
    it holds only characters Hydra reads as a plain string (letters, digits, ``/._-+@%``),
    else quoted (:func:`hydra_quote`; Hydra's own ``hydra.*`` keys are resolved once,
    fairseq's twice)."""
    text = str(value)
    if _PLAIN_PATH.fullmatch(text):
        return f"{key}={text}"
    return f"{key}={hydra_quote(text, 1 if key.startswith('hydra.') else 2)}"


def hydra_data(data_dir) -> List[str]:
    """The overrides that give a training its data folder, ``task.data`` (quoted by
    :func:`hydra_path`). fairseq reads ``task.data`` as a list of folders joined by ``:``
    (``os.pathsep``) in one check only, that no ``valid*N`` subset is left unused; a folder
    whose path holds ``:`` (``${oc.env:HOME}``, a time of day) turns that check off, since it
    would look into folders that do not exist."""
    overrides = [hydra_path("task.data", data_dir)]
    if os.pathsep in str(data_dir):
        overrides.append("dataset.ignore_unused_valid_subsets=true")
    return overrides


def hydra_train_command(config_dir: Path, config_name: str, save_dir: Path, plugin_dir: Optional[Path],
                        overrides: List[str], launcher: Optional[List[str]] = None) -> List[str]:
    """The ``fairseq-hydra-train`` command of one training into ``save_dir`` (checkpoints,
    Hydra's files and, through the caller's log, ``train.log``): the config, the plugin (none
    for fairseq's own models: the demo's wav2vec2 pretraining), the save folder, then ``overrides``. ``launcher`` (the launcher's overrides, e.g. SLURM's)
    replaces ``hydra.run.dir``: a ``--multirun``, the flag before every override (Hydra's
    parser reads the overrides as one run of positional arguments).

    A ``save_dir`` whose path holds ``${`` gets Hydra a run folder without it (a link made
    just before the training starts: :mod:`.hydra_alias`), since Hydra resolves its own run
    folder as an interpolation however it is quoted; a launcher cannot have one."""
    command = [fairseq_command("fairseq-hydra-train")] + (["--multirun"] if launcher is not None else [])
    command += ["--config-dir", str(config_dir), "--config-name", config_name]
    if plugin_dir is not None:
        command.append(hydra_path("common.user_dir", plugin_dir))
    command.append(hydra_path("checkpoint.save_dir", save_dir))
    if launcher is not None:
        if needs_alias(save_dir):
            raise ValueError(f"{save_dir}: a folder whose path holds '${{' cannot be a Hydra launcher's sweep folder "
                             "(Hydra resolves it as an interpolation on the job's machine): choose an --out without '${'")
        return command + list(launcher) + list(overrides)
    command.append(hydra_path("hydra.run.dir", hydra_run_dir(save_dir)))
    return alias_command(save_dir, command + list(overrides))


def hydra_train(config_name: str, save_dir: Path, overrides: List[str], system: Optional[str] = None,
                config_dir: Optional[Path] = None, progress: Optional[Progress] = None,
                env: Optional[Dict[str, str]] = None) -> RunTimes:
    """One ``fairseq-hydra-train`` run of ``config/finetuning/{config_name}.yaml`` (or of
    ``config_dir``) into ``save_dir``, its output appended to ``save_dir/train.log`` (a
    resumed training keeps the log of what it resumes from); ``system`` adds
    ``+system=NAME``. Returns the wall and CPU time. No skip, no record: the recipes' and the
    demo's trainings go through :class:`gcaf_fairseq.recipes.runner.Runner`, which adds them."""
    from ..resources import PLUGIN_DIR, config_dir as configs

    save_dir = Path(save_dir)
    extra = [f"+system={system}"] if system is not None else []
    command = hydra_train_command(config_dir or configs() / "finetuning", config_name, save_dir, PLUGIN_DIR,
                                  extra + list(overrides))
    return run_logged(command, save_dir / "train.log", env=env, progress=progress, append=True)
