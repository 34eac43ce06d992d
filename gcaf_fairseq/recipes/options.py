"""The options of ``scripts/reproduce_librilight.sh`` and ``scripts/reproduce_slue.sh``.

One parser for both benchmarks; what differs is the dataset options, the default tables and
what ``--splits`` filters (Libri-light: ``10m 1h 10h 100h``; SLUE: the fine-tuning tasks
``voxceleb-asr voxpopuli-asr voxpopuli-ner voxceleb-sentiment``). Anything after ``--`` is
passed to every ``fairseq-hydra-train`` run as Hydra overrides.

**The LLM of each row.** The D rows and E's teacher need an LLM of a given size (D1-D4 and E:
13B; D5 7B, D6 30B, D7 70B). Give one per size:

- ``--llm DIR`` (the hf backend): a local model folder for the 13B rows; ``--llm 7B=DIR`` (any
  ``SIZE=DIR``) for another size; repeat the option for several sizes;
- ``--llm-url [SIZE=]URL --llm-name [SIZE=]NAME``: an OpenAI-compatible server (vLLM ...);
  several ``--llm-url`` of one size shard that size's generation across the servers (shard
  k of N goes to the k-th URL; the shards are merged with ``gcaf-merge-generations``).

A row whose LLM is not given is not trained: its runs are written with ``skipped.json``
(the reason names the option), and the tables list its cells as missing with that reason.
"""

import argparse
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..tables.published import BENCHMARK_TABLES

DEFAULT_LLM_SIZE = "13B"
SLUE_TASKS = ("voxceleb-asr", "voxpopuli-asr", "voxpopuli-ner", "voxceleb-sentiment")
SLUE_TASK_ALIASES = {"vc_asr": "voxceleb-asr", "vp_asr": "voxpopuli-asr", "vp_ner": "voxpopuli-ner",
                     "vc_sa": "voxceleb-sentiment", "voxceleb-sa": "voxceleb-sentiment"}
LIBRILIGHT_SPLITS = ("10m", "1h", "10h", "100h")


class OptionError(ValueError):
    """An option the recipe cannot use; the message says which and what to give instead."""


@dataclass
class LlmSource:
    """Where one LLM size's generations come from."""

    size: str
    model_dir: Optional[str] = None  # hf backend
    urls: List[str] = field(default_factory=list)  # openai backend; several = shards
    name: Optional[str] = None  # the served model's name

    @property
    def backend(self) -> str:
        return "hf" if self.model_dir else "openai"

    def describe(self) -> str:
        if self.model_dir:
            return f"hf {self.model_dir}"
        return f"openai {self.name} at {', '.join(self.urls)}"


def _normalize_size(text: str, option: str) -> str:
    size = text.strip().upper()
    if re.fullmatch(r"\d+(\.\d+)?", size):
        size += "B"
    if not re.fullmatch(r"\d+(\.\d+)?B", size):
        raise OptionError(f"{option}: {text!r} is not an LLM size such as 7B, 13B, 30B or 70B (use SIZE=VALUE)")
    return size


def _split_sized(value: str, option: str) -> Tuple[str, str]:
    """``SIZE=VALUE`` -> (SIZE, VALUE); a bare VALUE is the 13B model's. A URL's ``://`` is not
    mistaken for a size (``13B=http://host:8000/v1`` and ``http://host:8000/v1`` both work)."""
    match = re.fullmatch(r"([0-9.]+[bB]?)=(.+)", value)
    if match:
        return _normalize_size(match.group(1), option), match.group(2)
    return DEFAULT_LLM_SIZE, value


