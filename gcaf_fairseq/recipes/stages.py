"""The commands of each stage of a recipe, and the resumable runner (pure Python).

Layout under ``--out``::

    OUT/data/...                     stage 1: manifests, labels, utterance tables
                                     (librispeech/: train_10m, train_1h, train_10h, train_100h,
                                     dev_clean, dev_other, test_clean, test_other;
                                     voxceleb/, voxpopuli/ (+ e2e_ner/): fine-tune, dev, test)
    OUT/context/{dataset}/...        stage 2: {subset}.prev.jsonl, {subset}.cur.jsonl (gcaf-context-texts),
                                     {subset}.P4-13B.gen.jsonl (gcaf-generate-context; shards/ when sharded)
                                     stage 3: the stores {subset}.{prev,cur,P4-13B}.{cls,seq}
    OUT/runs/...                     stages 4-6: one run folder per row x split x seed (plan.py),
                                     rouge/ (GCAF Table 3)
    OUT/tables/                      stage 7: gcaf-collect-results
    OUT/recipe.log                   every command run or skipped, with the reason

A command is *done* when its outputs exist and a stamp (``OUT/.recipe/stamps/``) records
that the same command line finished; a done command is skipped, so a rerun redoes only what
is missing or changed. Training is done when its ``train.log`` says so (the table builder's
own check); an unfinished one is rerun into the same folder, and fairseq-hydra-train resumes
from ``checkpoint_last.pt``. The tables are rebuilt only when a run folder changed since
they were written.
"""

import hashlib
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from ..data.atomic_files import write_text_atomically
from ..resources import PLUGIN_DIR, config_dir
from ..tables.runs import (RunFileError, read_run, training_state, write_run_file, write_skipped, write_timing)
from .options import STAGES, RecipeOptions
from .plan import (Plan, PlannedRun, RougeRun, context_need, knob_overrides, plan_runs, system_overlay)
from .scale import Hyperparameters, Scale, published_hyperparameters, scale_for, smoke_max_update

LIBRISPEECH_EVAL = {"dev_clean": "dev-clean", "dev_other": "dev-other", "test_clean": "test-clean",
                    "test_other": "test-other"}
LIBRISPEECH_TRAIN_ROOTS = ("train-clean-100", "train-clean-360", "train-other-500")
SLUE_SPLITS = ("fine-tune", "dev", "test")
PROMPTS = ("P1", "P2", "P3", "P4")


def python_tool(module: str) -> List[str]:
    """A package tool run with this interpreter (works without the console scripts on PATH)."""
    return [sys.executable, "-m", f"gcaf_fairseq.cli.{module}"]


