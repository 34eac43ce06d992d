"""Build the papers' tables from a folder of runs (see :mod:`.runs` for the run-folder contract).

Each cell is the mean and the sample standard deviation (``statistics.stdev``, n - 1) over
the seeds of its runs, beside the paper's number and the difference (ours - paper). With
one seed the std is ``n/a``. A cell whose runs are missing a result is listed with each
reason; a cell with some results and some missing ones is *partial* (its mean is over the
results it has). The SLUE score of a cell is :func:`gcaf_fairseq.scoring.slue_score.slue_score`
of the four component means; its std is over the seeds that all four components share. With
``expected_seeds`` N a cell is built from seeds 1..N exactly (another seed's run is not used,
and ``runs.json`` says why); a cell outside a recipe's ``--systems`` / ``--splits`` is *left
out*, with that reason; a cell whose runs read a context store in which some utterances that
should have context have none (their ``run.json``'s ``context_stores``) gets a footnote
``[cN]``. Each number has one source: WER is the decoding's ``SUBSET.wer.json``.

Written per table, atomically, to ``OUT/tables/``: ``NAME.md`` (the paper's layout), ``NAME.csv``
(the same layout, one column per cell field) and ``NAME.json`` (every cell with every run's
value and links to the run's folder, run.json, config, train.log, checkpoint, decoding folder,
decoded files, score file and the context it read -- text encoder, LLM, stores; paths relative
to the JSON file's folder); ``ca-fig3.png`` for CA Fig. 3. Over every table of that folder,
those built now and those built there before: ``runs.json`` (every run found, its state and
the cells it fills; unused runs and unreadable run.json files), ``index.md`` (a summary) and
``summary.json``.
"""

import csv
import io
import json
import os
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..data.atomic_files import write_bytes_atomically, write_text_atomically
from ..data.fingerprints import file_sha256
from ..scoring.slue_score import slue_score
from ..systems import knobs_equal
from .cells import CellSpec, Measure, RougeMeasure, cell_spec, left_out
from .published import TABLES, PublishedTable, table_names
from .runs import (
    CONTEXT_KEYS, Problem, Run, TrainingState, context_warnings, find_runs, measure, rouge_rows, run_files,
    subset_spellings, training_state,
)

FIGURE_TABLE = "ca-fig3"


class RunIndex:
    """The runs of a folder, their training states, and which cells use each run."""

    def __init__(self, runs: Sequence[Run], problems: Sequence[Problem] = ()):
        self.runs = list(runs)
        self.problems = list(problems)
        self.states: Dict[Path, TrainingState] = {
            run.folder: training_state(run) for run in self.runs if run.kind == "train"
        }
        self.used: Dict[Path, List[str]] = defaultdict(list)
        self.language_models: Dict[str, str] = {}  # LM role -> sha256 of the file its +LM cells need
        self.ignored: Dict[Path, str] = {}  # runs no table may use, and why (a seed outside --seeds)

    @classmethod
    def from_folder(cls, runs_dir) -> "RunIndex":
        runs, problems = find_runs(Path(runs_dir))
        return cls(runs, problems)

    def matching(self, spec: Measure) -> List[Run]:
        required = spec.required_knobs()
        return [
            run for run in self.runs
            if run.kind == "train" and run.dataset == spec.dataset and run.task == spec.task
            and run.split == spec.split and run.system == spec.system and knobs_equal(run.knobs, required)
        ]

    def rouge_runs(self, spec: RougeMeasure) -> List[Run]:
        return [
            run for run in self.runs
            if run.kind == "rouge" and run.subset in subset_spellings(spec.subset) and run.knobs.get("llm") == spec.llm
        ]


