"""The GPU-hours of a recipe's training runs, per table, and where the step time comes from
(pure Python).

A run costs ``frozen updates x s_frozen + unfrozen updates x s_unfrozen`` GPU-seconds, its
updates being this recipe's (``max_update``, ``freeze_finetune_updates``, ``--`` overrides
and ``--smoke`` included). The seconds per update come from one of two sources, always named:

- **measured**: ``OUT/calibration.json`` (``--calibrate``, :mod:`.calibrate`): a few dozen real
  updates of each config on this machine's GPUs, data and checkpoint, one frozen and one
  unfrozen phase, for the runs without audio context (A, C, D, E: their context heads are a
  fraction of a percent of the compute) and apart for the audio-context rows (B, (b): L
  encodings per utterance). Wall seconds per update x the GPUs of a run.
- **assumed**: ``S`` GPU-seconds per 3.2M-sample batch, forward and backward (``--gpu-seconds``;
  default 2.5 from a fairseq user's report, facebookresearch/fairseq#4002, not measured here),
  times the samples an update really sees (the effective batch, or the whole epoch when the
  epoch is smaller: Libri-light's 10 min are 9.6M samples, less than its 25.6M batch), times L
  for the audio-context rows, times :data:`FROZEN_FRACTION` for a frozen update (its encoder
  runs forward only, without gradient).
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..data.manifest import SAMPLE_RATE, manifest_size
from .plan import PlannedRun, context_need

#: assumed GPU-seconds per 3.2M-sample batch, forward + backward (fp16, wav2vec2 base): a fairseq
#: user's Libri-light 1h report (facebookresearch/fairseq#4002: 4 GPUs, update_freq 2, max_tokens
#: 3.84M, about 6 s per update), unanswered and not measured here
ASSUMED_GPU_SECONDS = 2.5
ASSUMED_SOURCE = "a fairseq user's report, facebookresearch/fairseq#4002, not measured here"
REFERENCE_SAMPLES = 3.2e6
#: assumed cost of a frozen update relative to an unfrozen one: the encoder runs forward only,
#: without gradient (backward through it is about twice the forward)
FROZEN_FRACTION = 1 / 3
#: nominal training audio of each config (hours), when its manifest is not prepared yet: Libri-light
#: (10 min, 1 h, 10 h; train-clean-100 is 100.6 h), SLUE v0.2 fine-tune sets (DATA.md)
NOMINAL_HOURS = {"librilight_10m": 10 / 60, "librilight_1h": 1.0, "librilight_10h": 10.0, "librilight_100h": 100.6,
                 "slue_voxceleb_asr": 12.8, "slue_voxceleb_sentiment": 12.8, "slue_voxpopuli_asr": 14.5,
                 "slue_voxpopuli_ner": 14.5}
CALIBRATION_FILE = "calibration.json"


def cost_class(run: PlannedRun) -> str:
    """``plain`` (no audio context: A, C, D, E) or ``audio-L{window}`` (B and (b): the current
    segment and its L - 1 neighbours are encoded)."""
    if context_need(run).source == "neighbours":
        return f"audio-L{int(run.knob_dict.get('window', 2))}"
    return "plain"


def encodings(cost: str) -> int:
    return int(cost.split("-L")[1]) if cost.startswith("audio-L") else 1


def epoch_samples(recipe, run: PlannedRun) -> Tuple[float, str]:
    """The run's training audio in samples, and whence: its prepared manifest, else the
    config's nominal hours."""
    manifest = recipe.layout.data_dir(run.dataset, run.task) / f"{recipe.layout.train_subset(run)}.tsv"
    if manifest.is_file():
        return manifest_size(manifest)[1] * SAMPLE_RATE, str(manifest)
    return NOMINAL_HOURS[run.config_name] * 3600 * SAMPLE_RATE, f"nominal {NOMINAL_HOURS[run.config_name]:g} h"


def samples_per_update(recipe, run: PlannedRun) -> float:
    """The samples one update of the run sees here: ``max_tokens x world x update_freq``, or the
    whole epoch when it is smaller (fairseq's last group of an epoch holds what is left)."""
    scale = recipe.scale(run.config_name)
    batch = recipe.published(run.config_name).max_tokens * max(1, scale.world_size) * scale.update_freq
    return min(float(batch), epoch_samples(recipe, run)[0])


@dataclass
class Calibration:
    """``OUT/calibration.json``: seconds per update measured here, per (config, cost class)."""

    path: Path
    hardware: Dict[str, object]  # gpus, precision, cpu, smoke of the recipe that measured
    device: str
    measured: str  # when
    entries: Dict[Tuple[str, str], Dict[str, float]]  # (config, class) -> frozen/unfrozen seconds per update

    def seconds(self, config: str, cost: str) -> Optional[Dict[str, float]]:
        return self.entries.get((config, cost))


