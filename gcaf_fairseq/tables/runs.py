"""Run folders: the contract between the recipes (or a user) and the table builder.

A folder of runs (``RUNS_DIR``) holds any tree of folders; every folder with a ``run.json``
is one run (its subfolders are not searched for more runs). Two kinds:

**Training run** (``"kind": "train"``, the default): one fine-tuning of one table cell at one
seed, and every decoding of it::

    RUN/
      run.json                the cell coordinates (below); written first, before training
      train.log               fairseq-hydra-train's log (json or simple log format)
      .hydra/config.yaml      the composed config (fairseq-hydra-train with hydra.run.dir=RUN)
      checkpoint_best.pt      (checkpoint_last.pt, ...)
      skipped.json            optional: {"reason": "..."}: the run was deliberately not made
      decode/SUBSET/          one folder per decoding: greedy ...
      decode/SUBSET+lm/       ... and with the KenLM model
        SUBSET.wer.json       fairseq-generate --decoding-output (decoding/decoding_output.py):
                              "wer" in percent (also SUBSET.ids/.hyp.wrd/.ref.wrd, generate-SUBSET.txt)
        ner.json              NER runs: gcaf-score ner --tags combined output ("f1")
        sentiment.json        sentiment runs: gcaf-score sentiment output ("macro_f1")
        timing.json           {"decode_seconds": S, "utterances": N, "audio_seconds": A, "real_time_factor": R,
                              "device": "cuda:0 (NVIDIA H200)", "timed": "the generation loop: ..."} (CA Fig. 3:
                              S covers the generation loop only, after a warm-up, CUDA-synchronized; model and
                              audio loading excluded; gcaf_fairseq/data/decoding_timing.py)
        lm.json               +LM decodings: which LM decoded it ({"role": "slue-ner", "lm": PATH,
                              "lm_sha256": HEX, "lexicon": ..., "beam": 500, "lm_weight": 2, "word_score": 1};
                              gcaf_fairseq/data/language_models.py); a +LM cell whose record is missing or names
                              another LM than the cell needs is refused
        skipped.json          optional: {"reason": "no LM given (--lm/--lexicon)"}: decoding not made

``SUBSET`` is the fairseq subset name: ``dev_clean``, ``dev_other``, ``test_clean``,
``test_other`` for LibriSpeech (``dev-other`` spellings are accepted too), ``dev`` and ``test``
for SLUE.

``run.json`` (keys; ``null`` values are ignored)::

    benchmark     "librilight" | "slue"          (optional: follows from dataset)
    dataset       "librilight" | "voxceleb" | "voxpopuli"
    task          "asr" | "ner" | "sentiment"     (optional for librilight: asr)
    system        A, B, C1..C4, D1..D7, E; the CA rows "(a)" (= A), "(b)" (= ca_b, audio
                  context injection), "(c)" (= B); or a family C / D whose knobs name the row
    split         "10m" | "1h" | "10h" | "100h"   (librilight; "10min" accepted) or
                  "fine-tune"                      (SLUE)
    seed          an integer
    knobs (top level, optional; each system has defaults, see gcaf_fairseq.systems):
      prompt        P1..P4                        C: -, D/E: generation prompt
      llm           "7B" | "13B" | "30B" | "70B"  (any "<N>B")
      pooling       "cls" | "sequence"            text-encoder output used as context
      context_text  "previous" | "current"        C rows: whose text is embedded
      alpha         context loss weight           B, E
      context_dim   D                             B, (b)
      window        L                             B, (b)
      offset        O                             B, (b)
      distillation  true (E) | false (C, D)
    max_update    the run's optimization.max_update (else read from the overrides or
                  .hydra/config.yaml), to tell a finished run from an unfinished one
    overrides     the hydra overrides the run was trained with (recorded, linked)
    config        the config name (librilight_1h, slue_voxceleb_asr, ...) (recorded)
    context (optional, recorded and linked by the tables; the recipes write them):
      text_encoder    {"folder", "fingerprint"}: the encoder of the stores (fingerprint: a
                      digest of the sha256 of every file of the folder)
      llm_model       {"size", "backend", "folder", "fingerprint"} (hf) or
                      {"size", "backend", "name", "urls"} (a served model): the LLM of the texts
      context_stores  [{"path", "sha256", "encoder", "texts", "should_have_context",
                      "without_context", "first_without_context"}]: every store the run read;
                      a store with utterances without context puts a footnote on the cell

A minimal ``run.json`` for a run made by hand::

    {"dataset": "librilight", "split": "1h", "system": "A", "seed": 1}

A knob that fixes a row's identity (C1's pooling and context text, D4's prompt and LLM,
E's and D's distillation) must agree with the system, else the run is refused with the
reason. Tunable knobs (B's and (b)'s alpha, D, L, O; E's prompt, LLM, pooling, alpha; D's
pooling) default to the papers' chosen setting; a run whose knobs differ from a cell's is not
that cell's run (it appears among the unused runs of ``runs.json``).

**ROUGE run** (``"kind": "rouge"``, GCAF Table 3): a folder with ``run.json``
``{"kind": "rouge", "dataset": "librilight", "subset": "dev_other", "llm": "13B"}`` and
``rouge.json``, the output of ``gcaf-rouge --json`` (rows "previous GT text" and
"generated with Pk (MODEL)").

Writers for the recipes: :func:`write_run_file` (validated as it is written),
:func:`write_skipped`, :func:`write_timing`.

Reading is robust: a run folder missing an output is a missing cell with the reason (not
trained, training unfinished: N of M updates, training failed, not decoded, no LM given,
not scored, an unreadable result); a ``run.json`` that cannot be read or is inconsistent is
a *problem*, listed with the file and what to fix, never silently dropped. Pure Python.
"""

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .. import systems
from ..data.atomic_files import write_bytes_atomically, write_text_atomically
from ..data.decoding_timing import GENERATION_LOOP
from ..data.language_models import LM_OPTIONS, lm_record_problem, lm_role
from ..systems import KNOB_ALIASES, KNOBS
from .train_log import read_training_log

