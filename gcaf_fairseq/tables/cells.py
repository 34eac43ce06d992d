"""Which runs and which number fill each cell of each table (pure Python).

A cell is one :class:`Measure` (a metric of the runs with given coordinates, decoded on a
subset with or without the LM), the SLUE score of four measures, or a ROUGE number
(GCAF Table 3). The mapping follows the papers' text; where it is our reading, the table's
notes in :mod:`.published` say so.
"""

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from .published import CA_FIG3_SERIES, SLUE_TASK_COLUMNS, TABLES
from .runs import SYSTEM_ALIASES, SYSTEMS


@dataclass(frozen=True)
class Measure:
    """``metric`` (wer, ner_f1, sa_f1, decode_seconds) of the training runs of ``system`` on
    ``dataset``/``task``/``split`` whose knobs are the system's defaults updated by ``knobs``,
    decoded on ``subset`` (with the KenLM model when ``lm``)."""

    dataset: str
    task: str
    split: str
    system: str
    knobs: Tuple[Tuple[str, Any], ...]
    subset: str
    lm: bool
    metric: str

    def required_knobs(self) -> Dict[str, Any]:
        return {**SYSTEMS[self.system].defaults, **dict(self.knobs)}

    def as_dict(self) -> Dict[str, Any]:
        return {
            "dataset": self.dataset, "task": self.task, "split": self.split, "system": self.system,
            "knobs": self.required_knobs(), "subset": self.subset, "lm": self.lm, "metric": self.metric,
        }


@dataclass(frozen=True)
class RougeMeasure:
    """A column (``rouge1_f``, ``average_words``) of a gcaf-rouge row (``previous``, ``P1``..)."""

    row: str
    column: str
    subset: str
    llm: str

    def as_dict(self) -> Dict[str, Any]:
        return {"kind": "rouge", "row": self.row, "column": self.column, "subset": self.subset, "llm": self.llm}


@dataclass(frozen=True)
class CellSpec:
    kind: str  # "measure", "slue_score" or "rouge"
    measure: Optional[Measure] = None
    components: Tuple[Tuple[str, Measure], ...] = ()  # slue_score: vp_wer, vc_wer, sa_f1, ner_f1
    rouge: Optional[RougeMeasure] = None


def _one(measure: Measure) -> CellSpec:
    return CellSpec("measure", measure=measure)


def _librispeech(split: str, system: str, subset: str, knobs=()) -> CellSpec:
    return _one(Measure("librilight", "asr", split, system, tuple(knobs), subset, False, "wer"))


def _slue(column_key: str, system: str, subset: str, lm: bool, knobs=()) -> Measure:
    for key, _, dataset, task, metric in SLUE_TASK_COLUMNS:
        if key == column_key:
            # sentiment has no LM decoding: its +LM cells are the no-LM results (as the paper repeats them)
            return Measure(dataset, task, "fine-tune", system, tuple(knobs), subset, lm and task != "sentiment", metric)
    raise KeyError(column_key)


def _voxceleb_dev(system: str, lm: bool, knobs) -> CellSpec:
    return _one(Measure("voxceleb", "asr", "fine-tune", system, tuple(knobs), "dev", lm, "wer"))


def _ca_system(row: str) -> str:
    return SYSTEM_ALIASES[row]


def cell_spec(table_name: str, row_key: str, column_key: str) -> CellSpec:
    """The spec of one cell (``KeyError`` for an unknown table, row or column)."""
    table = TABLES[table_name]
    if (row_key, column_key) not in table.values:
        raise KeyError(f"{table_name} has no cell ({row_key}, {column_key})")
    if table_name in ("gcaf-table2", "gcaf-table4", "gcaf-table5", "gcaf-table6"):
        return _librispeech("1h", row_key, "dev_other")
    if table_name == "gcaf-table3":
        return CellSpec("rouge", rouge=RougeMeasure(row_key, column_key, "dev_other", "13B"))
    if table_name in ("gcaf-table7", "ca-table6"):
        split, row = row_key.split("/")
        system = row if table_name == "gcaf-table7" else _ca_system(row)
        return _librispeech(split, system, column_key)
    if table_name == "gcaf-table8":
        task_column, subset = column_key.split("/")
        return _one(_slue(task_column, row_key, subset, False))
    if table_name == "ca-table1":  # (c), alpha swept; D 32, L 2, O -1
        return _voxceleb_dev("B", column_key == "lm", (("alpha", float(row_key)), ("context_dim", 32),
                                                       ("window", 2), ("offset", -1)))
    if table_name == "ca-table2":  # (c), D swept; alpha 10, L 2, O -1
        return _voxceleb_dev("B", column_key == "lm", (("alpha", 10.0), ("context_dim", int(row_key)),
                                                       ("window", 2), ("offset", -1)))
    if table_name == "ca-table3":
        if row_key == "(a)":
            return _voxceleb_dev("A", column_key == "lm", ())
        row, window, offset = row_key.split("/")
        knobs = (("context_dim", 32), ("window", int(window[1:])), ("offset", int(offset[1:])))
        if row == "(c)":
            knobs = (("alpha", 10.0),) + knobs
        return _voxceleb_dev(_ca_system(row), column_key == "lm", knobs)
    if table_name in ("ca-table4", "ca-table5"):
        subset = "dev" if table_name == "ca-table4" else "test"
        lm = row_key.endswith("+LM")
        system = _ca_system(row_key.replace("+LM", "").replace("*", ""))
        if column_key == "slue_score":
            components = (
                ("vp_wer", _slue("vp_asr", system, subset, lm)),
                ("vc_wer", _slue("vc_asr", system, subset, lm)),
                ("sa_f1", _slue("vc_sa", system, subset, lm)),
                ("ner_f1", _slue("vp_ner", system, subset, lm)),
            )
            return CellSpec("slue_score", components=components)
        return _one(_slue(column_key, system, subset, lm))
    if table_name == "ca-fig3":
        for key, _, row, window in CA_FIG3_SERIES:
            if key == row_key:
                knobs = () if window is None else (("window", window), ("offset", 0))
                return _one(Measure("voxceleb", "asr", "fine-tune", _ca_system(row), knobs, "dev", False, column_key))
    raise KeyError(f"{table_name}: no cell spec for ({row_key}, {column_key})")
