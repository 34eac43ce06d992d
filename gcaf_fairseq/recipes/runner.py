"""The one runner of the recipes' steps: every stage goes through it (pure Python).

A :class:`Step` is a command line (or an in-process action) with the files it makes
(``outputs``), the files and folders it reads (``inputs``) and its ``settings`` (the command
line itself, the overrides, anything else that decides the outputs). When a step finishes,
the runner writes its **record** (``OUT/.recipe/records/<step>.json``): the fingerprints of
its inputs (:mod:`.fingerprints`: content for text, stores, configs and model weights; size
and time for audio), its settings, and the fingerprints of its outputs.

A step is **done** only when its record says it finished, its settings and its inputs'
fingerprints are those of now, its outputs are still what it made (none missing, none
truncated or edited since), and its own ``check`` (a finished training, a readable store)
passes. Otherwise it runs again, after the runner has said why (``settings:
optimization.max_update=12 -> 20``, ``LibriSpeech/dev-clean/84/121123: 84-121123.trans.txt``)
and discarded what the old outputs were made from. Since a step's inputs are its upstream
steps' outputs, a change anywhere is redone downstream, and nowhere else.

A step that was started with the same settings and inputs but not finished (a killed
training) keeps its outputs: fairseq-hydra-train resumes from ``checkpoint_last.pt``, the
generation tool from its file. Steps that share a ``batch`` tool run in one process
(:mod:`.batch`: the tool's start-up once), steps of one ``group`` side by side (shards), and
training steps ``parallel`` at a time; each training prints its progress (run k of N,
updates done of the total, an ETA) at most every 15 s, each decoding its subsets.
"""

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..data.atomic_files import write_text_atomically
from .fingerprints import HashCache, describe_changes, describe_settings, fingerprint, fingerprints
from .processes import LineProgress, ProcessFailed, TrainingProgress, run_logged

RECORDS = Path(".recipe") / "records"
HASH_CACHE = Path(".recipe") / "sha256-cache.json"


class RecipeError(RuntimeError):
    """A step of the recipe failed; the message names it and its log."""


@dataclass
class Step:
    """One step of a stage: a command line (``argv``) or an in-process ``action`` (described
    by ``text``), the files it makes and what it is made from.

    ``inputs``: paths whose content the outputs depend on (``(path, "manifest-audio")`` for
    the audio a manifest lists); ``settings``: everything else that decides the outputs
    (``argv`` and ``env`` are added). ``check``: an integrity check of the outputs beyond
    their fingerprints (returns a problem or None). ``discard``: removes the outputs before a
    redo when they were made from something else (default: delete the output files).
    ``progress``: ``("updates", N)`` for a training (its log followed), ``("subsets", N)``
    for a decoding. ``batch``: the :mod:`.batch` tool that runs this step's ``argv`` (minus
    the tool's own prefix) together with the other steps of that tool in its stage."""

    stage: int
    argv: Optional[List[str]]
    outputs: List[Path] = field(default_factory=list)
    inputs: List[Any] = field(default_factory=list)  # Path or (Path, kind)
    settings: Dict[str, Any] = field(default_factory=dict)
    text: Optional[str] = None
    stdout: Optional[Path] = None  # the command's stdout goes to this file (written atomically)
    log: Optional[Path] = None  # stdout and stderr appended to this file
    action: Optional[Callable[[], None]] = None
    before: Optional[Callable[[], None]] = None
    after: Optional[Callable[[float], None]] = None  # given the command's wall seconds
    check: Optional[Callable[[], Optional[str]]] = None
    discard: Optional[Callable[["Changes"], None]] = None
    group: Optional[str] = None  # consecutive steps of one group run at once (shards)
    env: Dict[str, str] = field(default_factory=dict)
    progress: Optional[Tuple[str, int]] = None
    progress_log: Optional[Path] = None  # the log to follow when it is not ``log`` (SLURM: train.log)
    batch: Optional[str] = None
    name: Optional[str] = None  # a short label for progress lines (default: the first output's folder)
    key_paths: Optional[List[Path]] = None  # what identifies the step (default: its outputs)

    def shell(self) -> str:
        if self.argv is None:
            return f"# {self.text}"
        line = shlex.join(self.argv)
        if self.env:
            line = " ".join(f"{key}={shlex.quote(value)}" for key, value in self.env.items()) + " " + line
        if self.stdout is not None:
            line += f" > {shlex.quote(str(self.stdout))}"
        if self.log is not None:
            line += f" >> {shlex.quote(str(self.log))} 2>&1"
        return line

    def key(self) -> str:
        """The step's identity: what it makes (not how), so that a record survives a change of
        settings and the change can be named."""
        paths = self.key_paths if self.key_paths is not None else self.outputs
        identity = json.dumps([self.stage, sorted(str(path) for path in paths) or [self.shell()]])
        return hashlib.sha1(identity.encode()).hexdigest()

    def all_settings(self) -> Dict[str, Any]:
        settings = dict(self.settings)
        settings["argv"] = list(self.argv) if self.argv is not None else [self.text]
        if self.env:
            settings["env"] = dict(self.env)
        return settings

    def input_specs(self) -> List[Tuple[Path, str]]:
        specs = []
        for item in self.inputs:
            path, kind = (item if isinstance(item, tuple) else (item, "auto"))
            specs.append((Path(path), kind))
        return list(dict.fromkeys(specs))

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return self.outputs[0].parent.name if self.outputs else (self.text or "step")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@dataclass
class Changes:
    """Why a step's old outputs are discarded: its settings changed (or there is no record),
    these inputs changed, or its finished outputs went missing or changed."""

    settings: bool
    inputs: set
    outputs: bool