RUN_FILE = "run.json"
SKIPPED_FILE = "skipped.json"
LM_SUFFIX = "+lm"

#: dataset -> (benchmark, tasks)
DATASETS = {
    "librilight": ("librilight", ("asr",)),
    "voxceleb": ("slue", ("asr", "sentiment")),
    "voxpopuli": ("slue", ("asr", "ner")),
}
SPLITS = {"librilight": ("10m", "1h", "10h", "100h"), "slue": ("fine-tune",)}
SPLIT_ALIASES = {"10min": "10m", "fine_tune": "fine-tune", "finetune": "fine-tune"}

#: what a recipe records of the context a run read (recipes/context_check.py: run_context)
CONTEXT_KEYS = ("text_encoder", "llm_model", "context_stores")
RECORDED_KEYS = {"kind", "benchmark", "dataset", "task", "system", "split", "seed", "max_update", "overrides",
                 "config", "subset", "notes", "description", "name", *CONTEXT_KEYS}


class RunFileError(ValueError):
    """A run.json that cannot be read or does not describe a cell; the message names the file."""


def _normalize_knob(path: Path, name: str, value: Any) -> Any:
    try:
        return systems.normalize_knob(str(path), name, value)
    except ValueError as error:
        raise RunFileError(str(error)) from None


def resolve_system(path: Path, system: str, given: Dict[str, Any]) -> Tuple[str, Dict[str, Any], List[str]]:
    """The canonical system, its full knob setting and notes (:func:`gcaf_fairseq.systems.resolve`);
    ``RunFileError`` when a given knob contradicts the system's identity."""
    try:
        return systems.resolve(str(path), system, given)
    except ValueError as error:
        raise RunFileError(str(error)) from None