def _statistics(values: Sequence[float]) -> Tuple[Optional[float], Optional[float]]:
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def _measure_cell(index: RunIndex, spec: Measure, expected_seeds: Optional[int], where: str) -> Dict[str, Any]:
    runs = index.matching(spec)
    if expected_seeds is not None:  # seeds 1..N exactly: a run of another seed (an earlier command's) is not used
        for run in runs:
            if not 1 <= run.seed <= expected_seeds:
                index.ignored[run.folder] = (f"seed {run.seed} is not among the seeds built "
                                             f"(--seeds {expected_seeds}: 1..{expected_seeds})")
        runs = [run for run in runs if 1 <= run.seed <= expected_seeds]
    values, missing, warnings = [], [], []
    by_seed: Dict[int, List[Run]] = defaultdict(list)
    for run in runs:
        by_seed[run.seed].append(run)
    for seed in sorted(by_seed):
        seed_runs = by_seed[seed]
        if len(seed_runs) > 1:
            folders = ", ".join(str(run.folder) for run in seed_runs)
            missing.append({"seed": seed, "run": None, "files": {},
                            "reason": f"ambiguous: {len(seed_runs)} runs claim seed {seed} ({folders}); keep one"})
            continue
        run = seed_runs[0]
        index.used[run.folder].append(where)
        result = measure(run, index.states[run.folder], spec.subset, spec.lm, spec.metric, index.language_models)
        entry = {"seed": seed, "run": run.folder, "files": result.files,
                 "notes": index.states[run.folder].notes + run.notes + result.notes, **_context_of(run)}
        if result.value is None:
            missing.append({**entry, "reason": result.reason})
        else:
            values.append({**entry, "value": result.value})
            warnings += [{"seed": seed, "run": run.folder, "warning": line} for line in context_warnings(run)]
    if not runs:
        missing.append({"seed": None, "run": None, "files": {}, "reason": "not trained: no run folder with these "
                        f"coordinates ({_describe(spec)})"})
    elif expected_seeds is not None and len(by_seed) < expected_seeds:
        absent = [seed for seed in range(1, expected_seeds + 1) if seed not in by_seed]
        missing.append({"seed": None, "run": None, "files": {},
                        "reason": f"{len(absent)} of {expected_seeds} seeds have no run folder (seed"
                        f"{'s' if len(absent) > 1 else ''} {', '.join(map(str, absent))}; found seeds "
                        f"{', '.join(str(seed) for seed in sorted(by_seed))})"})
    mean, std = _statistics([entry["value"] for entry in values])
    return {"mean": mean, "std": std, "n": len(values), "seeds": [entry["seed"] for entry in values],
            "values": values, "missing": missing, "warnings": warnings, "measure": spec.as_dict()}


def _context_of(run: Run) -> Dict[str, Any]:
    """``{"context": ...}``: the text encoder, LLM and stores the run's run.json says it read
    (store paths as paths, linked relative to the table), or nothing."""
    context = {key: run.raw[key] for key in CONTEXT_KEYS if run.raw.get(key)}
    if "context_stores" in context:
        context["context_stores"] = [{**store, "path": Path(store["path"]),
                                      **({"texts": Path(store["texts"])} if store.get("texts") else {})}
                                     for store in context["context_stores"]]
    return {"context": context} if context else {}


def _describe(spec: Measure) -> str:
    knobs = ", ".join(f"{key}={value}" for key, value in spec.required_knobs().items())
    return f"{spec.dataset} {spec.task} split {spec.split}, system {spec.system}" + (f", {knobs}" if knobs else "")


def _slue_cell(index: RunIndex, spec: CellSpec, expected_seeds: Optional[int], where: str) -> Dict[str, Any]:
    components = {name: _measure_cell(index, measure_, expected_seeds, where) for name, measure_ in spec.components}
    missing = [
        {**entry, "reason": f"{name} ({components[name]['measure']['dataset']} {components[name]['measure']['task']}):"
                            f" {entry['reason']}"}
        for name, cell in components.items() for entry in cell["missing"]
    ]
    warnings = [{**entry, "warning": f"{name}: {entry['warning']}"}
                for name, cell in components.items() for entry in cell["warnings"]]
    cell = {"mean": None, "std": None, "n": 0, "seeds": [], "values": [], "missing": missing, "warnings": warnings,
            "components": components, "measure": {name: cell["measure"] for name, cell in components.items()}}
    if any(component["n"] == 0 for component in components.values()):
        return cell
    means = {name: component["mean"] for name, component in components.items()}
    cell["mean"] = slue_score(**means)
    per_seed = {name: {entry["seed"]: entry["value"] for entry in component["values"]}
                for name, component in components.items()}
    common = sorted(set.intersection(*(set(values) for values in per_seed.values())))
    scores = [slue_score(**{name: per_seed[name][seed] for name in per_seed}) for seed in common]
    cell["seeds"] = common
    cell["n"] = len(common)
    cell["values"] = [{"seed": seed, "value": score} for seed, score in zip(common, scores)]
    cell["std"] = statistics.stdev(scores) if len(scores) > 1 else None
    return cell


