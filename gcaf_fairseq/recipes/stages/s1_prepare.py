"""Stage 1, prepare: manifests, labels and utterance tables of every subset the plan needs.

Libri-light (gcaf-prepare-librispeech): ``train_10m`` (fold ``1h/0``), ``train_1h``,
``train_10h``, ``train_100h`` (``train-clean-100``), and the four LibriSpeech evaluation
sets; the training subsets look for their neighbours in LibriSpeech's training folders.
SLUE (gcaf-prepare-slue): VoxCeleb and VoxPopuli, ``fine-tune``, ``dev``, ``test``. Each
step's inputs are its source folders (transcripts by content, audio by size and time), so
an edited transcript or a replaced file prepares the subset again. SLUE's NER language model
and its lexicon are built here too, from the prepared fine-tune text, when a +LM NER cell
needs them and ``--lm-ner`` did not give one (:mod:`..language_models`).
"""

from pathlib import Path
from typing import List

from ..language_models import lm_build_steps
from ..options import STAGES
from ..runner import Step
from .common import python_tool

NUMBER = 1
NAME = STAGES[NUMBER]

LIBRISPEECH_EVAL = {"dev_clean": "dev-clean", "dev_other": "dev-other", "test_clean": "test-clean",
                    "test_other": "test-other"}
LIBRISPEECH_TRAIN_ROOTS = ("train-clean-100", "train-clean-360", "train-other-500")
SLUE_SPLITS = ("fine-tune", "dev", "test")


def steps(recipe) -> List[Step]:
    if recipe.options.benchmark == "librilight":
        return _librispeech(recipe)
    return _slue(recipe) + lm_build_steps(recipe, NUMBER)  # SLUE's NER 4-gram is made from the prepared text


def _dataset_root(recipe, name: str, option: str) -> Path:
    root = recipe.options.datasets.get(name)
    if root is None:
        raise ValueError(f"stage 1 (prepare) needs {option} DIR")
    return root


def librispeech_subsets(recipe) -> List[str]:
    layout, subsets = recipe.layout, []
    for run in recipe.plan.runs:
        subsets += [layout.train_subset(run), layout.valid_subset(run)]
        subsets += [decoding.subset for decoding in run.sorted_decodings()]
    subsets += [rouge.subset for rouge in recipe.plan.rouge]
    order = ["train_10m", "train_1h", "train_10h", "train_100h", *LIBRISPEECH_EVAL]
    return [subset for subset in order if subset in subsets]


def _librispeech(recipe) -> List[Step]:
    result = []
    librispeech = recipe.options.datasets["librispeech"]
    roots = [librispeech / name for name in LIBRISPEECH_TRAIN_ROOTS] if librispeech else []
    context_roots = [root for root in roots if root.is_dir()] or roots[:1]
    out = recipe.layout.data_dir("librilight")
    for subset in librispeech_subsets(recipe):
        if subset in LIBRISPEECH_EVAL:
            source = _dataset_root(recipe, "librispeech", "--librispeech") / LIBRISPEECH_EVAL[subset]
            roots_here = []  # evaluation chapters are whole: their neighbours are in them
        elif subset == "train_100h":
            source = _dataset_root(recipe, "librispeech", "--librispeech") / "train-clean-100"
            roots_here = [root for root in context_roots if root != source]
        else:
            librilight = _dataset_root(recipe, "librilight", "--librilight")
            source = {"train_10m": librilight / "1h" / "0", "train_1h": librilight / "1h",
                      "train_10h": librilight}[subset]
            roots_here = context_roots
        argv = python_tool("prepare_librispeech") + [str(source), "--out", str(out), "--name", subset, "--no-progress"]
        if roots_here:
            argv += ["--context-root", *map(str, roots_here)]
        outputs = [out / f"{subset}.{ext}" for ext in ("tsv", "ltr", "wrd", "utterances.jsonl")]
        result.append(Step(NUMBER, argv, outputs, inputs=[source, *roots_here], name=f"prepare {subset}"))
    return result


def slue_datasets(recipe) -> List[str]:
    datasets = {run.dataset for run in recipe.plan.runs}
    return [name for name in ("voxceleb", "voxpopuli") if name in datasets]


def _slue(recipe) -> List[Step]:
    result = []
    for dataset in slue_datasets(recipe):
        release = _dataset_root(recipe, dataset, f"--slue-{dataset}")
        out = recipe.layout.data_dir(dataset)
        argv = python_tool("prepare_slue") + [dataset, "--data", str(release), "--out", str(out), "--no-progress"]
        if dataset == "voxceleb":
            argv += ["--clips-dir", str(out / "clips")]
        outputs = [out / f"{split}.{ext}" for split in SLUE_SPLITS for ext in ("tsv", "utterances.jsonl")]
        result.append(Step(NUMBER, argv, outputs, inputs=[release], name=f"prepare {dataset}"))
    return result
