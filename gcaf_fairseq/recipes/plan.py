"""The runs a recipe makes, derived from the tables' cells (pure Python).

Every cell of every selected table names, through :func:`gcaf_fairseq.tables.cells.cell_spec`,
the training runs that fill it (dataset, task, split, row, knobs) and the decoding it reads
(subset, with or without the LM, metric). :func:`plan_runs` collects them, one
:class:`PlannedRun` per (coordinates, seed), each with the set of decodings the cells need:
the run matrix is the tables' own, it cannot drift from them. ``--systems`` and ``--splits``
filter it.

Run folders (the run-folder contract of :mod:`gcaf_fairseq.tables.runs`)::

    OUT/runs/{dataset}-{task}/{split}/{row}[-{knob}{value}...]/seed{N}/

where the knobs named are those that differ from the row's defaults (CA Tables 1-3 sweep
alpha, D, L, O of row (c) = B), e.g. ``voxceleb-asr/fine-tune/B-alpha0.0001-O-1/seed1``.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple

from ..tables.cells import cell_spec, left_out
from ..tables.published import TABLES
from .. import systems
from ..systems import ContextNeed

#: knob -> short name in run folder names
KNOB_LABELS = {"alpha": "alpha", "context_dim": "D", "window": "L", "offset": "O", "pooling": "pool",
               "context_text": "text", "prompt": "", "llm": "", "distillation": "distill"}
#: the fine-tuning config of each (dataset, task); Libri-light: librilight_{split}
CONFIGS = {("voxceleb", "asr"): "slue_voxceleb_asr", ("voxceleb", "sentiment"): "slue_voxceleb_sentiment",
           ("voxpopuli", "asr"): "slue_voxpopuli_asr", ("voxpopuli", "ner"): "slue_voxpopuli_ner"}


@dataclass(frozen=True)
class Decoding:
    """One decoding of a run: ``subset`` (fairseq subset name), with the KenLM model or not."""

    subset: str
    lm: bool

    @property
    def folder_name(self) -> str:
        return self.subset + ("+lm" if self.lm else "")


@dataclass
class PlannedRun:
    """One fine-tuning (a table cell's run at one seed) and the decodings its cells read."""

    dataset: str
    task: str
    split: str
    system: str
    knobs: Tuple[Tuple[str, Any], ...]  # the row's full knob setting (defaults included), sorted
    seed: int
    decodings: Set[Decoding] = field(default_factory=set)
    cells: List[str] = field(default_factory=list)  # "table: row / column" it fills

    @property
    def knob_dict(self) -> Dict[str, Any]:
        return dict(self.knobs)

    @property
    def config_name(self) -> str:
        if self.dataset == "librilight":
            return f"librilight_{self.split}"
        return CONFIGS[(self.dataset, self.task)]

    @property
    def task_name(self) -> str:
        """``librilight-asr``, ``voxceleb-sentiment``, ..."""
        return f"{self.dataset}-{self.task}"

    def row_name(self) -> str:
        """The row with the knobs that differ from its defaults: ``B-alpha0.0001-O-1``."""
        defaults = systems.get(self.system).defaults
        parts = [self.system]
        for key, value in self.knobs:
            if key in defaults and _same(defaults[key], value):
                continue
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            parts.append(f"{KNOB_LABELS.get(key, key)}{value}")
        return "-".join(parts)

    def folder(self, runs_dir: Path) -> Path:
        return Path(runs_dir) / self.task_name / self.split / self.row_name() / f"seed{self.seed}"

    def run_file(self, overrides: List[str], max_update: Optional[int]) -> Dict[str, Any]:
        """The ``run.json`` coordinates (the run-folder contract)."""
        coordinates: Dict[str, Any] = {"dataset": self.dataset, "task": self.task, "split": self.split,
                                       "system": self.system, "seed": self.seed}
        coordinates.update(self.knob_dict)
        coordinates["config"] = self.config_name
        coordinates["max_update"] = max_update
        coordinates["overrides"] = list(overrides)
        return coordinates

    def sorted_decodings(self) -> List[Decoding]:
        return sorted(self.decodings, key=lambda decoding: (decoding.lm, decoding.subset))


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) or isinstance(right, float):
        try:
            return abs(float(left) - float(right)) <= 1e-12 * max(1.0, abs(float(left)))
        except (TypeError, ValueError):
            return False
    return left == right


@dataclass(frozen=True)
class RougeRun:
    """A GCAF Table 3 run: ROUGE-1 of the generations of each prompt on one subset."""

    dataset: str
    subset: str
    llm: str

    def folder(self, runs_dir: Path) -> Path:
        return Path(runs_dir) / "rouge" / f"{self.subset}-{self.llm}"


@dataclass
class Plan:
    runs: List[PlannedRun]
    rouge: List[RougeRun]
    cells: int  # cells planned
    filtered_cells: int  # cells left out by --systems / --splits


def plan_runs(tables: List[str], seeds: int, systems: Optional[List[str]] = None,
              splits: Optional[List[str]] = None) -> Plan:
    """Every training run (x ``seeds``) and ROUGE run the cells of ``tables`` need, in table
    order; ``systems`` / ``splits`` keep only cells whose runs match."""
    runs: Dict[Tuple, PlannedRun] = {}
    rouge: Dict[Tuple, RougeRun] = {}
    cells = filtered = 0
    for name in tables:
        table = TABLES[name]
        for row in table.rows:
            for column in table.columns:
                spec = cell_spec(name, row.key, column.key)
                where = f"{name}: {row.key} / {column.key}"
                if left_out(spec, systems, splits):
                    filtered += 1
                    continue
                if spec.kind == "rouge":
                    cells += 1
                    measure = spec.rouge
                    rouge.setdefault((measure.subset, measure.llm), RougeRun("librilight", measure.subset, measure.llm))
                    continue
                measures = [spec.measure] if spec.kind == "measure" else [part for _, part in spec.components]
                cells += 1
                for measure in measures:
                    knobs = tuple(sorted(measure.required_knobs().items()))
                    for seed in range(1, seeds + 1):
                        key = (measure.dataset, measure.task, measure.split, measure.system, knobs, seed)
                        run = runs.get(key)
                        if run is None:
                            run = runs[key] = PlannedRun(measure.dataset, measure.task, measure.split,
                                                         measure.system, knobs, seed)
                        run.decodings.add(Decoding(measure.subset, measure.lm))
                        if where not in run.cells:
                            run.cells.append(where)
    return Plan(list(runs.values()), list(rouge.values()), cells, filtered)


# ---------------------------------------------------------------- what each row needs
# (read from the systems registry, gcaf_fairseq.systems)


def context_need(run: PlannedRun) -> ContextNeed:
    """The context the run's system reads with the run's knobs (a store of a kind, the
    neighbours, nothing) and whether its decoding reads it too."""
    return systems.get(run.system).need(run.knob_dict)


def system_overlay(run: PlannedRun) -> str:
    """The run's model overlay (``config/finetuning/system/NAME.yaml``)."""
    return systems.get(run.system).overlay_for(run.knob_dict)


def system_overrides(run: PlannedRun) -> List[str]:
    """``+system=OVERLAY`` and the hydra overrides of the run's knobs (alpha, D, L, O)."""
    return systems.get(run.system).hydra_overrides(run.knob_dict)