def _rouge_cell(index: RunIndex, spec: RougeMeasure, where: str) -> Dict[str, Any]:
    runs = index.rouge_runs(spec)
    values, missing, seen = [], [], set()
    for run in runs:
        rows, reason, files = rouge_rows(run)
        if rows is None:
            missing.append({"seed": None, "run": run.folder, "files": files, "reason": reason})
            continue
        row = rows.get(spec.row)
        if row is None or row.get(spec.column) is None:
            continue  # another ROUGE run may hold this prompt's row
        index.used[run.folder].append(where)
        key = (row.get(spec.column), row.get("utterances"))
        if key in seen:  # the "previous GT text" row repeats in every gcaf-rouge output
            continue
        seen.add(key)
        values.append({"seed": None, "run": run.folder, "files": files, "notes": run.notes,
                       "value": float(row[spec.column]), "utterances": row.get("utterances")})
    if not values:
        if not runs:
            missing.append({"seed": None, "run": None, "files": {}, "reason": "not scored: no ROUGE run "
                            f"(run.json kind rouge, subset {spec.subset}, llm {spec.llm})"})
        elif not missing:
            folders = ", ".join(str(run.folder) for run in runs)
            missing.append({"seed": None, "run": None, "files": {},
                            "reason": f"no ROUGE run has a row for {spec.row} ({folders})"})
    mean, std = _statistics([entry["value"] for entry in values])
    return {"mean": mean, "std": std, "n": len(values), "seeds": [], "values": values, "missing": missing,
            "warnings": [],
            "measure": spec.as_dict()}


@dataclass
class BuiltTable:
    table: PublishedTable
    cells: Dict[Tuple[str, str], Dict[str, Any]]
    runs_dir: Path
    expected_seeds: Optional[int] = None
    notes: List[str] = field(default_factory=list)

    def cell(self, row_key: str, column_key: str) -> Dict[str, Any]:
        return self.cells[(row_key, column_key)]

    def summary(self) -> Dict[str, int]:
        counts = {"cells": len(self.cells), "filled": 0, "partial": 0, "missing": 0, "left_out": 0}
        for cell in self.cells.values():
            counts[cell["status"].replace(" ", "_")] += 1
        return counts

    def missing(self) -> List[Dict[str, Any]]:
        """One entry per missing result: row, column, run, seed and reason."""
        listed = []
        for row in self.table.rows:
            for column in self.table.columns:
                for entry in self.cells[(row.key, column.key)]["missing"]:
                    listed.append({"row": row.key, "row_label": _row_title(row), "column": column.key,
                                   "column_label": column.label, "seed": entry.get("seed"), "run": entry.get("run"),
                                   "reason": entry["reason"]})
        return listed


def build_table(name: str, index: RunIndex, expected_seeds: Optional[int] = None, runs_dir=".",
                systems: Optional[Sequence[str]] = None, splits: Optional[Sequence[str]] = None) -> BuiltTable:
    """The table ``name`` from the runs of ``index`` (found under ``runs_dir``): seeds
    1..``expected_seeds`` exactly when given; a cell outside ``systems`` / ``splits`` (a
    recipe's ``--systems`` / ``--splits``) is *left out*, with that reason, whatever runs exist."""
    table = TABLES[name]
    cells = {}
    for row in table.rows:
        for column in table.columns:
            spec = cell_spec(name, row.key, column.key)
            where = f"{name}: {row.key} / {column.key}"
            reason = left_out(spec, systems, splits)
            if reason is not None:
                cells[(row.key, column.key)] = {
                    "mean": None, "std": None, "n": 0, "seeds": [], "values": [], "warnings": [], "status": "left out",
                    "missing": [{"seed": None, "run": None, "files": {}, "reason": reason}],
                    "measure": spec.as_dict(), "published": table.published(row.key, column.key), "difference": None}
                continue
            if spec.kind == "measure":
                cell = _measure_cell(index, spec.measure, expected_seeds, where)
            elif spec.kind == "slue_score":
                cell = _slue_cell(index, spec, expected_seeds, where)
            else:
                cell = _rouge_cell(index, spec.rouge, where)
            published = table.published(row.key, column.key)
            cell["published"] = published
            cell["published_inferred_from"] = table.inferred_from(row.key, column.key)  # not printed by the paper
            cell["difference"] = None if published is None or cell["mean"] is None else cell["mean"] - published
            if cell["mean"] is None:
                cell["status"] = "missing"
            elif cell["missing"]:
                cell["status"] = "partial"
            else:
                cell["status"] = "filled"
            cells[(row.key, column.key)] = cell
    return BuiltTable(table, cells, Path(runs_dir), expected_seeds)