def remove_outputs(step: Step) -> Callable[[Changes], None]:
    """The default discard: delete every output file or folder."""
    def discard(changes: Changes) -> None:
        for path in step.outputs:
            _remove(path)
    return discard


class Runner:
    """Runs (or, with ``dry_run``, prints) steps; skips done ones; logs to ``OUT/recipe.log``."""

    def __init__(self, out: Path, dry_run: bool = False, parallel: int = 1, stream=None, progress_seconds: float = 15.0,
                 prefix: Optional[str] = None):
        self.out = Path(out)
        self.prefix = prefix  # instead of "[stage N]" before each line (the demo's "[demo]")
        self.dry_run = dry_run
        self.parallel = parallel
        self.stream = stream or sys.stdout
        self.progress_seconds = progress_seconds
        self.records = self.out / RECORDS
        self.log_path = self.out / "recipe.log"
        self.cache = HashCache(None if dry_run else self.out / HASH_CACHE)
        self._lock = threading.Lock()
        self.ran: List[str] = []
        self.skipped: List[str] = []

    # ------------------------------------------------------------ output
    def say(self, line: str, log: bool = True) -> None:
        with self._lock:
            print(line, file=self.stream, flush=True)
            if log and not self.dry_run:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.log_path, "a", encoding="utf-8") as handle:
                    handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    # ------------------------------------------------------------ records
    def record_path(self, step: Step) -> Path:
        return self.records / f"{step.key()}.json"

    def read_record(self, step: Step) -> Optional[Dict[str, Any]]:
        path = self.record_path(step)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # a damaged record proves nothing: the step is redone
        return record if isinstance(record, dict) else None

    def _write_record(self, step: Step, record: Dict[str, Any]) -> None:
        write_text_atomically(self.record_path(step), json.dumps(record, indent=1, sort_keys=True) + "\n")

    def state(self, step: Step) -> Tuple[Optional[str], List[str], Dict[str, Any]]:
        """(why the step is done, or None; why it must run; its current settings and inputs)."""
        current = {"settings": step.all_settings(), "inputs": fingerprints(step.input_specs(), self.cache)}
        record = self.read_record(step)
        if record is None:
            exists = [path for path in step.outputs if path.exists()]
            return None, ["no record of how its outputs were made" if exists else "not made yet"], current
        reasons = [f"settings changed: {line}" for line in describe_settings(record.get("settings", {}),
                                                                             current["settings"])]
        reasons += [f"input changed: {line}" for line in describe_changes(record.get("inputs", {}), current["inputs"])]
        if reasons:
            return None, reasons, current
        if not record.get("finished"):
            return None, ["started earlier and not finished: resumed"], current
        for path in step.outputs:
            made = record.get("outputs", {}).get(str(path))
            now = fingerprint(path, self.cache)
            if now == "missing":
                reasons.append(f"output {path} is missing")
            elif made is not None and now != made:
                reasons.append(f"output {path} changed since it was made (truncated or edited?)")
        if not reasons and step.check is not None:
            problem = step.check()
            if problem:
                reasons.append(problem)
        if reasons:
            return None, reasons, current
        return f"made from the same inputs with the same settings, finished {record.get('finished')}", [], current

    def _tag(self, step: Step) -> str:
        return self.prefix if self.prefix is not None else f"[stage {step.stage}]"

    def times(self, step: Step) -> Optional[Tuple[float, Optional[float]]]:
        """(wall seconds, CPU seconds) of the step's finished run, from its record."""
        record = self.read_record(step)
        if not record or not record.get("finished"):
            return None
        return record.get("wall_seconds", 0.0), record.get("cpu_seconds")

    def run(self, step: Step) -> bool:
        """Run one step unless it is done (no stage header); True when it ran."""
        done, reasons, current = self.state(step)
        if done is not None:
            self.say(f"{self._tag(step)} skip (done): {step.shell()}")
            self.skipped.append(step.shell())
            self.cache.save()
            return False
        self._run_one(step, reasons, current)
        self.cache.save()
        return True

    # ------------------------------------------------------------ running
    def run_stage(self, stage: int, steps: Sequence[Step], parallel: int = 1, name: Optional[str] = None) -> None:
        if name is None:
            from .stages import STAGES

            name = STAGES[stage].NAME
        self.say(f"# stage {stage}: {name} ({len(steps)} step(s))", log=not self.dry_run)
        if self.dry_run:
            for step in steps:
                self.say(step.shell(), log=False)
            return
        # What each step is made from is read before the stage runs, and again, just before it
        # runs, for a step that reads what an earlier step of this stage made (a store checked
        # after it is embedded, shards merged after they are generated): its record must hold
        # what it was made from, and a redone input must redo it.
        states = {id(step): self.state(step) for step in steps}
        self.cache.save()
        numbered = [step for step in steps if step.progress is not None and states[id(step)][0] is None]
        numbers = {id(step): number for number, step in enumerate(numbered, 1)}
        made: List[Path] = []
        for batch in self._batches(steps, states, parallel):
            items: List[Tuple[Step, List[str], Dict[str, Any]]] = []
            for step in batch:
                done, reasons, current = states[id(step)]
                if made and _reads_any(step, made):
                    done, reasons, current = self.state(step)
                if done is not None:
                    self.say(f"{self._tag(step)} skip (done): {step.shell()}")
                    self.say(f"{self._tag(step)}   {done}", log=False)
                    self.skipped.append(step.shell())
                else:
                    items.append((step, reasons, current))
            if not items:
                continue
            if items[0][0].batch is not None:
                self._run_batch(items)
            elif len(items) == 1:
                self._run_one(*items[0], number=numbers.get(id(items[0][0])), total=len(numbered))
            else:
                with ThreadPoolExecutor(max_workers=len(items)) as pool:
                    futures = [pool.submit(self._run_one, *item, number=numbers.get(id(item[0])), total=len(numbered))
                               for item in items]
                    for future in futures:
                        future.result()
            made += [path for step, _, _ in items for path in step.outputs]
        self.cache.save()

    @staticmethod
    def _batches(steps: Sequence[Step], states: Dict[int, Tuple], parallel: int) -> List[List[Step]]:
        """The stage's steps in the groups that run together: consecutive steps of one batch
        tool (and log), or of one group (shards); with ``parallel`` > 1, up to that many
        consecutive plain steps that are to run (trainings) side by side."""
        batches: List[List[Step]] = []
        for step in steps:
            first = batches[-1][0] if batches else None
            if first is None:
                batches.append([step])
                continue
            plain = step.batch is None and step.group is None and first.batch is None and first.group is None
            together = ((step.batch is not None and (step.batch, step.log) == (first.batch, first.log))
                        or (step.group is not None and step.group == first.group)
                        or (parallel > 1 and plain and len(batches[-1]) < parallel
                            and states[id(step)][0] is None and states[id(first)][0] is None))
            if together:
                batches[-1].append(step)
            else:
                batches.append([step])
        return batches

    def _prepare(self, step: Step, reasons: List[str], current: Dict[str, Any]) -> None:
        """Say why the step runs, discard what was made from something else, record the start."""
        self.say(f"{self._tag(step)} run: {step.shell()}")
        self.say(f"{self._tag(step)}   why: {'; '.join(reasons)}")
        self.ran.append(step.shell())
        record = self.read_record(step)
        if record is None or record.get("finished") or record.get("settings") != current["settings"] \
                or record.get("inputs") != current["inputs"]:
            # made from other inputs or settings, or damaged since: nothing of it may be reused
            # (a step's discard may keep what it can redo in part, e.g. a generation file)
            changes = Changes(
                settings=record is None or record.get("settings") != current["settings"],
                inputs={key for key in set((record or {}).get("inputs", {})) | set(current["inputs"])
                        if (record or {}).get("inputs", {}).get(key) != current["inputs"].get(key)},
                outputs=bool(record and record.get("finished")))
            (step.discard or remove_outputs(step))(changes)
        self.record_path(step).unlink(missing_ok=True)
        self._write_record(step, {**current, "started": time.strftime("%Y-%m-%d %H:%M:%S")})
        if step.before is not None:
            step.before()

    def _finish(self, step: Step, current: Dict[str, Any], seconds: float, cpu_seconds: Optional[float]) -> None:
        missing = [str(path) for path in step.outputs if not path.exists()]
        if missing:
            raise RecipeError(f"stage {step.stage}: {step.argv[0] if step.argv else step.text} finished without "
                              f"writing {', '.join(missing)}: {step.shell()}")
        if step.check is not None:
            problem = step.check()
            if problem:
                raise RecipeError(f"stage {step.stage}: {problem}: {step.shell()}")
        outputs = {str(path): fingerprint(path, self.cache) for path in step.outputs}
        record = {**current, "outputs": outputs, "started": (self.read_record(step) or {}).get("started"),
                  "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "wall_seconds": round(seconds, 3)}
        if cpu_seconds is not None:
            record["cpu_seconds"] = round(cpu_seconds, 3)
        self._write_record(step, record)

    def _run_one(self, step: Step, reasons: List[str], current: Dict[str, Any], number: Optional[int] = None,
                 total: int = 0) -> None:
        self._prepare(step, reasons, current)
        started = time.perf_counter()
        cpu_seconds = None
        if step.argv is None:
            step.action()
        else:
            cpu_seconds = self._execute(step, number, total)
        seconds = time.perf_counter() - started
        if step.after is not None:
            step.after(seconds)
        self._finish(step, current, seconds, cpu_seconds)

    def _progress(self, step: Step, number: Optional[int], total: int):
        if step.progress is None:
            return None
        unit, count = step.progress
        label = f"{self._tag(step)} {number} of {total}: {step.label}" if number else f"{self._tag(step)} {step.label}"
        if unit == "updates":
            return TrainingProgress(label, count, every_seconds=self.progress_seconds)
        return LineProgress(label, count, r"^decoded (\S+):", unit)

    def _execute(self, step: Step, number: Optional[int] = None, total: int = 0) -> Optional[float]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **step.env}
        if step.log is not None:
            progress = self._progress(step, number, total)
            try:
                times = run_logged(step.argv, step.log, env=env, progress=progress, append=True,
                                   progress_log=step.progress_log)
            except ProcessFailed as error:
                raise RecipeError(f"stage {step.stage}: exit {error.returncode}: {step.shell()}\n"
                                  f"end of {error.log_path}:\n{error.tail}") from None
            return times.cpu_seconds
        result = subprocess.run(step.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        if result.returncode != 0:
            raise RecipeError(f"stage {step.stage}: exit {result.returncode}: {step.shell()}\n{result.stderr[-4000:]}")
        if step.stdout is not None:
            write_text_atomically(step.stdout, result.stdout)
        return None

    def _run_batch(self, batch: List[Tuple[Step, List[str], Dict[str, Any]]]) -> None:
        """Steps of one :mod:`.batch` tool in one process; a record for each once all finished."""
        tool = batch[0][0].batch
        for step, reasons, current in batch:
            self._prepare(step, reasons, current)
        argv = [sys.executable, "-m", "gcaf_fairseq.recipes.batch", tool]
        for step, _, _ in batch:
            argv += ["--job", shlex.join(step.argv[len(batch_prefix(tool)):])]
        log = batch[0][0].log or batch[0][0].outputs[0].parent / f"{tool}.log"
        started = time.perf_counter()
        try:
            times = run_logged(argv, log, env={**os.environ, "PYTHONUNBUFFERED": "1"}, append=True)
        except ProcessFailed as error:
            raise RecipeError(f"stage {batch[0][0].stage}: exit {error.returncode}: {shlex.join(argv)}\n"
                              f"end of {error.log_path}:\n{error.tail}") from None
        seconds = time.perf_counter() - started
        for step, _, current in batch:
            if step.after is not None:
                step.after(seconds)
            self._finish(step, current, seconds / len(batch), times.cpu_seconds / len(batch))


def _reads_any(step: Step, made: List[Path]) -> bool:
    """Whether one of ``step``'s inputs is, holds or lies in one of the paths ``made``."""
    for path, _ in step.input_specs():
        for output in made:
            if path == output or output.is_relative_to(path) or path.is_relative_to(output):
                return True
    return False


def batch_prefix(tool: str) -> List[str]:
    """The argv prefix of a :mod:`gcaf_fairseq.cli` tool run with this interpreter."""
    return [sys.executable, "-m", f"gcaf_fairseq.cli.{tool}"]