def llm_sources(llm: Sequence[str], urls: Sequence[str], names: Sequence[str]) -> Dict[str, LlmSource]:
    """The LLM of each size from ``--llm``, ``--llm-url`` and ``--llm-name``; ``OptionError``
    for a size given twice, a URL without a name (or a name without a URL)."""
    sources: Dict[str, LlmSource] = {}
    for value in llm:
        size, folder = _split_sized(value, "--llm")
        if size in sources:
            raise OptionError(f"--llm: two models for the {size} rows ({sources[size].model_dir}, {folder}); give one")
        sources[size] = LlmSource(size, model_dir=folder)
    served: Dict[str, LlmSource] = {}
    for value in urls:
        size, url = _split_sized(value, "--llm-url")
        if size in sources:
            raise OptionError(f"--llm-url: the {size} rows already use --llm {sources[size].model_dir}; give one")
        served.setdefault(size, LlmSource(size)).urls.append(url)
    for value in names:
        size, name = _split_sized(value, "--llm-name")
        if size not in served:
            raise OptionError(f"--llm-name {value}: no --llm-url for the {size} rows; give --llm-url {size}=URL")
        if served[size].name is not None:
            raise OptionError(f"--llm-name: two names for the {size} rows; give one")
        served[size].name = name
    for size, source in served.items():
        if source.name is None:
            raise OptionError(f"--llm-url for the {size} rows needs the served model's name: --llm-name "
                              f"{'' if size == DEFAULT_LLM_SIZE else size + '='}NAME")
        sources[size] = source
    return sources


#: the recipes' numbered stages (their modules: gcaf_fairseq.recipes.stages)
STAGES = {1: "prepare", 2: "context texts", 3: "embed", 4: "train", 5: "decode", 6: "score", 7: "tables"}