@dataclass
class Run:
    """One run folder, its coordinates (validated) and what it recorded."""

    folder: Path
    kind: str  # "train" or "rouge"
    benchmark: str
    dataset: str
    task: str
    split: Optional[str]
    system: Optional[str]
    seed: Optional[int]
    knobs: Dict[str, Any]
    max_update: Optional[int]
    overrides: List[str]
    subset: Optional[str]  # rouge runs
    raw: Dict[str, Any]
    notes: List[str] = field(default_factory=list)

    @property
    def run_file(self) -> Path:
        return self.folder / RUN_FILE

    def coordinates(self) -> Dict[str, Any]:
        coordinates = {"kind": self.kind, "benchmark": self.benchmark, "dataset": self.dataset, "task": self.task}
        if self.kind == "rouge":
            return {**coordinates, "subset": self.subset, **self.knobs}
        return {**coordinates, "split": self.split, "system": self.system, "seed": self.seed, **self.knobs}


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RunFileError(f"{path}: cannot be read ({error})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise RunFileError(f"{path}:{error.lineno}: not JSON ({error.msg}). Fix or rewrite the file") from None


def read_run(folder: Path) -> Run:
    """The run of ``folder/run.json``; ``RunFileError`` naming the file and what to fix."""
    folder = Path(folder)
    path = folder / RUN_FILE
    data = _read_json(path)
    if not isinstance(data, dict):
        raise RunFileError(f"{path}: expected a JSON object with the run's coordinates, got {type(data).__name__}")
    data = {KNOB_ALIASES.get(key, key): value for key, value in data.items()}
    unknown = sorted(key for key in data if key not in RECORDED_KEYS and key not in KNOBS)
    if unknown:
        raise RunFileError(
            f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(RECORDED_KEYS | set(KNOBS)))}. "
            "Fix the run.json"
        )

    def required(key: str) -> Any:
        if data.get(key) is None:
            raise RunFileError(f"{path}: no {key!r}; a run.json needs dataset, split, system and seed "
                               '(e.g. {"dataset": "librilight", "split": "1h", "system": "A", "seed": 1})')
        return data[key]

    kind = str(data.get("kind") or "train")
    if kind not in ("train", "rouge"):
        raise RunFileError(f"{path}: kind is {kind!r}; expected train or rouge")
    dataset = str(required("dataset")).lower()
    if dataset not in DATASETS:
        raise RunFileError(f"{path}: dataset {dataset!r} is not one of {', '.join(DATASETS)}. Fix the run.json")
    benchmark, tasks = DATASETS[dataset]
    if data.get("benchmark") is not None and data["benchmark"] != benchmark:
        raise RunFileError(f"{path}: dataset {dataset} belongs to benchmark {benchmark}, not {data['benchmark']!r}")
    task = data.get("task") or (tasks[0] if len(tasks) == 1 or kind == "rouge" else None)
    if task is None:
        raise RunFileError(f"{path}: dataset {dataset} needs a task ({' or '.join(tasks)}). Fix the run.json")
    if task not in tasks:
        raise RunFileError(f"{path}: task {task!r} is not one of {dataset}'s ({', '.join(tasks)})")
    given = {key: _normalize_knob(path, key, data[key]) for key in KNOBS if data.get(key) is not None}
    overrides = data.get("overrides") or []
    if not isinstance(overrides, list) or not all(isinstance(item, str) for item in overrides):
        raise RunFileError(f"{path}: overrides must be a list of strings (hydra overrides)")
    for key in ("text_encoder", "llm_model"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise RunFileError(f"{path}: {key} must be an object (folder, fingerprint, ...)")
    stores = data.get("context_stores") or []
    if not isinstance(stores, list) or not all(isinstance(store, dict) and isinstance(store.get("path"), str)
                                               for store in stores):
        raise RunFileError(f"{path}: context_stores must be a list of objects with a path")
    max_update = data.get("max_update")
    if max_update is not None and (isinstance(max_update, bool) or not isinstance(max_update, int) or max_update < 0):
        raise RunFileError(f"{path}: max_update is {max_update!r}; expected a non-negative integer")

    if kind == "rouge":
        subset = required("subset")
        knobs = {"llm": given.get("llm", "13B")}
        notes = [] if "llm" in given else ["llm not given: taken as 13B"]
        return Run(folder, kind, benchmark, dataset, task, None, None, None, knobs, None, [], str(subset), data, notes)

    split = str(required("split"))
    split = SPLIT_ALIASES.get(split, split)
    if split not in SPLITS[benchmark]:
        raise RunFileError(
            f"{path}: split {data['split']!r} is not a {benchmark} training split ({', '.join(SPLITS[benchmark])})"
        )
    seed = required("seed")
    if isinstance(seed, bool) or not re.fullmatch(r"-?\d+", str(seed)):
        raise RunFileError(f"{path}: seed is {seed!r}; expected an integer")
    system, knobs, notes = resolve_system(path, str(required("system")), given)
    return Run(folder, kind, benchmark, dataset, task, split, system, int(seed), knobs, max_update,
               list(overrides), None, data, notes)


def write_run_file(folder, coordinates: Dict[str, Any]) -> Run:
    """Write ``folder/run.json`` atomically (the writer of the contract, for the recipes) and
    return the run read back; ``RunFileError`` (and no file left) when it describes no cell."""
    folder = Path(folder)
    path = folder / RUN_FILE
    previous = path.read_bytes() if path.is_file() else None
    write_text_atomically(path, json.dumps(coordinates, indent=2) + "\n")
    try:
        return read_run(folder)
    except RunFileError:
        if previous is None:
            path.unlink()
        else:
            write_bytes_atomically(path, previous)
        raise


def context_warnings(run: Run) -> List[str]:
    """One line per store the run read that left utterances without context (its run.json's
    ``context_stores``)."""
    lines = []
    for store in run.raw.get("context_stores") or []:
        missing = store.get("without_context") or 0
        if missing:
            first = ", ".join(store.get("first_without_context") or [])
            lines.append(f"{missing} of {store.get('should_have_context', '?')} utterances that should have context "
                         f"have none in {Path(store['path']).name}" + (f" (first: {first})" if first else ""))
    return lines


def write_skipped(folder, reason: str) -> None:
    """Mark a run folder or a decoding folder as deliberately not made (``skipped.json``)."""
    write_text_atomically(Path(folder) / SKIPPED_FILE, json.dumps({"reason": reason}) + "\n")


def write_timing(decode_folder, decode_seconds: float, utterances: int, audio_seconds: float, **measured) -> None:
    """A decoding's ``timing.json`` (CA Fig. 3); ``measured``: ``real_time_factor``, ``device``,
    ``timed`` (what the seconds cover: :data:`~gcaf_fairseq.data.decoding_timing.GENERATION_LOOP`
    for a CTC decoding), ``batches``."""
    write_text_atomically(Path(decode_folder) / "timing.json", json.dumps(
        {"decode_seconds": decode_seconds, "utterances": utterances, "audio_seconds": audio_seconds, **measured},
        indent=2) + "\n")


@dataclass
class Problem:
    """A run.json that does not describe a cell (never dropped silently)."""

    path: Path
    message: str


def find_runs(runs_dir: Path) -> Tuple[List[Run], List[Problem]]:
    """Every run under ``runs_dir`` (folders with a run.json, searched recursively, not below
    a run folder, hidden folders skipped), sorted by path; and the run.json files that could
    not be read, as problems."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"{runs_dir}: no such folder of runs")
    runs, problems = [], []
    for folder, subfolders, files in os.walk(runs_dir):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        if RUN_FILE in files:
            subfolders[:] = []
            try:
                runs.append(read_run(Path(folder)))
            except RunFileError as error:
                problems.append(Problem(Path(folder) / RUN_FILE, str(error)))
    return sorted(runs, key=lambda run: str(run.folder)), problems


# ---------------------------------------------------------------- training state



@dataclass
class TrainingState:
    finished: bool
    reason: Optional[str]  # why the run has no usable result; None when finished
    num_updates: Optional[int]
    max_update: Optional[int]
    notes: List[str]


def _config_max_update(config: Path) -> Optional[int]:
    """``optimization.max_update`` of a saved hydra config (read without a YAML library)."""
    in_optimization = False
    for line in config.read_text(encoding="utf-8", errors="replace").splitlines():
        if line and not line[0].isspace():
            in_optimization = line.rstrip() == "optimization:"
            continue
        match = re.fullmatch(r"\s+max_update:\s*(\d+)\s*", line)
        if in_optimization and match:
            return int(match.group(1))
    return None


def max_update_of(run: Run) -> Tuple[Optional[int], Optional[str]]:
    """The run's max_update and where it came from: run.json, its overrides, .hydra/config.yaml."""
    if run.max_update is not None:
        return run.max_update, "run.json"
    for override in reversed(run.overrides):
        match = re.fullmatch(r"\+*optimization\.max_update=(\d+)", override.strip())
        if match:
            return int(match.group(1)), "run.json overrides"
    config = run.folder / ".hydra" / "config.yaml"
    if config.is_file():
        value = _config_max_update(config)
        if value is not None:
            return value, str(config)
    return None, None


def training_state(run: Run) -> TrainingState:
    """Whether the run's training finished, from ``train.log``: a ``done training`` line, or
    ``num_updates`` reaching ``max_update``. A run without log but with a checkpoint (made by
    hand) counts as trained, with a note."""
    log = run.folder / "train.log"
    checkpoints = sorted(path.name for path in run.folder.glob("checkpoint*.pt"))
    max_update, _ = max_update_of(run)
    if not log.is_file():
        if checkpoints:
            return TrainingState(True, None, None, max_update,
                                 [f"no train.log; taken as trained from {checkpoints[0]}"])
        return TrainingState(False, "not trained (no train.log, no checkpoint)", None, max_update, [])
    report = read_training_log(log)
    num_updates = report.num_updates if report.updates_seen else None
    done, failure = report.done, report.failure
    if max_update is None:  # the log's own: the stop line, else the config logged at the last start
        max_update = report.logged_max_update
    if done or (num_updates is not None and max_update is not None and num_updates >= max_update):
        return TrainingState(True, None, num_updates, max_update, [])
    where = f"{num_updates or 0} of {max_update if max_update is not None else '?'} updates"
    if failure:
        return TrainingState(False, f"training failed at {where}: {failure} (see {log})", num_updates, max_update, [])
    if max_update is None:
        return TrainingState(False, f"training unfinished: {where} (no 'done training' line in train.log and no "
                             "max_update in run.json or .hydra/config.yaml)", num_updates, max_update, [])
    return TrainingState(False, f"training unfinished: {where}", num_updates, max_update, [])


# ---------------------------------------------------------------- decoding results

#: metric -> (file in the decoding folder, key, what writes it)
METRIC_FILES = {
    "wer": ("{subset}.wer.json", "wer", "fairseq-generate --decoding-output"),
    "ner_f1": ("ner.json", "f1", "gcaf-score ner --tags combined"),
    "sa_f1": ("sentiment.json", "macro_f1", "gcaf-score sentiment"),
    "decode_seconds": ("timing.json", "decode_seconds", "the recipe's decode stage"),
}


def subset_spellings(subset: str) -> List[str]:
    spellings = [subset]
    for other in (subset.replace("_", "-"), subset.replace("-", "_")):
        if other not in spellings:
            spellings.append(other)
    return spellings


@dataclass
class Measurement:
    """One number of one run, or the reason there is none, with the files behind it."""

    value: Optional[float]
    reason: Optional[str]
    files: Dict[str, Optional[Path]]
    notes: List[str] = field(default_factory=list)


def _skipped_reason(folder: Path) -> Optional[str]:
    path = folder / SKIPPED_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        reason = data.get("reason") if isinstance(data, dict) else None
    except (OSError, json.JSONDecodeError) as error:
        return f"skipped ({path} unreadable: {error})"
    return str(reason) if reason else f"skipped (see {path})"


def run_files(run: Run) -> Dict[str, Optional[Path]]:
    """The run's files a table links to (``None`` where absent)."""
    folder = run.folder

    def existing(path: Path) -> Optional[Path]:
        return path if path.exists() else None

    return {
        "run_dir": folder,
        "run_json": folder / RUN_FILE,
        "config": existing(folder / ".hydra" / "config.yaml"),
        "overrides": existing(folder / ".hydra" / "overrides.yaml"),
        "train_log": existing(folder / "train.log"),
        "checkpoint": existing(folder / "checkpoint_best.pt"),
    }


def decoding_folder(run: Run, subset: str, lm: bool) -> Tuple[Optional[Path], List[Path]]:
    """The run's decoding folder of ``subset`` (with or without LM) if one exists, and the
    paths looked at."""
    tried = []
    for spelling in subset_spellings(subset):
        folder = run.folder / "decode" / (spelling + (LM_SUFFIX if lm else ""))
        tried.append(folder)
        if folder.is_dir():
            return folder, tried
    return None, tried


def _decoding_problem(folder: Path, run: Run, path: Path, data: Dict[str, Any], lm: bool, metric: str,
                      language_models: Optional[Dict[str, str]]) -> Optional[str]:
    """Why a decoding's result cannot fill its cell although it was read: a +LM decoding whose
    ``lm.json`` is missing or names another LM than the cell needs; a decoding time that is not
    the generation loop's (CA Fig. 3)."""
    if lm and metric != "decode_seconds":
        problem = lm_record_problem(folder, lm_role(run.dataset, run.task), language_models)
        if problem:
            return problem
    if metric == "decode_seconds" and data.get("timed") != GENERATION_LOOP:
        return (f"{path} does not time the generation loop (it says {data.get('timed', 'nothing')!r}; a process's "
                "wall time includes model loading and start-up): decode again with the recipe")
    return None


def measure(run: Run, state: TrainingState, subset: str, lm: bool, metric: str,
            language_models: Optional[Dict[str, str]] = None) -> Measurement:
    """``metric`` of ``run`` decoded on ``subset`` (with the LM when ``lm``), or the reason
    it is missing. ``language_models``: role -> the sha256 of the LM file that role must be
    (a +LM decoding made with another is refused)."""
    files = run_files(run)
    skipped = _skipped_reason(run.folder)
    if skipped:
        return Measurement(None, f"skipped: {skipped}", files)
    if not state.finished:
        return Measurement(None, state.reason, files)
    folder, tried = decoding_folder(run, subset, lm)
    decode_name = f"decode/{subset}{LM_SUFFIX if lm else ''}/"
    if folder is None:
        if lm:
            role = lm_role(run.dataset, run.task)
            return Measurement(None, f"not decoded with an LM (no {decode_name}; the recipes need the {role} LM: "
                               f"{LM_OPTIONS[role]})", files)
        return Measurement(None, f"not decoded (no {decode_name})", files)
    files["decode_dir"] = folder
    files["decoded_files"] = sorted(
        path for path in folder.iterdir() if path.is_file() and not path.name.startswith(".")  # not temporaries
    )
    skipped = _skipped_reason(folder)
    if skipped:
        return Measurement(None, skipped, files)
    pattern, key, writer = METRIC_FILES[metric]
    candidates = [folder / pattern.format(subset=spelling) for spelling in subset_spellings(subset)]
    path = next((candidate for candidate in candidates if candidate.is_file()), None)
    if path is None:
        what = "not decoded" if metric == "wer" else ("not timed" if metric == "decode_seconds" else "not scored")
        return Measurement(None, f"{what}: no {candidates[0].name} in {folder} (written by {writer})", files)
    files["score_file"] = path
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        return Measurement(None, f"unreadable result {path}: {error}; rewrite it ({writer})", files)
    if not isinstance(data, dict) or key not in data:
        return Measurement(None, f"unreadable result {path}: no {key!r} ({writer} writes it)", files)
    if metric == "ner_f1" and data.get("tags", "combined") != "combined":
        return Measurement(None, f"{path} was scored with --tags {data.get('tags')}; the tables use the combined "
                           "tags (gcaf-score ner --tags combined)", files)
    value = data[key]
    problem = _decoding_problem(folder, run, path, data, lm, metric, language_models)
    if problem:
        return Measurement(None, problem, files)
    if value is None:
        return Measurement(None, f"{path}: {key} is null (no reference words?)", files)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return Measurement(None, f"unreadable result {path}: {key} is {value!r}, not a finite number", files)
    notes = []
    checkpoint = files.get("checkpoint")
    if checkpoint is not None and checkpoint.stat().st_mtime > path.stat().st_mtime + 1:
        notes.append(f"{path.name} is older than checkpoint_best.pt: decoded before the last checkpoint?")
    return Measurement(float(value), None, files, notes)


def rouge_rows(run: Run) -> Tuple[Optional[Dict[str, dict]], Optional[str], Dict[str, Optional[Path]]]:
    """A ROUGE run's rows keyed ``previous`` / ``P1``..``P4`` (from ``rouge.json``), or the reason
    there are none."""
    path = run.folder / "rouge.json"
    files: Dict[str, Optional[Path]] = {"run_dir": run.folder, "run_json": run.run_file, "score_file": None}
    if not path.is_file():
        return None, f"not scored: no rouge.json in {run.folder} (gcaf-rouge --json > rouge.json)", files
    files["score_file"] = path
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        return None, f"unreadable result {path}: {error}", files
    if not isinstance(data, list):
        return None, f"unreadable result {path}: expected gcaf-rouge --json's list of rows", files
    rows = {}
    for number, row in enumerate(data, 1):
        name = str(row.get("row", "")) if isinstance(row, dict) else ""
        if name == "previous GT text":
            rows["previous"] = row
        else:
            match = re.match(r"generated with (P\d)\b", name)
            if not match:
                return None, f"unreadable result {path}: row {number} ({name!r}) is not a gcaf-rouge row", files
            rows[match.group(1)] = row
    return rows, None, files