def hardware_of(recipe) -> Dict[str, object]:
    """What a calibration must share with the recipe it prices."""
    options = recipe.options
    return {"gpus": recipe.gpus, "precision": options.precision if recipe.gpus else "fp32", "cpu": recipe.gpus == 0,
            "smoke": options.smoke}


def read_calibration(path: Path) -> Optional[Calibration]:
    """The calibration at ``path``, or None when there is none; ``ValueError`` naming the file
    when it cannot be read."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = {(entry["config"], entry["class"]): {"frozen": float(entry["frozen_seconds_per_update"]),
                                                        "unfrozen": float(entry["unfrozen_seconds_per_update"])}
                   for entry in data["entries"]}
        return Calibration(path, dict(data["hardware"]), str(data["device"]), str(data["measured"]), entries)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a calibration ({error!r}); run --calibrate again") from None


@dataclass
class RunCost:
    run: PlannedRun
    gpu_seconds: float
    measured: bool  # from the calibration (else from the assumed figure)


def run_cost(recipe, run: PlannedRun, calibration: Optional[Calibration], assumed_seconds: float) -> RunCost:
    """The GPU-seconds of one training run (:class:`RunCost`)."""
    max_update = recipe.max_update(run.config_name)
    frozen = min(recipe.freeze_updates(run.config_name), max_update)
    cost = cost_class(run)
    measured = calibration.seconds(run.config_name, cost) if calibration is not None else None
    if measured is not None:
        gpus = max(1, recipe.gpus)
        return RunCost(run, (frozen * measured["frozen"] + (max_update - frozen) * measured["unfrozen"]) * gpus, True)
    unfrozen_seconds = assumed_seconds * samples_per_update(recipe, run) / REFERENCE_SAMPLES * encodings(cost)
    return RunCost(run, frozen * unfrozen_seconds * FROZEN_FRACTION + (max_update - frozen) * unfrozen_seconds, False)


def usable_calibration(recipe) -> Tuple[Optional[Calibration], Optional[str]]:
    """``OUT/calibration.json`` when it was measured on this recipe's hardware, and why not."""
    path = recipe.options.out / CALIBRATION_FILE
    calibration = read_calibration(path)
    if calibration is None:
        return None, f"no {path} (run the recipe with --calibrate to measure)"
    here = hardware_of(recipe)
    if calibration.hardware != here:
        return None, f"{path} was measured with {calibration.hardware}, this plan runs with {here}: not used"
    return calibration, None


def estimate_lines(recipe) -> List[str]:
    """The dry-run's GPU-hour lines: the source of the seconds, then each table's runs and hours."""
    unit = "GPU-hours" if recipe.gpus else "CPU process-hours"
    calibration, unused = usable_calibration(recipe)
    assumed = recipe.options.gpu_seconds if recipe.options.gpu_seconds is not None else ASSUMED_GPU_SECONDS
    costs = [run_cost(recipe, run, calibration, assumed) for run in recipe.trained_runs()]
    assumption = (f"ASSUMED {assumed:g} GPU-s per 3.2M-sample batch forward + backward ("
                  + ("--gpu-seconds" if recipe.options.gpu_seconds is not None else ASSUMED_SOURCE)
                  + "; an H200 ran such a batch of row A in 0.075 s, bf16 on synthetic audio without data loading: "
                  f"scripts/bench/context_overhead.py), frozen updates at 1/{1 / FROZEN_FRACTION:g} of that, "
                  "audio-context rows x L, an update seeing min(effective batch, epoch)")
    lines = []
    if calibration is not None:
        lines.append(f"# estimate: MEASURED here ({calibration.path}, {calibration.device}, {calibration.measured}): "
                     "seconds per frozen and per unfrozen update of each config x the GPUs of a run")
        assumed_runs = [cost for cost in costs if not cost.measured]
        if assumed_runs:
            lines.append(f"#   {len(assumed_runs)} run(s) not calibrated (their config or cost class was not "
                         f"measured) are priced at the {assumption}")
    else:
        lines.append(f"# estimate: {assumption}; {unused}")
    tables: Dict[str, List[RunCost]] = {name: [] for name in recipe.options.tables}
    for cost in costs:
        for name in dict.fromkeys(where.split(":")[0] for where in cost.run.cells):
            tables.setdefault(name, []).append(cost)
    for name, table_costs in tables.items():
        lines.append(f"#   {name}: {len(table_costs)} training run(s), {_hours(table_costs, unit)}")
    skipped = len(recipe.plan.runs) - len(costs)
    lines.append(f"#   all tables: {len(costs)} training run(s), {_hours(costs, unit)}"
                 + (f" ({skipped} run(s) without their LLM not counted)" if skipped else ""))
    return lines


def _hours(costs: List[RunCost], unit: str) -> str:
    """``1,234.5 GPU-hours``; under an hour, the seconds too (a toy-scale calibration)."""
    seconds = sum(cost.gpu_seconds for cost in costs)
    return f"{seconds / 3600:,.1f} {unit}" + (f" ({seconds:.1f} s)" if seconds < 3600 else "")
