"""``--calibrate``: measure the seconds per update of each config on this machine, for the
GPU-hour estimate (:mod:`.estimate`). Pure Python; the trainings go through the runner.

For each config of the plan and each cost class (:func:`.estimate.cost_class`: the runs
without audio context, represented by row A, and the audio-context rows of each window L,
represented by their first planned run), one short ``fairseq-hydra-train`` of the real config
on the prepared data and the real checkpoint, with this recipe's hardware settings (GPUs,
``update_freq``, precision, ``--`` overrides): ``2 N`` updates, the first ``N`` with the encoder
frozen (``model.freeze_finetune_updates=N``), no validation, no checkpoint, an update logged
each time. The seconds per update of each phase are read from the log's timestamps, leaving
out the first quarter of each phase (start-up, the first batches, the unfreezing)::

    OUT/calibration/{config}-{class}/train.log, measured.json
    OUT/calibration.json   every entry, the hardware and the device it was measured on
"""

import json
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..data.atomic_files import write_text_atomically
from ..resources import PLUGIN_DIR, config_dir
from ..tables.train_log import update_times
from .. import systems
from .estimate import CALIBRATION_FILE, cost_class, hardware_of
from .plan import PlannedRun
from .processes import hydra_train_command
from .runner import Step
from .stages.common import empty_folder
from .stages.s4_train import slurm_launcher, train_overrides, training_inputs

NUMBER = 4  # trainings: their lines say [stage 4]
NAME = "calibrate"


def representative_runs(recipe) -> Dict[Tuple[str, str], PlannedRun]:
    """(config, cost class) -> the run whose updates are timed: row A for ``plain`` (no store to
    embed first), the first planned audio-context run (its window) for ``audio-L``."""
    chosen: Dict[Tuple[str, str], PlannedRun] = {}
    for run in recipe.trained_runs():
        key = (run.config_name, cost_class(run))
        if key in chosen:
            continue
        if key[1] == "plain":
            run = PlannedRun(run.dataset, run.task, run.split, "A", tuple(sorted(systems.get("A").defaults.items())), 1)
        chosen[key] = run
    return chosen


def calibration_overrides(updates: int) -> List[str]:
    """The settings of a calibration run, after the run's own: ``updates`` frozen then
    ``updates`` unfrozen, every update logged, neither validation nor checkpoints."""
    return [f"model.freeze_finetune_updates={updates}", f"optimization.max_update={2 * updates}",
            "common.log_interval=1", "common.log_format=json", "dataset.disable_validation=true",
            "checkpoint.no_save=true"]


def phase_seconds(log: Path, updates: int) -> Dict[str, float]:
    """Seconds per frozen and per unfrozen update from the log's update times, the first
    quarter of each phase left out; ``ValueError`` naming the log when updates are missing."""
    times = dict(update_times(log))
    skip = max(1, updates // 4)
    spans = {"frozen": (skip, updates), "unfrozen": (updates + skip, 2 * updates)}
    missing = [count for first, last in spans.values() for count in (first, last) if count not in times]
    if missing:
        raise ValueError(f"{log}: no train_inner line for update(s) {missing}; the calibration run did not log "
                         "every update (common.log_interval=1) or stopped early")
    return {phase: (times[last] - times[first]) / (last - first) for phase, (first, last) in spans.items()}


def device_of(log: Path) -> str:
    """The GPU fairseq reports in its CUDA environment lines (``name = NVIDIA H200``), or CPU."""
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if "capabilities =" in line and "name =" in line:
            return line.rsplit("name =", 1)[1].strip()
    return "CPU"


def steps(recipe) -> List[Step]:
    """One timed training per (config, cost class), then ``OUT/calibration.json``."""
    updates = recipe.options.calibration_updates
    folder_of = {key: recipe.options.out / "calibration" / f"{key[0]}-{key[1]}" for key in representative_runs(recipe)}
    result = []
    for key, run in representative_runs(recipe).items():
        folder = folder_of[key]
        overrides = train_overrides(recipe, run) + calibration_overrides(updates)
        launcher = slurm_launcher(recipe, folder) if recipe.options.slurm else None
        argv = hydra_train_command(config_dir() / "finetuning", run.config_name, folder, PLUGIN_DIR, overrides, launcher)
        result.append(Step(
            NUMBER, argv, [folder / "measured.json"], inputs=training_inputs(recipe, run),
            log=folder / ("submit.log" if recipe.options.slurm else "train.log"),
            progress_log=folder / "train.log" if recipe.options.slurm else None,
            after=_write_measured(recipe, key, run, folder, updates), discard=empty_folder(folder),
            progress=("updates", 2 * updates), name=f"calibrate {key[0]} {key[1]}", key_paths=[folder]))
    measured = [folder / "measured.json" for folder in folder_of.values()]
    result.append(Step(NUMBER, None, [recipe.options.out / CALIBRATION_FILE], inputs=measured,
                       settings={"hardware": hardware_of(recipe)},
                       text=f"write {recipe.options.out / CALIBRATION_FILE} from {len(measured)} calibration run(s)",
                       action=_write_calibration(recipe, measured)))
    return result


def _write_measured(recipe, key: Tuple[str, str], run: PlannedRun, folder: Path, updates: int):
    def write(seconds: float) -> None:
        log = folder / "train.log"
        scale = recipe.scale(run.config_name)
        phases = phase_seconds(log, updates)
        entry = {"config": key[0], "class": key[1], "system": run.system, "updates_per_phase": updates,
                 "frozen_seconds_per_update": round(phases["frozen"], 6),
                 "unfrozen_seconds_per_update": round(phases["unfrozen"], 6),
                 "world_size": scale.world_size, "update_freq": scale.update_freq, "device": device_of(log),
                 "log": str(log)}
        write_text_atomically(folder / "measured.json", json.dumps(entry, indent=2) + "\n")
    return write


def _write_calibration(recipe, measured: List[Path]):
    def write() -> None:
        entries = [json.loads(path.read_text(encoding="utf-8")) for path in measured]
        devices = list(dict.fromkeys(entry["device"] for entry in entries))
        gpus = recipe.gpus
        document = {"hardware": hardware_of(recipe),
                    "device": f"{max(1, gpus)} x {', '.join(devices)}" if gpus else ", ".join(devices),
                    "measured": time.strftime("%Y-%m-%d %H:%M"), "entries": entries}
        write_text_atomically(recipe.options.out / CALIBRATION_FILE, json.dumps(document, indent=2) + "\n")
    return write


def calibration_summary(recipe) -> Optional[List[str]]:
    """What the calibration measured, one line per entry (for the recipe's log), or None."""
    from .estimate import read_calibration

    calibration = read_calibration(recipe.options.out / CALIBRATION_FILE)
    if calibration is None:
        return None
    return [f"# calibrated {config} {cost}: {seconds['frozen']:.4f} s per frozen update, {seconds['unfrozen']:.4f} s "
            f"per unfrozen update on {calibration.device}" for (config, cost), seconds in calibration.entries.items()]
