"""``train.log``: what ``fairseq-hydra-train`` writes, read in one place (pure Python).

fairseq logs its whole config at start (``{..., 'optimization': {..., 'max_update': N``),
``train_inner`` statistics every ``log_interval`` updates and ``train`` statistics at each
epoch's end (json with ``common.log_format=json``, ``key=value`` pairs in the simple
format), one line per validation tagged with the subset's name, ``num. shared model params:
N``, ``done training`` at the end, and a Python traceback when it fails.

:func:`read_training_log` gives all of it; :func:`updates_in_log_line` reads one line (the
progress of a running training); :func:`update_times` the time of each logged update (the
recipes' calibration of the GPU-hours). The table builder (:mod:`.runs`), the recipes' runner,
the demo and the CA sweep read training logs only through these.
"""

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Dict, List, Optional, Tuple

_TAGGED = re.compile(r"\]\[([^\]]+)\]\[INFO\] - \{")
_UPDATES = re.compile(r"num_updates\"?\s*[:=]?\s*\"?(\d+)")
_STOPPED = re.compile(r"max_update\"?\s*[:=]\s*\"?(\d+)")
_LOGGED_MAX_UPDATE = re.compile(r"'optimization': \{[^}]*?'max_update': (\d+)")
_PARAMETERS = re.compile(r"num\. shared model params: ([\d,]+)")
DONE = "done training"


def updates_in_log_line(line: str) -> Optional[int]:
    """The update count a json log line reports (``train_inner``: ``num_updates``; the end
    of an epoch, ``train``: ``train_num_updates``), or None (another line, or one still being
    written)."""
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


_TIMESTAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\]")


def update_times(log_path: Path) -> List[Tuple[int, float]]:
    """``(num_updates, seconds)`` of each ``train_inner`` line of the log's last training, the
    seconds read from the line's timestamp (Hydra's format, in milliseconds; fairseq's own
    ``wall`` field is rounded to whole seconds). A training that started again from update 0
    (a calibration run resumed without a checkpoint) replaces what came before."""
    times: List[Tuple[int, float]] = []
    for line in Path(log_path).read_text(encoding="utf-8", errors="replace").splitlines():
        stamp = _TIMESTAMP.match(line)
        if stamp is None or "][train_inner][" not in line:
            continue
        updates = updates_in_log_line(line)
        if updates is None:
            continue
        if times and updates <= times[-1][0]:
            times = []
        moment = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S").timestamp() + int(stamp.group(2)) / 1000
        times.append((updates, moment))
    return times


@dataclass
class TrainingReport:
    """What a training log says."""

    num_updates: int  # the highest update count logged (0 when none)
    parameters: int  # fairseq's "num. shared model params" (0 when not logged)
    train_losses: List[float]  # the total loss of each train_inner json line
    valid: List[Dict[str, float]]  # one dict per validation, without the subset prefix (loss, wer, ...)
    done: bool = False  # "done training" was logged
    logged_max_update: Optional[int] = None  # the last max_update logged (config at start, or the stop line)
    failure: Optional[str] = None  # the last line of a traceback after the last progress, if any
    updates_seen: bool = False  # any update count at all
    notes: List[str] = field(default_factory=list)


def read_training_log(log_path: Path) -> TrainingReport:
    """Everything :class:`TrainingReport` holds, from a log in json or simple format."""
    text = Path(log_path).read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    parameters = _PARAMETERS.search(text)
    losses: List[float] = []
    valid: List[Dict[str, float]] = []
    num_updates, updates_seen, done, last_progress_line = 0, False, False, -1
    stopped_at: Optional[int] = None
    for number, line in enumerate(lines):
        for match in _UPDATES.finditer(line):
            num_updates = max(num_updates, int(match.group(1)))
            updates_seen = True
            last_progress_line = number
        if "Stopping training due to num_updates" in line:
            stopped = _STOPPED.search(line)
            if stopped:
                stopped_at = int(stopped.group(1))
        if DONE in line:
            done, last_progress_line = True, number
        tag = _TAGGED.search(line)
        if tag is None or not line.rstrip().endswith("}"):
            continue
        try:
            stats = json.loads(line[line.index("{"):])
        except json.JSONDecodeError:
            continue
        name = tag.group(1)
        if name == "train_inner" and "loss" in stats:
            losses.append(float(stats["loss"]))
        elif name not in ("train_inner", "train") and f"{name}_loss" in stats:  # a validation
            prefix = f"{name}_"
            valid.append({key[len(prefix):]: float(value) for key, value in stats.items() if key.startswith(prefix)})
    logged = _LOGGED_MAX_UPDATE.findall(text)
    logged_max_update = stopped_at if stopped_at is not None else (int(logged[-1]) if logged else None)
    failure = None
    for number in range(len(lines) - 1, last_progress_line, -1):
        if lines[number].startswith("Traceback (most recent call last)"):
            tail = [line.strip() for line in lines[number:] if line.strip()]
            failure = tail[-1] if tail else "Traceback"
            break
    return TrainingReport(
        num_updates=num_updates,
        parameters=int(parameters.group(1).replace(",", "")) if parameters else 0,
        train_losses=losses,
        valid=valid,
        done=done,
        logged_max_update=logged_max_update,
        failure=failure,
        updates_seen=updates_seen,
    )