# ---------------------------------------------------------------- rendering

def _row_title(row) -> str:
    return (f"{row.group}: " if row.group else "") + row.label


def _number(value: Optional[float], decimals: int, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.{decimals}f}" if signed else f"{value:.{decimals}f}"


def _published_text(value: Optional[float], decimals: int) -> str:
    return "not published" if value is None else f"{value:.{decimals}f}"


def _cell_markdown(cell: Dict[str, Any], column, footnotes: List[int], warnings: List[str] = ()) -> str:
    decimals = column.decimals
    marks = "".join(f"[{number}]" for number in footnotes)
    warned = "".join(f"[{mark}]" for mark in warnings)
    paper = f"paper {_published_text(cell['published'], column.paper_decimals)}"
    if cell["status"] == "left out":
        return f"— left out {marks}; {paper}"
    if cell.get("published_inferred_from"):
        paper += " (inferred, not printed)"
    if cell["mean"] is None:
        return f"— missing {marks}; {paper}"
    text = f"{_number(cell['mean'], decimals)} ± {_number(cell['std'], decimals)} (n={cell['n']})"
    if warned:
        text += f" context {warned}"
    if cell["status"] == "partial":
        text += f" partial {marks}"
    text += f"; {paper}"
    if cell["difference"] is not None:
        text += f"; Δ {_number(cell['difference'], decimals, signed=True)}"
    return text


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(built: BuiltTable, out_dir: Path) -> str:
    table = built.table
    summary = built.summary()
    lines = [
        f"# {table.title} ({table.name})",
        "",
        f"> {table.caption}",
        "",
        f"Built by `gcaf-collect-results` from `{_link(built.runs_dir, out_dir)}`. Each cell: our mean ± sample std "
        "over seeds (n = seeds; std n/a with one seed), the paper's number, and Δ = ours − paper. "
        f"{summary['filled']} of {summary['cells']} cells filled, {summary['partial']} partial, "
        f"{summary['missing']} missing" + (f", {summary['left_out']} left out" if summary["left_out"] else "") + ".",
        "",
    ]
    header = list(table.label_columns) + [column.label for column in table.columns]
    lines.append("| " + " | ".join(_escape(text) for text in header) + " |")
    lines.append("|" + "---|" * len(header))
    missing_lines: List[str] = []
    warning_lines: List[str] = []
    group = None
    for row in table.rows:
        if row.group and row.group != group:
            group = row.group
            lines.append("| " + " | ".join([f"**{_escape(group)}**"] + [""] * (len(header) - 1)) + " |")
        texts = list(row.labels)
        for column in table.columns:
            cell = built.cell(row.key, column.key)
            numbers = []
            for entry in cell["missing"]:
                number = len(missing_lines) + 1
                numbers.append(number)
                where = ([f"`{_link(entry['run'], out_dir)}`"] if entry.get("run") else []) + (
                    [f"seed {entry['seed']}"] if entry.get("seed") is not None else [])
                where_text = f" ({', '.join(where)})" if where else ""
                missing_lines.append(f"{number}. {_row_title(row)} / {column.label}{where_text}: {entry['reason']}")
            marks = []
            for entry in cell.get("warnings", []):
                marks.append(f"c{len(warning_lines) + 1}")
                where = f"`{_link(entry['run'], out_dir)}`, seed {entry['seed']}"
                warning_lines.append(f"{marks[-1]}. {_row_title(row)} / {column.label} ({where}): {entry['warning']}")
            texts.append(_cell_markdown(cell, column, numbers, marks))
        lines.append("| " + " | ".join(_escape(text) for text in texts) + " |")
    lines += ["", f"## Missing results ({len(missing_lines)})", ""]
    lines += missing_lines or ["None: every cell has every result."]
    if warning_lines:
        lines += ["", f"## Context warnings ({len(warning_lines)})", "",
                  "Runs that read stores in which some utterances that should have context have none (below the "
                  "recipe's --max-empty-context): their cells are marked [cN].", ""] + warning_lines
    run_notes = sorted({note for cell in built.cells.values() for entry in cell["values"]
                        for note in entry.get("notes", []) if note})
    if run_notes:
        lines += ["", "## Notes on runs", ""] + [f"- {note}" for note in run_notes]
    if table.notes:
        lines += ["", "## Our reading of the paper", ""] + [f"- {note}" for note in table.notes]
    if table.name == FIGURE_TABLE:
        lines += ["", f"![{table.title}]({table.name}.png)"]
    return "\n".join(lines) + "\n"


