"""Which runs and which number fill each cell of each table (pure Python).

A cell is one :class:`Measure` (a metric of the runs with given coordinates, decoded on a
subset with or without the LM), the SLUE score of four measures, or a ROUGE number
(GCAF Table 3). Which one is data: each table, row and column of :mod:`.published` carries
the coordinates it gives its cells, and :func:`cell_spec` reads them with one rule. The
mapping follows the papers' text; where it is our reading, the table's notes say so.
"""

from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

from .. import systems
from ..systems import canonical
from .published import SLUE_SCORE_COMPONENTS, SLUE_TASK_CELLS, TABLES


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
        return {**systems.get(self.system).defaults, **dict(self.knobs)}

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

    def as_dict(self) -> Dict[str, Any]:
        """The coordinates of the cell's measure(s), as its JSON gives them."""
        if self.kind == "rouge":
            return self.rouge.as_dict()
        if self.kind == "measure":
            return self.measure.as_dict()
        return {name: part.as_dict() for name, part in self.components}


#: tasks decoded without a language model: their +LM cells are the no-LM results (sentiment
#: is a classifier; the papers repeat its number in the +LM rows)
TASKS_WITHOUT_LM = ("sentiment",)


def cell_spec(table_name: str, row_key: str, column_key: str) -> CellSpec:
    """The spec of one cell (``KeyError`` for an unknown table, row or column), read by one
    rule from the coordinates the table, the row and the column give it
    (:meth:`PublishedTable.cell_coordinates`): a ROUGE number (``kind: rouge``), the SLUE
    score of the four task measures (``metric: slue_score``), or one measure."""
    table = TABLES[table_name]
    if (row_key, column_key) not in table.values:
        raise KeyError(f"{table_name} has no cell ({row_key}, {column_key})")
    coordinates = table.cell_coordinates(row_key, column_key)
    if coordinates.get("kind") == "rouge":
        return CellSpec("rouge", rouge=RougeMeasure(coordinates["rouge_row"], coordinates["rouge_column"],
                                                    coordinates["subset"], coordinates["llm"]))
    if coordinates.get("metric") == "slue_score":
        components = tuple((name, _measure({**coordinates, **SLUE_TASK_CELLS[column]}))
                           for name, column in SLUE_SCORE_COMPONENTS)
        return CellSpec("slue_score", components=components)
    return CellSpec("measure", measure=_measure(coordinates))


def _measure(coordinates: Dict[str, Any]) -> Measure:
    task = coordinates["task"]
    return Measure(
        coordinates["dataset"], task, coordinates["split"], canonical(coordinates["system"]),
        tuple(sorted(coordinates.get("knobs", {}).items())), coordinates["subset"],
        bool(coordinates.get("lm")) and task not in TASKS_WITHOUT_LM, coordinates["metric"],
    )


def split_filter_key(measure: Measure) -> str:
    """What ``--splits`` names for a measure's runs: the Libri-light split (``10m`` ..
    ``100h``) or the SLUE fine-tuning task (``voxceleb-asr`` ..)."""
    return measure.split if measure.dataset == "librilight" else f"{measure.dataset}-{measure.task}"


def left_out(spec: CellSpec, systems: Optional[Sequence[str]] = None,
             splits: Optional[Sequence[str]] = None) -> Optional[str]:
    """Why a cell is outside a recipe's ``--systems`` / ``--splits`` (the rows and the
    splits or SLUE tasks kept, canonical names), or None when it is inside. A ROUGE cell
    (GCAF Table 3) belongs to no row (any ``--systems`` leaves it out) and to the 1h split."""
    if spec.kind == "rouge":
        if systems is not None:
            return f"left out by --systems {' '.join(systems)} (ROUGE cells belong to no row)"
        if splits is not None and "1h" not in splits:
            return f"left out by --splits {' '.join(splits)} (ROUGE is measured on the 1h split's data)"
        return None
    measures = [spec.measure] if spec.kind == "measure" else [part for _, part in spec.components]
    for measure in measures:
        if systems is not None and measure.system not in systems:
            return f"left out by --systems {' '.join(systems)}"
        if splits is not None and split_filter_key(measure) not in splits:
            return f"left out by --splits {' '.join(splits)}"
    return None