def fairseq_tool(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


@dataclass
class Command:
    """One step of a stage: a command line (``argv``) or an in-process action (``action``,
    described by ``text``), with the files it makes."""

    stage: int
    argv: Optional[List[str]]
    outputs: List[Path] = field(default_factory=list)
    text: Optional[str] = None
    stdout: Optional[Path] = None  # the command's stdout goes to this file (written atomically)
    log: Optional[Path] = None  # stdout and stderr appended to this file
    action: Optional[Callable[[], None]] = None
    before: Optional[Callable[[], None]] = None
    after: Optional[Callable[[float], None]] = None  # given the command's wall seconds
    done_check: Optional[Callable[[], Optional[str]]] = None  # "why done" or None
    group: Optional[str] = None  # consecutive commands of one group run at once (shards)
    env: Dict[str, str] = field(default_factory=dict)

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
        payload = json.dumps([self.argv, self.text, [str(path) for path in self.outputs],
                              None if self.stdout is None else str(self.stdout)])
        return hashlib.sha1(payload.encode()).hexdigest()


class RecipeError(RuntimeError):
    """A command of the recipe failed; the message names it and its log."""


# ---------------------------------------------------------------- the recipe's plan

class Recipe:
    """The plan of one invocation and the commands of its stages."""

    def __init__(self, options: RecipeOptions):
        self.options = options
        self.out = options.out
        self.data = self.out / "data"
        self.context = self.out / "context"
        self.runs_dir = self.out / "runs"
        self.plan: Plan = plan_runs(options.tables, options.seeds, options.systems, options.splits)
        self.gpus = 0 if options.cpu else (options.gpus if options.gpus is not None else _detect_gpus())
        self._published: Dict[str, Hyperparameters] = {}
        self._embed_dim: Optional[int] = None
        self.notes: List[str] = []
        self._check_inputs()

    # -- inputs and sizes read from them
    def _check_inputs(self) -> None:
        needs_text = any(context_need(run).source == "store" for run in self.plan.runs)
        if needs_text and self.options.text_encoder is None:
            rows = sorted({run.system for run in self.plan.runs if context_need(run).source == "store"})
            raise ValueError(f"rows {', '.join(rows)} embed context texts: give --text-encoder DIR (BERT-base "
                             "for the papers) or leave them out with --systems")

    def embed_dim(self) -> int:
        if self._embed_dim is None:
            from .scale import text_encoder_dim

            self._embed_dim = text_encoder_dim(self.options.text_encoder)
        return self._embed_dim

    def published(self, config: str) -> Hyperparameters:
        if config not in self._published:
            self._published[config] = published_hyperparameters(config)
        return self._published[config]

    def scale(self, config: str) -> Scale:
        return scale_for(self.published(config), self.gpus, self.options.cpu, self.options.smoke,
                         self.options.precision)

    def max_update(self, config: str) -> int:
        value = smoke_max_update() if self.options.smoke else self.published(config).max_update
        for override in self.options.overrides:
            name, _, text = override.lstrip("+").partition("=")
            if name == "optimization.max_update" and text.strip().isdigit():
                value = int(text)
        return value

    # -- where things are
    def data_dir(self, dataset: str, task: str = "asr") -> Path:
        if dataset == "librilight":
            return self.data / "librispeech"
        folder = self.data / dataset
        return folder / "e2e_ner" if task == "ner" else folder

    def table_dir(self, dataset: str) -> Path:
        """Where the utterance tables of ``dataset`` are."""
        return self.data / ("librispeech" if dataset == "librilight" else dataset)

    def context_dir(self, dataset: str) -> Path:
        return self.context / ("librispeech" if dataset == "librilight" else dataset)

    def train_subset(self, run: PlannedRun) -> str:
        return f"train_{run.split}" if run.dataset == "librilight" else "fine-tune"

    def valid_subset(self, run: PlannedRun) -> str:
        return "dev_other" if run.dataset == "librilight" else "dev"

    def run_folder(self, run: PlannedRun) -> Path:
        return run.folder(self.runs_dir)

    def store_suffix(self, pooling: str) -> str:
        return "cls" if pooling == "cls" else "seq"

    def subsets_needing_context(self, run: PlannedRun) -> List[str]:
        need = context_need(run)
        subsets = [self.train_subset(run), self.valid_subset(run)]
        if need.at_decoding:
            subsets += [decoding.subset for decoding in run.sorted_decodings()]
        return list(dict.fromkeys(subsets))

    def missing_llm(self, run: PlannedRun) -> Optional[str]:
        need = context_need(run)
        if need.llm is None or need.llm in self.options.llms:
            return None
        option = "--llm DIR" if need.llm == "13B" else f"--llm {need.llm}=DIR"
        url = "--llm-url URL --llm-name NAME" if need.llm == "13B" else f"--llm-url {need.llm}=URL --llm-name {need.llm}=NAME"
        return f"no {need.llm} LLM given ({option} or {url})"

    # ---------------------------------------------------------------- stage 1: prepare
    def stage_prepare(self) -> List[Command]:
        if self.options.benchmark == "librilight":
            return self._prepare_librispeech()
        return self._prepare_slue()

    def _librispeech_subsets(self) -> List[str]:
        subsets = []
        for run in self.plan.runs:
            subsets += [self.train_subset(run), self.valid_subset(run)]
            subsets += [decoding.subset for decoding in run.sorted_decodings()]
        subsets += [rouge.subset for rouge in self.plan.rouge]
        order = ["train_10m", "train_1h", "train_10h", "train_100h", *LIBRISPEECH_EVAL]
        return [subset for subset in order if subset in subsets]

    def _dataset_root(self, name: str, option: str) -> Path:
        root = self.options.datasets.get(name)
        if root is None:
            raise ValueError(f"stage 1 (prepare) needs {option} DIR")
        return root

    def _prepare_librispeech(self) -> List[Command]:
        commands = []
        librispeech = self.options.datasets["librispeech"]
        roots = [librispeech / name for name in LIBRISPEECH_TRAIN_ROOTS] if librispeech else []
        context_roots = [root for root in roots if root.is_dir()] or roots[:1]
        for subset in self._librispeech_subsets():
            if subset in LIBRISPEECH_EVAL:
                source = self._dataset_root("librispeech", "--librispeech") / LIBRISPEECH_EVAL[subset]
                roots_here = []  # evaluation chapters are whole: their neighbours are in them
            elif subset == "train_100h":
                source = self._dataset_root("librispeech", "--librispeech") / "train-clean-100"
                roots_here = [root for root in context_roots if root != source]
            else:
                librilight = self._dataset_root("librilight", "--librilight")
                source = {"train_10m": librilight / "1h" / "0", "train_1h": librilight / "1h",
                          "train_10h": librilight}[subset]
                roots_here = context_roots
            argv = python_tool("prepare_librispeech") + [str(source), "--out", str(self.data_dir("librilight")),
                                                         "--name", subset, "--no-progress"]
            if roots_here:
                argv += ["--context-root", *map(str, roots_here)]
            outputs = [self.data_dir("librilight") / f"{subset}.{ext}" for ext in ("tsv", "ltr", "wrd", "utterances.jsonl")]
            commands.append(Command(1, argv, outputs))
        return commands

    def _slue_datasets(self) -> List[str]:
        datasets = {run.dataset for run in self.plan.runs}
        return [name for name in ("voxceleb", "voxpopuli") if name in datasets]

    def _prepare_slue(self) -> List[Command]:
        commands = []
        for dataset in self._slue_datasets():
            release = self._dataset_root(dataset, f"--slue-{dataset}")
            out = self.data / dataset
            argv = python_tool("prepare_slue") + [dataset, "--data", str(release), "--out", str(out), "--no-progress"]
            if dataset == "voxceleb":
                argv += ["--clips-dir", str(out / "clips")]
            outputs = [out / f"{split}.{ext}" for split in SLUE_SPLITS for ext in ("tsv", "utterances.jsonl")]
            commands.append(Command(1, argv, outputs))
        return commands

    # ---------------------------------------------------------------- stages 2 and 3: context
    def context_stores(self) -> List[Tuple[str, str, str, str]]:
        """(dataset, subset, kind, pooling) of every store the runs read, in a stable order."""
        stores = []
        for run in self.plan.runs:
            need = context_need(run)
            if need.source != "store" or self.missing_llm(run):
                continue
            for subset in self.subsets_needing_context(run):
                stores.append((run.dataset, subset, need.kind, need.pooling))
        return list(dict.fromkeys(stores))

    def generations(self) -> List[Tuple[str, str, str, str]]:
        """(dataset, subset, prompt, llm) of every LLM generation needed (stores and ROUGE)."""
        wanted = [(dataset, subset, kind.split("-")[0], kind.split("-")[1])
                  for dataset, subset, kind, _ in self.context_stores() if kind not in ("prev", "cur")]
        for rouge in self.plan.rouge:
            if rouge.llm in self.options.llms:
                wanted += [(rouge.dataset, rouge.subset, prompt, rouge.llm) for prompt in PROMPTS]
        return list(dict.fromkeys(wanted))

    def texts_file(self, dataset: str, subset: str, kind: str) -> Path:
        if kind in ("prev", "cur"):
            return self.context_dir(dataset) / f"{subset}.{kind}.jsonl"
        return self.context_dir(dataset) / f"{subset}.{kind}.gen.jsonl"

    def store_file(self, dataset: str, subset: str, kind: str, pooling: str) -> Path:
        return self.context_dir(dataset) / f"{subset}.{kind}.{self.store_suffix(pooling)}"

    def store_template(self, dataset: str, kind: str, pooling: str) -> str:
        return str(self.context_dir(dataset) / f"{{split}}.{kind}.{self.store_suffix(pooling)}")

    def utterances(self, dataset: str, subset: str) -> Path:
        return self.table_dir(dataset) / f"{subset}.utterances.jsonl"

    def stage_context_texts(self) -> List[Command]:
        commands = []
        for dataset, subset, kind, _ in self.context_stores():
            if kind in ("prev", "cur"):
                out = self.texts_file(dataset, subset, kind)
                argv = python_tool("context_texts") + ["--utterances", str(self.utterances(dataset, subset)),
                                                       "--out", str(out)]
                if kind == "cur":
                    argv.append("--current")
                commands.append(Command(2, argv, [out], stdout=out.with_suffix(".summary.json")))
        commands = list({command.key(): command for command in commands}.values())
        single: Dict[Tuple[str, str], List[Command]] = {}
        for dataset, subset, prompt, llm in self.generations():
            generated = self._generation_commands(dataset, subset, prompt, llm)
            if len(generated) == 1:  # one backend: batched per prompt and LLM (one model load)
                single.setdefault((prompt, llm), []).extend(generated)
            else:
                commands += generated
        for (prompt, llm), generated in single.items():
            jobs = [command.argv[len(python_tool("generate_context")):] for command in generated]
            commands.append(_batch(2, "generate_context", jobs, [path for command in generated
                                                                for path in command.outputs]))
        return commands

    def _generation_commands(self, dataset: str, subset: str, prompt: str, llm: str) -> List[Command]:
        source = self.options.llms[llm]
        out = self.texts_file(dataset, subset, f"{prompt}-{llm}")
        base = python_tool("generate_context") + ["--utterances", str(self.utterances(dataset, subset)),
                                                  "--prompt", prompt, "--template", self.options.llm_template,
                                                  "--max-new-tokens", str(self.options.llm_max_new_tokens),
                                                  "--no-progress"]
        if source.backend == "hf":
            devices = [f"cuda:{index}" for index in range(self.gpus)] if self.gpus > 1 else \
                ["cpu" if self.options.cpu else "auto"]
            backends = [["--backend", "hf", "--model", source.model_dir, "--device", device] for device in devices]
        else:
            backends = [["--backend", "openai", "--model", source.name, "--base-url", url] for url in source.urls]
        if len(backends) == 1:
            return [Command(2, base + ["--out", str(out)] + backends[0], [out])]
        shards, commands = [], []
        group = f"generate {out.name}"
        for index, backend in enumerate(backends, 1):
            shard = out.parent / "shards" / f"{out.name}.shard{index}of{len(backends)}"
            shards.append(shard)
            commands.append(Command(2, base + ["--out", str(shard), "--shard", f"{index}/{len(backends)}"] + backend,
                                    [shard], group=group))
        merge = python_tool("merge_generations") + ["--utterances", str(self.utterances(dataset, subset)),
                                                    "--out", str(out), *map(str, shards)]
        commands.append(Command(2, merge, [out]))
        return commands

    def stage_embed(self) -> List[Command]:
        """Every store, embedded in one process (:mod:`.batch`: the encoder's start-up once)."""
        device = "cpu" if self.options.cpu or self.gpus == 0 else "auto"
        jobs, stores = [], []
        for dataset, subset, kind, pooling in self.context_stores():
            texts = self.texts_file(dataset, subset, kind)
            store = self.store_file(dataset, subset, kind, pooling)
            jobs.append(["--texts", str(texts), "--text-field", "text" if kind in ("prev", "cur") else "generation",
                         "--encoder", str(self.options.text_encoder), "--pooling", pooling, "--out", str(store),
                         "--device", device])
            stores.append(store)
        return [_batch(3, "embed_context", jobs, stores, skip_existing=True)] if jobs else []

    # ---------------------------------------------------------------- stage 4: train
    def train_overrides(self, run: PlannedRun) -> List[str]:
        """The hydra overrides of one run (recorded in its run.json)."""
        need = context_need(run)
        overrides = [f"task.data={self.data_dir(run.dataset, run.task)}", f"model.w2v_path={self.options.w2v}",
                     f"+system={system_overlay(run)}", f"common.seed={run.seed}"]
        if run.dataset == "librilight":
            overrides.append(f"dataset.train_subset={self.train_subset(run)}")
        if need.source == "store":
            template = self.store_template(run.dataset, need.kind, need.pooling)
            overrides += [f"task.context_store='{template}'", f"model.context_embed_dim={self.embed_dim()}"]
        elif need.source == "neighbours":
            template = str(self.table_dir(run.dataset) / "{split}.utterances.jsonl")
            overrides.append(f"task.utterance_table='{template}'")
        overrides += knob_overrides(run)
        overrides += self.scale(run.config_name).overrides
        if self.options.smoke:
            overrides.append("+smoke=tiny")
        return overrides + list(self.options.overrides)

    def train_command(self, run: PlannedRun) -> List[str]:
        folder = self.run_folder(run)
        argv = [fairseq_tool("fairseq-hydra-train"), "--config-dir", str(config_dir() / "finetuning"),
                "--config-name", run.config_name, f"common.user_dir={PLUGIN_DIR}", f"checkpoint.save_dir={folder}"]
        if self.options.slurm:
            argv += ["-m", "hydra/launcher=submitit_slurm", f"hydra.launcher.partition={self.options.slurm}",
                     f"hydra.launcher.gpus_per_node={max(1, self.gpus)}",
                     f"hydra.launcher.tasks_per_node=1", f"hydra.launcher.cpus_per_task=8",
                     f"hydra.sweep.dir={folder}", "hydra.sweep.subdir=.", "hydra.launcher.timeout_min=4320",
                     # the job's own log is train.log (what tells a finished run); ours gets the launcher's output
                     f"hydra.job_logging.handlers.file.filename={folder / 'train.log'}"]
        else:
            argv.append(f"hydra.run.dir={folder}")
        return argv + self.train_overrides(run)

    def stage_train(self) -> List[Command]:
        commands = []
        for run in self.plan.runs:
            folder = self.run_folder(run)
            coordinates = run.run_file(self.train_overrides(run), self.max_update(run.config_name))
            reason = self.missing_llm(run)
            if reason:
                commands.append(Command(4, None, [folder / "skipped.json"],
                                        text=f"not trained ({reason}): write {folder}/run.json and skipped.json",
                                        action=_skip_run(folder, coordinates, reason)))
                continue
            log = folder / ("submit.log" if self.options.slurm else "train.log")
            commands.append(Command(4, self.train_command(run), [], log=log,
                                    before=_write_run_json(folder, coordinates),
                                    done_check=_training_done(folder), group=None))
        return commands

    # ---------------------------------------------------------------- stage 5: decode
    def decode_commands(self, run: PlannedRun) -> List[Command]:
        """The run's decodings: one process per run and LM setting for the CTC rows
        (:mod:`.decode`: fairseq-generate's main per subset, timing.json beside each);
        gcaf-predict-labels per subset for sentiment; skipped.json for +LM without --lm."""
        folder = self.run_folder(run)
        need = context_need(run)
        checkpoint = folder / "checkpoint_best.pt"
        data = self.data_dir(run.dataset, run.task)
        context_args: List[str] = []
        if need.at_decoding and need.source == "store":
            context_args = ["--context-store", self.store_template(run.dataset, need.kind, need.pooling)]
        elif need.at_decoding and need.source == "neighbours":
            context_args = ["--utterance-table", str(self.table_dir(run.dataset) / "{split}.utterances.jsonl")]
        commands = []
        for lm in (False, True):
            subsets = [decoding.subset for decoding in run.sorted_decodings() if decoding.lm == lm]
            if not subsets or (lm and run.task == "sentiment"):
                continue  # sentiment has no LM decoding (the tables reuse the no-LM result)
            suffix = "+lm" if lm else ""
            if lm and self.options.lm is None:
                for subset in subsets:
                    out = folder / "decode" / f"{subset}{suffix}"
                    commands.append(Command(5, None, [out / "skipped.json"],
                                            text=f"not decoded: no LM given (--lm/--lexicon): write {out}/skipped.json",
                                            action=_skip_decoding(out, "no LM given (--lm ARPA_OR_BIN --lexicon FILE)")))
                continue
            if run.task == "sentiment":
                for subset in subsets:
                    out = folder / "decode" / subset
                    prediction = out / f"{subset}.sent.pred"
                    argv = python_tool("predict_labels") + [
                        "--checkpoint", str(checkpoint), "--data", str(data), "--split", subset, "--out", str(prediction),
                        "--device", "cpu" if self.gpus == 0 else "auto"] + context_args
                    commands.append(Command(5, argv, [prediction, Path(str(prediction) + ".ref"), out / "timing.json"],
                                            log=out / "decode.log", before=_fresh_folder(out),
                                            after=_timing(out, data / f"{subset}.tsv")))
                continue
            argv = [sys.executable, "-m", "gcaf_fairseq.recipes.decode", "--out", str(folder / "decode"),
                    "--subsets", *subsets] + (["--suffix", suffix] if suffix else []) + [
                "--", str(data), "--user-dir", str(PLUGIN_DIR), "--task", "audio_context_finetuning",
                "--path", str(checkpoint), "--scoring", "wer", "--labels", "raw.ltr" if run.task == "ner" else "ltr"]
            if self.gpus == 0:
                argv.append("--cpu")
            if self.options.smoke:
                # no loader worker: decoding several subsets in one process otherwise waits seconds for
                # the previous subset's worker to shut down (+smoke=tiny sets the same for training)
                argv += ["--num-workers", "0"]
            if lm:
                argv += ["--ctc-decoder", "kenlm", "--decoder-lm", str(self.options.lm),
                         "--decoder-lexicon", str(self.options.lexicon), "--decoder-beam", "500",
                         "--decoder-lm-weight", "2", "--decoder-word-score", "1" if run.task == "ner" else "-1"]
            argv += context_args
            outputs = [folder / "decode" / f"{subset}{suffix}" / name for subset in subsets
                       for name in (f"{subset}.wer.json", f"{subset}.hyp.wrd", f"{subset}.ref.wrd", "timing.json")]
            commands.append(Command(5, argv, outputs, log=folder / "decode" / f"decode{suffix}.log",
                                    before=_fresh_folder(folder / "decode")))
        return commands

    def trained_runs(self) -> List[PlannedRun]:
        return [run for run in self.plan.runs if not self.missing_llm(run)]

    def stage_decode(self) -> List[Command]:
        return [command for run in self.trained_runs() for command in self.decode_commands(run)]

    # ---------------------------------------------------------------- stage 6: score
    def stage_score(self) -> List[Command]:
        commands = []
        for run in self.trained_runs():
            folder = self.run_folder(run)
            for decoding in run.sorted_decodings():
                if decoding.lm and (self.options.lm is None or run.task == "sentiment"):
                    continue
                out = folder / "decode" / decoding.folder_name
                subset = decoding.subset
                if run.task == "ner":
                    argv = python_tool("score") + ["ner", "--ref", str(out / f"{subset}.ref.wrd"),
                                                   "--hyp", str(out / f"{subset}.hyp.wrd"), "--tags", "combined"]
                    commands.append(Command(6, argv, [out / "ner.json"], stdout=out / "ner.json"))
                elif run.task == "sentiment":
                    prediction = out / f"{subset}.sent.pred"
                    argv = python_tool("score") + ["sentiment", "--ref", str(prediction) + ".ref",
                                                   "--hyp", str(prediction), "--id-format", "tsv"]
                    commands.append(Command(6, argv, [out / "sentiment.json"], stdout=out / "sentiment.json"))
                else:  # WER: fairseq-generate --decoding-output wrote SUBSET.wer.json; rescored from the words
                    argv = python_tool("score") + ["wer", "--ref", str(out / f"{subset}.ref.wrd"),
                                                   "--hyp", str(out / f"{subset}.hyp.wrd")]
                    commands.append(Command(6, argv, [out / "score.wer.json"], stdout=out / "score.wer.json"))
        for rouge in self.plan.rouge:
            commands += self._rouge_commands(rouge)
        return commands

    def _rouge_commands(self, rouge: RougeRun) -> List[Command]:
        folder = rouge.folder(self.runs_dir)
        coordinates = {"kind": "rouge", "dataset": rouge.dataset, "subset": rouge.subset, "llm": rouge.llm}
        if rouge.llm not in self.options.llms:
            reason = f"no {rouge.llm} LLM given (--llm DIR or --llm-url URL --llm-name NAME)"
            return [Command(6, None, [folder / "skipped.json"], text=f"not scored ({reason}): write {folder}/skipped.json",
                            action=_skip_run(folder, coordinates, reason))]
        generations = [self.texts_file(rouge.dataset, rouge.subset, f"{prompt}-{rouge.llm}") for prompt in PROMPTS]
        argv = python_tool("rouge") + ["--generations", *map(str, generations),
                                       "--utterances", str(self.utterances(rouge.dataset, rouge.subset)), "--json"]
        return [Command(6, argv, [folder / "rouge.json"], stdout=folder / "rouge.json",
                        before=_write_json(folder / "run.json", coordinates))]

    # ---------------------------------------------------------------- stage 7: tables
    def stage_tables(self) -> List[Command]:
        argv = python_tool("collect_results") + [str(self.runs_dir), "--out", str(self.out),
                                                 "--tables", *self.options.tables, "--seeds", str(self.options.seeds)]
        outputs = [self.out / "tables" / f"{name}.{ext}" for name in self.options.tables for ext in ("md", "csv", "json")]
        return [Command(7, argv, outputs, stdout=self.out / "tables" / "summary.json",
                        done_check=_tables_current(self.runs_dir, outputs))]

    def commands(self, stage: int) -> List[Command]:
        return {1: self.stage_prepare, 2: self.stage_context_texts, 3: self.stage_embed, 4: self.stage_train,
                5: self.stage_decode, 6: self.stage_score, 7: self.stage_tables}[stage]()

    # ---------------------------------------------------------------- what --dry-run prints first
    def header(self) -> List[str]:
        options = self.options
        lines = [f"# {options.benchmark} recipe: tables {', '.join(options.tables)}; {options.seeds} seed(s)",
                 f"# {len(self.plan.runs)} training runs ({len(self.plan.runs) // options.seeds} per seed), "
                 f"{sum(len(run.decodings) for run in self.plan.runs)} decodings, {self.plan.cells} cells"
                 + (f" ({self.plan.filtered_cells} cells left out by --systems/--splits)"
                    if self.plan.filtered_cells else ""),
                 f"# hardware: {'CPU' if self.gpus == 0 else f'{self.gpus} GPU(s), {options.precision}'}"
                 + (f"; SLURM partition {options.slurm} (hydra-submitit-launcher)" if options.slurm else "")]
        if options.text_encoder is not None and any(context_need(run).source == "store" for run in self.plan.runs):
            lines.append(f"# model.context_embed_dim = {self.embed_dim()} (hidden_size of "
                         f"{options.text_encoder / 'config.json'})")
        for size, source in sorted(options.llms.items()):
            lines.append(f"# LLM {size}: {source.describe()}")
        for config in dict.fromkeys(run.config_name for run in self.plan.runs):
            lines.append(f"# published {self.published(config).describe()}")
            lines.append(f"#   here: {self.scale(config).note}; max_update {self.max_update(config)}")
        if options.gpu_seconds is not None:
            lines.append(f"# estimate: {self.gpu_hours(options.gpu_seconds):,.0f} GPU-hours for the training runs at "
                         f"{options.gpu_seconds:g} GPU-s per 3.2M samples (published updates x effective batch)")
        return lines

    def gpu_hours(self, seconds_per_batch: float) -> float:
        """GPU-hours of the planned training runs: max_update x (effective batch / 3.2M samples)
        x ``seconds_per_batch`` (a 3.2M-sample forward and backward on one GPU)."""
        total = 0.0
        for run in self.trained_runs():
            published = self.published(run.config_name)
            total += self.max_update(run.config_name) * published.effective_batch / 3.2e6 * seconds_per_batch
        return total / 3600


def _detect_gpus() -> int:
    from .scale import detect_gpus

    return detect_gpus()


# ---------------------------------------------------------------- actions

def _batch(stage: int, tool: str, jobs: List[List[str]], outputs: List[Path], skip_existing: bool = False) -> Command:
    """One process running ``tool`` on each job (:mod:`.batch`)."""
    argv = [sys.executable, "-m", "gcaf_fairseq.recipes.batch", tool] + (["--skip-existing"] if skip_existing else [])
    for job in jobs:
        argv += ["--job", shlex.join(job)]
    return Command(stage, argv, outputs, log=outputs[0].parent / f"{tool}.log")


def _write_json(path: Path, data: dict) -> Callable[[], None]:
    def write() -> None:
        text = json.dumps(data, indent=2) + "\n"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            write_text_atomically(path, text)
    return write


def _write_run_json(folder: Path, coordinates: dict) -> Callable[[], None]:
    def write() -> None:
        path = folder / "run.json"
        if path.is_file():
            try:
                if json.loads(path.read_text(encoding="utf-8")) == coordinates:
                    return
            except json.JSONDecodeError:
                pass
        folder.mkdir(parents=True, exist_ok=True)
        write_run_file(folder, coordinates)
    return write


def _skip_run(folder: Path, coordinates: dict, reason: str) -> Callable[[], None]:
    def write() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(folder / "run.json", coordinates)()
        write_skipped(folder, reason)
    return write


def _skip_decoding(folder: Path, reason: str) -> Callable[[], None]:
    def write() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        write_skipped(folder, reason)
    return write


def _fresh_folder(folder: Path) -> Callable[[], None]:
    def make() -> None:
        folder.mkdir(parents=True, exist_ok=True)
    return make


def _training_done(folder: Path) -> Callable[[], Optional[str]]:
    def check() -> Optional[str]:
        if not (folder / "run.json").is_file():
            return None
        try:
            state = training_state(read_run(folder))
        except RunFileError:
            return None
        return f"trained ({state.num_updates} updates)" if state.finished and (folder / "checkpoint_best.pt").is_file() \
            else None
    return check


def _timing(folder: Path, manifest: Path) -> Callable[[float], None]:
    """``timing.json`` after a decoding: its wall seconds, utterances and audio seconds."""
    def write(seconds: float) -> None:
        lines = manifest.read_text(encoding="utf-8").splitlines()[1:]
        samples = [int(line.split("\t")[1]) for line in lines if line.strip()]
        write_timing(folder, round(seconds, 3), len(samples), round(sum(samples) / 16000, 3))
    return write


def _tables_current(runs_dir: Path, outputs: List[Path]) -> Callable[[], Optional[str]]:
    def check() -> Optional[str]:
        if not all(path.is_file() for path in outputs):
            return None
        oldest = min(path.stat().st_mtime for path in outputs)
        for folder, _, files in os.walk(runs_dir):
            for name in files:
                if name.endswith(".lock"):
                    continue
                if os.stat(os.path.join(folder, name)).st_mtime > oldest:
                    return None
        return "tables newer than every run file"
    return check


# ---------------------------------------------------------------- the runner

class Runner:
    """Runs (or, with ``dry_run``, prints) commands; skips done ones; logs to ``OUT/recipe.log``."""

    def __init__(self, out: Path, dry_run: bool, parallel: int = 1, stream=None):
        self.out = out
        self.dry_run = dry_run
        self.parallel = parallel
        self.stream = stream or sys.stdout
        self.stamps = out / ".recipe" / "stamps"
        self.log_path = out / "recipe.log"
        self._lock = threading.Lock()
        self.ran: List[str] = []

    def say(self, line: str, log: bool = True) -> None:
        with self._lock:
            print(line, file=self.stream, flush=True)
            if log and not self.dry_run:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.log_path, "a", encoding="utf-8") as handle:
                    handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    def done_reason(self, command: Command) -> Optional[str]:
        if command.done_check is not None:
            return command.done_check()
        if not command.outputs or not all(path.exists() for path in command.outputs):
            return None
        if command.argv is None:
            return "already written"
        stamp = self.stamps / f"{command.key()}.json"
        return "done" if stamp.is_file() else None

    def run_stage(self, stage: int, commands: List[Command], parallel: int = 1) -> None:
        self.say(f"# stage {stage}: {STAGES[stage]} ({len(commands)} command(s))", log=not self.dry_run)
        if self.dry_run:
            for command in commands:
                self.say(command.shell(), log=False)
            return
        batches: List[List[Command]] = []
        for command in commands:  # consecutive commands of one group run together
            if batches and command.group is not None and batches[-1][0].group == command.group:
                batches[-1].append(command)
            else:
                batches.append([command])
        if parallel > 1:  # independent commands (training runs) in parallel as well
            merged: List[List[Command]] = []
            for batch in batches:
                if merged and len(merged[-1]) < parallel and batch[0].group is None and merged[-1][0].group is None:
                    merged[-1].append(batch[0])
                else:
                    merged.append(list(batch))
            batches = merged
        for batch in batches:
            if len(batch) == 1:
                self.run_one(batch[0])
            else:
                with ThreadPoolExecutor(max_workers=len(batch)) as pool:
                    for future in [pool.submit(self.run_one, command) for command in batch]:
                        future.result()

    def run_one(self, command: Command) -> None:
        reason = self.done_reason(command)
        if reason is not None:
            self.say(f"[stage {command.stage}] skip ({reason}): {command.shell()}")
            return
        self.say(f"[stage {command.stage}] run: {command.shell()}")
        self.ran.append(command.shell())
        if command.before is not None:
            command.before()
        if command.argv is None:
            command.action()
            return
        started = time.perf_counter()
        self._execute(command)
        seconds = time.perf_counter() - started
        if command.after is not None:
            command.after(seconds)
        missing = [str(path) for path in command.outputs if not path.exists()]
        if missing:
            raise RecipeError(f"stage {command.stage}: {command.argv[0]} finished without writing "
                              f"{', '.join(missing)}: {command.shell()}")
        if command.done_check is None:
            write_text_atomically(self.stamps / f"{command.key()}.json", json.dumps(command.argv) + "\n")

    def _execute(self, command: Command) -> None:
        env = {"PYTHONUNBUFFERED": "1", **os.environ, **command.env}
        if command.log is not None:
            command.log.parent.mkdir(parents=True, exist_ok=True)
            with open(command.log, "a", encoding="utf-8") as log:
                log.write(command.shell() + "\n")
                log.flush()
                result = subprocess.run(command.argv, stdout=log, stderr=subprocess.STDOUT, env=env)
            if result.returncode != 0:
                tail = "".join(command.log.read_text(errors="replace").splitlines(keepends=True)[-30:])
                raise RecipeError(f"stage {command.stage}: exit {result.returncode}: {command.shell()}\n"
                                  f"end of {command.log}:\n{tail}")
            return
        result = subprocess.run(command.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        if result.returncode != 0:
            raise RecipeError(f"stage {command.stage}: exit {result.returncode}: {command.shell()}\n"
                              f"{result.stderr[-4000:]}")
        if command.stdout is not None:
            write_text_atomically(command.stdout, result.stdout)


def run_recipe(options: RecipeOptions, stream=None) -> Runner:
    """Plan, then run (or print) the selected stages in order."""
    recipe = Recipe(options)
    runner = Runner(options.out, options.dry_run, options.parallel, stream)
    if not options.quiet_plan:
        for line in recipe.header():
            runner.say(line, log=not options.dry_run)
    for stage in options.stages:
        runner.run_stage(stage, recipe.commands(stage), parallel=options.parallel if stage == 4 else 1)
    return runner