class _HelpWithDefaults(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default, where it has one worth showing."""

    def _get_help_string(self, action):
        help_text = action.help or ""
        if "%(default)" in help_text or action.default in (None, False, [], argparse.SUPPRESS) \
                or not action.option_strings:
            return help_text
        return help_text + " (default: %(default)s)"


def build_parser(benchmark: str) -> argparse.ArgumentParser:
    script = f"scripts/reproduce_{benchmark}.sh"
    stage_list = "\n".join(f"  {number} {name}" for number, name in STAGES.items())
    parser = argparse.ArgumentParser(
        prog=script, formatter_class=_HelpWithDefaults,
        description=f"Reproduce the {benchmark} tables of both papers, in numbered stages:\n{stage_list}\n"
        "A step is redone only when what it is made from (its inputs' content, its settings) changed since it "
        "finished; a killed training resumes from checkpoint_last.pt. Anything after -- goes to every "
        "fairseq-hydra-train run.",
    )
    parser.add_argument("--out", required=True, help="everything goes under this folder")
    parser.add_argument("--w2v", required=True, help="the pretrained wav2vec2 checkpoint (model.w2v_path)")
    parser.add_argument("--text-encoder", help="local BERT-style encoder folder (BERT-base for the papers); its "
                        "config.json's hidden_size sets model.context_embed_dim. Needed by the C, D and E rows")
    parser.add_argument("--llm", action="append", default=[], metavar="[SIZE=]DIR",
                        help="hf backend: local LLM folder for the 13B rows (D1-D4, E), or SIZE=DIR for the "
                        "7B/30B/70B rows (D5/D6/D7); repeat for several sizes")
    parser.add_argument("--llm-url", action="append", default=[], metavar="[SIZE=]URL",
                        help="OpenAI-compatible server (vLLM ...); repeat to shard one size's generation over "
                        "several servers")
    parser.add_argument("--llm-name", action="append", default=[], metavar="[SIZE=]NAME",
                        help="the served model's name, one per size given with --llm-url")
    parser.add_argument("--llm-template", default="auto",
                        help="gcaf-generate-context --template (auto, stablebeluga, llama2, none, ...)")
    parser.add_argument("--llm-max-new-tokens", type=int, default=256,
                        help="gcaf-generate-context --max-new-tokens (256: the papers')")
    parser.add_argument("--seeds", type=int, default=3, help="fine-tunings per cell (seeds 1..N)")
    parser.add_argument("--max-empty-context", type=float, default=0.01, metavar="SHARE",
                        help="the largest share of a split's utterances that should have context (a previous "
                        "utterance; their own text for C3/C4) and have none in a store (an LLM that wrote nothing, an "
                        "empty text) that is accepted, with a warning and a footnote in the table; above it the "
                        "recipe stops, naming the store")
    tables = BENCHMARK_TABLES[benchmark]
    parser.add_argument("--tables", nargs="+", default=list(tables), metavar="NAME",
                        help=f"tables to build ({', '.join(tables)}); default: all of them")
    parser.add_argument("--systems", nargs="+", metavar="ROW",
                        help="only these rows (A, B, C1..C4, D1..D7, E, (a), (b), (c))")
    splits = LIBRILIGHT_SPLITS if benchmark == "librilight" else SLUE_TASKS
    parser.add_argument("--splits", nargs="+", metavar="SPLIT",
                        help=f"only these fine-tuning {'splits' if benchmark == 'librilight' else 'tasks'}: "
                        f"{', '.join(splits)}")
    parser.add_argument("--stage", default="all",
                        help="stages to run: all, N, N-M or a comma list (1 prepare, 2 context texts, 3 embed, "
                        "4 train, 5 decode, 6 score, 7 tables)")
    parser.add_argument("--stop-stage", type=int, metavar="M",
                        help="the last stage to run: with --stage N, stages N..M; with --stage all, 1..M")
    parser.add_argument("--quiet-plan", action="store_true", help="do not print the plan's header")
    parser.add_argument("--dry-run", action="store_true", help="print every command of every stage, run nothing")
    parser.add_argument("--cpu", action="store_true", help="run on CPU: +hardware=cpu, one process")
    parser.add_argument("--smoke", action="store_true",
                        help="a few updates per run (+smoke=tiny), update_freq 1: for tests, not for results")
    parser.add_argument("--gpus", type=int, help="GPUs to use (default: those nvidia-smi lists; 0 with --cpu)")
    parser.add_argument("--precision", choices=("fp16", "bf16", "fp32"), default="fp16",
                        help="on GPU: fp16 (the published configs), bf16 or fp32")
    parser.add_argument("--slurm", metavar="PARTITION",
                        help="send every training run as a SLURM job through hydra-submitit-launcher "
                        "(pip install hydra-submitit-launcher): fairseq-hydra-train -m "
                        "hydra/launcher=submitit_slurm hydra.launcher.partition=PARTITION; each job gets --gpus "
                        "GPUs on one node (default 1: the submitting machine's GPUs are not counted)")
    parser.add_argument("--slurm-time", type=int, default=4320, metavar="MINUTES",
                        help="with --slurm: each job's time limit (hydra.launcher.timeout_min); a job stopped by "
                        "it resumes from checkpoint_last.pt when the recipe runs again")
    parser.add_argument("--slurm-account", metavar="ACCOUNT", help="with --slurm: sbatch --account")
    parser.add_argument("--slurm-constraint", metavar="FEATURES", help="with --slurm: sbatch --constraint (e.g. a100)")
    parser.add_argument("--slurm-setting", action="append", default=[], metavar="KEY=VALUE",
                        help="with --slurm: any other setting of hydra-submitit-launcher's submitit_slurm, passed as "
                        "hydra.launcher.KEY=VALUE after the recipe's (qos=high, mem_gb=64, cpus_per_task=10, "
                        "additional_parameters={mail-user:me@x}); repeat for several")
    parser.add_argument("--launcher", default="submitit_slurm", choices=("submitit_slurm", "submitit_local"),
                        help="with --slurm: the Hydra launcher; submitit_local runs the very same jobs as local "
                        "processes (for testing the --slurm path on a machine without SLURM)")
    parser.add_argument("--parallel", type=int, default=1,
                        help="training runs started at once (with --slurm: jobs in the queue at once)")
    parser.add_argument("--calibrate", action="store_true",
                        help="measure the GPU-hours instead of assuming them: prepare the data (stage 1), then run "
                        "a few dozen real updates of each config here (one frozen, one unfrozen phase; the "
                        "audio-context rows apart), write OUT/calibration.json and stop; --dry-run then prints "
                        "each table's estimate from it")
    parser.add_argument("--calibration-updates", type=int, default=20, metavar="N",
                        help="with --calibrate: updates timed per phase (frozen, unfrozen)")
    parser.add_argument("--gpu-seconds", type=float, metavar="S",
                        help="with --dry-run and no calibration: estimate the GPU-hours from an assumed S GPU-seconds "
                        "per 3.2M audio samples (one published per-GPU batch, forward + backward; default: 2.5, a "
                        "fairseq user's report)")
    if benchmark == "librilight":
        parser.add_argument("--lm", help="KenLM model (ARPA or binary) of the +LM decodings: the LibriSpeech 4-gram")
        parser.add_argument("--lexicon", help="decoding lexicon for --lm (WORD<TAB>W O R D |)")
    else:
        parser.add_argument("--lm-asr", metavar="FILE",
                            help="KenLM model of the ASR +LM decodings (VoxCeleb, VoxPopuli): SLUE's TED-LIUM 3 "
                            "3-gram (SLUE-toolkit scripts/build_t3_lm.sh); with --lexicon-asr")
        parser.add_argument("--lexicon-asr", metavar="FILE", help="the decoding lexicon of --lm-asr")
        parser.add_argument("--lm-ner", metavar="FILE",
                            help="KenLM model of the NER +LM decodings: SLUE's VoxPopuli NER 4-gram (default: built "
                            "here from the prepared fine-tune text with KenLM's lmplz and build_binary when they are "
                            "on PATH, as SLUE-toolkit's scripts/build_vp_ner_lm.sh does)")
        parser.add_argument("--lexicon-ner", metavar="FILE",
                            help="the decoding lexicon of --lm-ner (default: built here from the prepared fine-tune "
                            "text, as SLUE-toolkit's create_lexicon.py does)")
        # SLUE decodes ASR and NER with two LMs: a single --lm is refused with that message
        parser.add_argument("--lm", help=argparse.SUPPRESS)
        parser.add_argument("--lexicon", help=argparse.SUPPRESS)
    if benchmark == "librilight":
        parser.add_argument("--librispeech", help="LibriSpeech root: dev-clean, dev-other, test-clean, test-other, "
                            "train-clean-100 (the 100h split) and the train folders where neighbours live")
        parser.add_argument("--librilight", help="librispeech_finetuning root (1h/{0..5}, 9h); 10m = fold 1h/0")
    else:
        parser.add_argument("--slue-voxceleb", help="SLUE-VoxCeleb v0.2 release folder (slue-voxceleb)")
        parser.add_argument("--slue-voxpopuli", help="SLUE-VoxPopuli v0.2 release folder (slue-voxpopuli)")
    return parser



def parse_stages(text: str, stop: Optional[int] = None) -> List[int]:
    """``all``, ``N``, ``N-M`` or ``N,M,...`` -> sorted stage numbers (1..7); ``stop`` (the
    recipe's ``--stop-stage``) makes a single ``N`` the range ``N..stop`` and ``all``
    ``1..stop``."""
    if stop is not None:
        if not 1 <= stop <= 7:
            raise OptionError(f"--stop-stage {stop}: stages are 1-7")
        if text == "all":
            return list(range(1, stop + 1))
        if not re.fullmatch(r"\s*\d\s*", text):
            raise OptionError(f"--stop-stage goes with --stage N (a single stage), not --stage {text!r}")
        first = int(text)
        if not 1 <= first <= stop:
            raise OptionError(f"--stage {first} --stop-stage {stop}: the first stage must be 1..{stop}")
        return list(range(first, stop + 1))
    if text == "all":
        return list(STAGES)
    chosen = set()
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d)\s*(?:-\s*(\d)\s*)?", part)
        if not match:
            raise OptionError(f"--stage {text!r}: use all, N, N-M or N,M (stages 1-7)")
        first, last = int(match.group(1)), int(match.group(2) or match.group(1))
        if not (1 <= first <= last <= 7):
            raise OptionError(f"--stage {text!r}: stages are 1-7")
        chosen.update(range(first, last + 1))
    return sorted(chosen)


@dataclass
class RecipeOptions:
    """The parsed options of one recipe invocation."""

    benchmark: str
    out: Path
    w2v: Path
    text_encoder: Optional[Path]
    llms: Dict[str, LlmSource]
    llm_template: str
    llm_max_new_tokens: int
    seeds: int
    tables: List[str]
    systems: Optional[List[str]]
    splits: Optional[List[str]]
    stages: List[int]
    dry_run: bool
    quiet_plan: bool
    cpu: bool
    smoke: bool
    gpus: Optional[int]
    precision: str
    slurm: Optional[str]
    parallel: int
    gpu_seconds: Optional[float]
    lm: Optional[Path]
    lexicon: Optional[Path]
    datasets: Dict[str, Optional[Path]]
    overrides: List[str]
    lm_asr: Optional[Path] = None
    lexicon_asr: Optional[Path] = None
    lm_ner: Optional[Path] = None
    lexicon_ner: Optional[Path] = None
    calibrate: bool = False
    calibration_updates: int = 20
    slurm_time: int = 4320
    slurm_account: Optional[str] = None
    slurm_constraint: Optional[str] = None
    slurm_settings: List[str] = field(default_factory=list)
    launcher: str = "submitit_slurm"

    def language_model(self, role: str) -> Tuple[Optional[Path], Optional[Path]]:
        """(LM, lexicon) given for the ``role`` LM (:mod:`gcaf_fairseq.data.language_models`)."""
        return {"librispeech": (self.lm, self.lexicon), "slue-asr": (self.lm_asr, self.lexicon_asr),
                "slue-ner": (self.lm_ner, self.lexicon_ner)}[role]
    max_empty_context: float = 0.01


def _absolute(value: Optional[str]) -> Optional[Path]:
    return None if value is None else Path(value).expanduser().absolute()


def check_overrides(parser: argparse.ArgumentParser, overrides: Sequence[str]) -> None:
    """Refuse, before anything runs, what follows ``--`` and is not a Hydra override: a recipe
    option there (``-- optimization.max_update=20 --dry-run``) would otherwise be handed to
    every training as an override, and the recipe would run for real."""
    own = {option for action in parser._actions for option in action.option_strings}
    for item in overrides:
        name = item.split("=", 1)[0]
        if name in own:
            raise OptionError(f"{name} comes after --, where only Hydra overrides for the trainings go "
                              f"(key=value): put it before --")
        if item.startswith("-"):
            raise OptionError(f"{item!r} after -- is not a Hydra override (key=value, +key=value, ~key): "
                              "recipe options go before --")


def parse_options(benchmark: str, argv: Sequence[str]) -> RecipeOptions:
    """Parse a recipe's command line (``OptionError`` or argparse's exit for bad options)."""
    from ..tables.published import table_names
    from .. import systems as registry

    argv = list(argv)
    overrides: List[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, overrides = argv[:cut], argv[cut + 1:]
    parser = build_parser(benchmark)
    check_overrides(parser, overrides)
    args = parser.parse_args(argv)
    if args.seeds < 1:
        raise OptionError(f"--seeds must be at least 1, got {args.seeds}")
    if not 0 <= args.max_empty_context <= 1:
        raise OptionError(f"--max-empty-context is a share between 0 and 1 (0.01 = 1%), got {args.max_empty_context}")
    if args.parallel < 1:
        raise OptionError(f"--parallel must be at least 1, got {args.parallel}")
    tables = table_names(args.tables)
    foreign = [name for name in tables if name not in BENCHMARK_TABLES[benchmark]]
    if foreign:
        other = "slue" if benchmark == "librilight" else "librilight"
        raise OptionError(f"--tables: {', '.join(foreign)} belong to the {other} benchmark: run "
                          f"scripts/reproduce_{other}.sh for them")
    systems = None
    if args.systems:
        systems = []
        for name in args.systems:
            canonical = registry.canonical(name)
            if canonical not in registry.paper_rows():
                raise OptionError(f"--systems: {name!r} is not a table row; use A, B, C1..C4, D1..D7, E, (a), (b), (c)")
            systems.append(canonical)
    splits = None
    if args.splits:
        known = LIBRILIGHT_SPLITS if benchmark == "librilight" else SLUE_TASKS
        splits = []
        for name in args.splits:
            name = {"10min": "10m"}.get(name, SLUE_TASK_ALIASES.get(name, name))
            if name not in known:
                raise OptionError(f"--splits: {name!r} is not one of {', '.join(known)}")
            splits.append(name)
    if benchmark == "slue" and (args.lm or args.lexicon):
        raise OptionError("SLUE decodes with two LMs, as SLUE-toolkit does: --lm-asr FILE --lexicon-asr FILE (the "
                          "TED-LIUM 3 3-gram, VoxCeleb and VoxPopuli ASR) and --lm-ner FILE [--lexicon-ner FILE] (the "
                          "VoxPopuli NER 4-gram; built here when KenLM's lmplz is on PATH); not --lm/--lexicon")
    if bool(args.lm) != bool(args.lexicon):
        raise OptionError("--lm and --lexicon go together: the KenLM decoder needs both")
    if benchmark == "slue" and bool(args.lm_asr) != bool(args.lexicon_asr):
        raise OptionError("--lm-asr and --lexicon-asr go together: the KenLM decoder needs both")
    if benchmark == "slue" and args.lexicon_ner and not args.lm_ner:
        raise OptionError("--lexicon-ner goes with --lm-ner (without both, the recipe builds SLUE's NER 4-gram and "
                          "its lexicon)")
    if args.calibration_updates < 2:
        raise OptionError(f"--calibration-updates must be at least 2, got {args.calibration_updates}")
    if args.calibrate and args.dry_run:
        raise OptionError("--calibrate runs updates and --dry-run runs nothing: calibrate first, then --dry-run "
                          "prints the estimate from OUT/calibration.json")
    for setting in args.slurm_setting:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*=.*", setting):
            raise OptionError(f"--slurm-setting {setting!r}: use KEY=VALUE (a hydra.launcher setting)")
    if args.slurm_time < 1:
        raise OptionError(f"--slurm-time must be at least 1 minute, got {args.slurm_time}")
    if args.gpus is not None and args.gpus < 0:
        raise OptionError(f"--gpus must be 0 or more, got {args.gpus}")
    if benchmark == "librilight":
        datasets = {"librispeech": _absolute(args.librispeech), "librilight": _absolute(args.librilight)}
    else:
        datasets = {"voxceleb": _absolute(args.slue_voxceleb), "voxpopuli": _absolute(args.slue_voxpopuli)}
    return RecipeOptions(
        benchmark=benchmark, out=_absolute(args.out), w2v=_absolute(args.w2v),
        text_encoder=_absolute(args.text_encoder),
        llms={size: LlmSource(size, str(_absolute(source.model_dir)), [], None) if source.model_dir else source
              for size, source in llm_sources(args.llm, args.llm_url, args.llm_name).items()},
        llm_template=args.llm_template, llm_max_new_tokens=args.llm_max_new_tokens, seeds=args.seeds, tables=tables, systems=systems, splits=splits,
        stages=parse_stages(args.stage, args.stop_stage), dry_run=args.dry_run, quiet_plan=args.quiet_plan, cpu=args.cpu, smoke=args.smoke,
        gpus=0 if args.cpu else args.gpus, precision=args.precision, slurm=args.slurm, parallel=args.parallel, gpu_seconds=args.gpu_seconds,
        lm=_absolute(args.lm), lexicon=_absolute(args.lexicon), datasets=datasets, overrides=overrides,
        lm_asr=_absolute(getattr(args, "lm_asr", None)), lexicon_asr=_absolute(getattr(args, "lexicon_asr", None)),
        lm_ner=_absolute(getattr(args, "lm_ner", None)), lexicon_ner=_absolute(getattr(args, "lexicon_ner", None)),
        calibrate=args.calibrate, calibration_updates=args.calibration_updates, slurm_time=args.slurm_time,
        slurm_account=args.slurm_account, slurm_constraint=args.slurm_constraint,
        slurm_settings=list(args.slurm_setting), launcher=args.launcher,
        max_empty_context=args.max_empty_context,
    )