def render_csv(built: BuiltTable) -> str:
    table = built.table
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    header = ["group"] + [label or "label" for label in table.label_columns]
    inferred = {column_key for _, column_key in table.inferred}  # columns with a number the paper does not print
    for column in table.columns:
        header += [f"{column.label} {field_}" for field_ in ("mean", "std", "n", "paper", "difference", "status")]
        header += [f"{column.label} paper inferred from"] if column.key in inferred else []
    writer.writerow(header)

    def plain(value):
        return "" if value is None else repr(round(value, 6)) if isinstance(value, float) else value

    for row in table.rows:
        line = [row.group or ""] + list(row.labels)
        for column in table.columns:
            cell = built.cell(row.key, column.key)
            line += [plain(cell["mean"]), plain(cell["std"]), cell["n"], plain(cell["published"]),
                     plain(cell["difference"]), cell["status"]]
            line += [cell["published_inferred_from"] or ""] if column.key in inferred else []
        writer.writerow(line)
    return stream.getvalue()


def _link(path, out_dir: Path) -> Optional[str]:
    if path is None:
        return None
    return os.path.relpath(Path(path).resolve(), Path(out_dir).resolve())


def _linked(value, out_dir: Path):
    if isinstance(value, Path):
        return _link(value, out_dir)
    if isinstance(value, dict):
        return {key: _linked(item, out_dir) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_linked(item, out_dir) for item in value]
    return value


def render_json(built: BuiltTable, out_dir: Path) -> str:
    table = built.table
    document = {
        "table": table.name,
        "paper": table.paper,
        "number": table.number,
        "caption": table.caption,
        "notes": list(table.notes),
        "runs_dir": _link(built.runs_dir, out_dir),
        "paths": "relative to the folder of this file",
        "expected_seeds": built.expected_seeds,
        "summary": built.summary(),
        "label_columns": list(table.label_columns),
        "columns": [{"key": column.key, "labels": list(column.labels)} for column in table.columns],
        "rows": [
            {
                "key": row.key,
                "labels": list(row.labels),
                "group": row.group,
                "cells": {column.key: _linked(built.cell(row.key, column.key), out_dir) for column in table.columns},
            }
            for row in table.rows
        ],
        "missing": _linked(built.missing(), out_dir),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def plot_fig3(built: BuiltTable, png_path: Path) -> None:
    """CA Fig. 3: WER against decoding time for (a), (b) and (c) with L = 2 and 3 (matplotlib,
    imported here only)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    figure, axes = pyplot.subplots(figsize=(6.4, 4.4))
    markers = ["o", "s", "^", "D", "v"]
    plotted, devices = 0, []
    for marker, row in zip(markers, built.table.rows):
        wer = built.cell(row.key, "wer")
        seconds = built.cell(row.key, "decode_seconds")
        if wer["mean"] is None or seconds["mean"] is None:
            continue
        plotted += 1
        devices += [device for device in _timing_devices(seconds) if device not in devices]
        points = axes.errorbar(seconds["mean"], wer["mean"], xerr=seconds["std"] or 0.0, yerr=wer["std"] or 0.0,
                               fmt=marker, capsize=3, label=f"{row.label} (n={wer['n']})")
        if wer["published"] is not None:
            axes.axhline(wer["published"], linestyle=":", linewidth=0.8, color=points.lines[0].get_color())
    if not plotted:
        axes.text(0.5, 0.5, "no run has both a WER and a decoding time:\nsee ca-fig3.md", ha="center", va="center",
                  transform=axes.transAxes)
    x_label, title = fig3_labels(devices)
    axes.set_xlabel(x_label, fontsize=8)
    axes.set_ylabel("WER")
    axes.set_title(title, fontsize=8)
    if plotted:
        axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    pyplot.close(figure)
    write_bytes_atomically(png_path, buffer.getvalue())


def fig3_labels(devices: Sequence[str]) -> Tuple[str, str]:
    """CA Fig. 3's x-axis label (what the seconds time, on which devices) and title (the paper's
    WERs are inferred)."""
    x_label = (f"decoding time (s): the generation loop on {', '.join(devices) or 'the decoding device'}\n"
               "(after a warm-up batch; model and audio loading excluded; timing.json has the real-time factor)")
    title = ("CA Fig. 3: WER vs. decoding time (SLUE-VoxCeleb dev, O = 0)\n"
             "dotted: WERs INFERRED from CA Table 3's O = 0 rows (the figure prints no values);\n"
             "the paper's times are not published")
    return x_label, title


def _timing_devices(cell: Dict[str, Any]) -> List[str]:
    """The devices named by the timing.json files behind a decoding-time cell."""
    devices = []
    for entry in cell["values"]:
        path = entry.get("files", {}).get("score_file")
        try:
            device = json.loads(Path(path).read_text(encoding="utf-8")).get("device") if path else None
        except (OSError, ValueError):
            device = None
        if device and device not in devices:
            devices.append(device)
    return devices


# ---------------------------------------------------------------- the whole collection

@dataclass
class Collection:
    """What :func:`collect` wrote and found."""

    tables: Dict[str, BuiltTable]
    written: List[Path]
    index: RunIndex
    problems: List[str]


def _runs_document(index: RunIndex, out_dir: Path) -> Dict[str, Any]:
    runs = []
    for run in index.runs:
        state = index.states.get(run.folder)
        runs.append(_linked({
            "run_dir": run.folder,
            "coordinates": run.coordinates(),
            "overrides": run.overrides,
            "training": None if state is None else {
                "finished": state.finished, "reason": state.reason, "num_updates": state.num_updates,
                "max_update": state.max_update, "notes": state.notes,
            },
            "files": run_files(run) if run.kind == "train" else {"run_dir": run.folder, "run_json": run.run_file},
            "notes": run.notes,
            "used_by": index.used.get(run.folder, []),
            **({"ignored": index.ignored[run.folder]} if run.folder in index.ignored else {}),
        }, out_dir))
    return {
        "paths": "relative to the folder of this file",
        "runs": runs,
        "unused_runs": [_link(run.folder, out_dir) for run in index.runs if not index.used.get(run.folder)],
        "problems": [{"file": _link(problem.path, out_dir), "message": problem.message} for problem in index.problems],
    }


def collect(
    runs_dir, out_dir, tables: Optional[Sequence[str]] = None, expected_seeds: Optional[int] = None,
    systems: Optional[Sequence[str]] = None, splits: Optional[Sequence[str]] = None,
    language_models: Optional[Dict[str, Path]] = None,
) -> Collection:
    """Build ``tables`` (names, benchmarks or ``all``; default: the tables of every benchmark
    that has a run) from the runs under ``runs_dir`` and write them to ``out_dir/tables/``
    (seeds 1..``expected_seeds`` exactly; cells outside ``systems`` / ``splits`` left out,
    :func:`build_table`). ``index.md``, ``runs.json`` and ``summary.json`` cover every table
    of that folder, those built now and those an earlier command built there (read back from
    their ``NAME.json``), so a second table built into one ``--out`` does not hide the first.
    ``language_models``: LM role (``slue-asr``, ``slue-ner``, ``librispeech``) -> the LM file
    that role's +LM cells need; a decoding made with another file is refused."""
    runs_dir = Path(runs_dir)
    tables_dir = Path(out_dir) / "tables"
    index = RunIndex.from_folder(runs_dir)
    index.language_models = {role: file_sha256(path) for role, path in (language_models or {}).items()}
    if tables is None:
        benchmarks = sorted({run.benchmark for run in index.runs})
        names = table_names(benchmarks) if benchmarks else []
    else:
        names = table_names(tables)
    built_tables, written, problems = {}, [], [problem.message for problem in index.problems]
    if not index.runs and not index.problems:
        problems.append(f"{runs_dir}: no run folder (a folder with a run.json) in it; see gcaf_fairseq/tables/runs.py "
                        "for the run-folder contract")
    for name in names:
        built = build_table(name, index, expected_seeds, runs_dir, systems, splits)
        built_tables[name] = built
        for suffix, text in (
            (".md", render_markdown(built, tables_dir)),
            (".csv", render_csv(built)),
            (".json", render_json(built, tables_dir)),
        ):
            path = tables_dir / f"{name}{suffix}"
            write_text_atomically(path, text)
            written.append(path)
        if name == FIGURE_TABLE:
            png = tables_dir / f"{name}.png"
            try:
                plot_fig3(built, png)
                written.append(png)
            except ImportError as error:
                problems.append(f"{png}: not drawn, matplotlib is missing ({error}); "
                                "install it (python -m pip install matplotlib) and run again")
    earlier = _earlier_tables(tables_dir, set(names), problems)
    found = {run.folder.resolve(): run.folder for run in index.runs}
    for name, document_ in earlier.items():
        for folder in _runs_used_by(document_, tables_dir):
            if folder in found:
                index.used[found[folder]].append(f"{name} (built earlier)")
    document = _runs_document(index, tables_dir)
    summaries = {name: built.summary() for name, built in built_tables.items()}
    summaries.update({name: document_.get("summary", {}) for name, document_ in earlier.items()})
    summaries = {name: summaries[name] for name in TABLES if name in summaries}  # the papers' order
    write_text_atomically(tables_dir / "runs.json", json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    written.append(tables_dir / "runs.json")
    write_text_atomically(tables_dir / "index.md", _index_markdown(summaries, set(names), document, problems))
    written.append(tables_dir / "index.md")
    write_text_atomically(tables_dir / "summary.json", json.dumps(
        {"tables": summaries, "built_now": [name for name in summaries if name in names],
         "runs": len(index.runs), "unused_runs": len(document["unused_runs"]), "problems": problems},
        indent=2, ensure_ascii=False) + "\n")
    written.append(tables_dir / "summary.json")
    return Collection(built_tables, written, index, problems)


def _earlier_tables(tables_dir: Path, built_now: set, problems: List[str]) -> Dict[str, Dict[str, Any]]:
    """The tables an earlier command built into ``tables_dir`` (their ``NAME.json``), but not now."""
    earlier = {}
    for name in TABLES:
        path = tables_dir / f"{name}.json"
        if name in built_now or not path.is_file():
            continue
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            problems.append(f"{path}: an earlier table that cannot be read ({error}); build it again or delete it")
            continue
        if isinstance(document, dict) and document.get("table") == name:
            earlier[name] = document
    return earlier


def _runs_used_by(document: Dict[str, Any], tables_dir: Path) -> List[Path]:
    """The run folders a table's JSON links its cells to (values and missing results)."""
    folders = []
    for row in document.get("rows", []):
        for cell in row.get("cells", {}).values():
            cells = [cell] + list(cell.get("components", {}).values())
            for part in cells:
                for entry in part.get("values", []) + part.get("missing", []):
                    if entry.get("run"):
                        folders.append(Path(os.path.normpath(tables_dir.resolve() / entry["run"])))
    return list(dict.fromkeys(folders))


def _index_markdown(summaries: Dict[str, Dict[str, int]], built_now: set, document: Dict[str, Any],
                    problems: List[str]) -> str:
    lines = ["# Tables", "", "Every table built into this folder (* built by the last command).", "",
             "| table | cells | filled | partial | missing | left out |", "|---|---|---|---|---|---|"]
    for name, summary in summaries.items():
        mark = " *" if name in built_now else ""
        lines.append(f"| [{TABLES[name].title}]({name}.md){mark} | {summary.get('cells', '?')} | "
                     f"{summary.get('filled', '?')} | {summary.get('partial', '?')} | {summary.get('missing', '?')} | "
                     f"{summary.get('left_out', 0)} |")
    lines += ["", f"Runs found: {len(document['runs'])}; used by no table: {len(document['unused_runs'])}"]
    reasons = {entry["run_dir"]: entry.get("ignored") for entry in document["runs"]}
    lines += [f"- `{folder}`" + (f": {reasons[folder]}" if reasons.get(folder) else "")
              for folder in document["unused_runs"]]
    if problems:
        lines += ["", f"## Problems ({len(problems)})", ""] + [f"- {problem}" for problem in problems]
    return "\n".join(lines) + "\n"
