"""Stage 5, decode: every decoding the tables read. CTC rows: one process per run and LM
setting (:mod:`gcaf_fairseq.recipes.decode`: fairseq-generate's own ``main`` per subset,
``timing.json`` of the generation loop beside each, and ``lm.json`` in each +LM folder);
sentiment: gcaf-predict-labels per subset. A +LM decoding uses the LM of its task's role
(:mod:`..language_models`: SLUE ASR the TED-LIUM 3 3-gram, SLUE NER the VoxPopuli NER
4-gram, each with SLUE-toolkit's beam, LM weight and word score); one without its LM is
marked skipped with the option to give or the command to run. A decoding is made from its
checkpoint, its subsets' manifests, labels and audio, the context it reads (injection rows)
and the LM."""

import sys
from pathlib import Path
from typing import List, Optional

from ...resources import PLUGIN_DIR
from ...tables.runs import write_timing
from ...data.language_models import LM_ROLES, lm_role
from ...data.manifest import manifest_size
from ..language_models import LmChoice, lm_choice
from ..plan import PlannedRun, context_need
from ..options import STAGES
from ..runner import Changes, Step
from .common import make_folder, python_tool, skip_decoding
from .s4_train import TASK_LABELS, label_files

NUMBER = 5
NAME = STAGES[NUMBER]


def _timing(folder: Path, manifest: Path):
    """``timing.json`` after a decoding by a tool that does not time its generation loop: the
    process's wall seconds, said so (the tables' decoding times read CTC decodings only)."""
    def write(seconds: float) -> None:
        utterances, audio_seconds = manifest_size(manifest)
        write_timing(folder, round(seconds, 3), utterances, round(audio_seconds, 3),
                     timed="the gcaf-predict-labels process's wall time, model loading included")
    return write


def _empty(folders: List[Path]):
    def discard(changes: Changes) -> None:
        import shutil

        for folder in folders:
            if folder.is_dir():
                shutil.rmtree(folder)
    return discard


def decoding_inputs(recipe, run: PlannedRun, subsets: List[str], lm: Optional[LmChoice]) -> list:
    layout, need = recipe.layout, context_need(run)
    data = layout.data_dir(run.dataset, run.task)
    inputs: list = [layout.run_folder(run) / "checkpoint_best.pt"]
    for subset in subsets:
        inputs += label_files(data, subset, run.task)
        inputs.append((data / f"{subset}.tsv", "manifest-audio"))
        if need.at_decoding and need.source == "store":
            inputs.append(layout.store_file(run.dataset, subset, need.kind, need.pooling))
        elif need.at_decoding and need.source == "neighbours":
            inputs.append(layout.utterances(run.dataset, subset))
    if lm is not None:
        inputs += [lm.lm, lm.lexicon]
    return inputs


def run_steps(recipe, run: PlannedRun) -> List[Step]:
    """The run's decodings."""
    layout, options = recipe.layout, recipe.options
    folder = layout.run_folder(run)
    need = context_need(run)
    checkpoint = folder / "checkpoint_best.pt"
    data = layout.data_dir(run.dataset, run.task)
    context_args: List[str] = []
    if need.at_decoding and need.source == "store":
        context_args = ["--context-store", layout.store_template(run.dataset, need.kind, need.pooling)]
    elif need.at_decoding and need.source == "neighbours":
        context_args = ["--utterance-table", layout.utterance_template(run.dataset)]
    result = []
    label = str(folder.relative_to(layout.runs))
    for lm in (False, True):
        subsets = [decoding.subset for decoding in run.sorted_decodings() if decoding.lm == lm]
        if not subsets or (lm and run.task == "sentiment"):
            continue  # sentiment has no LM decoding (the tables reuse the no-LM result)
        suffix = "+lm" if lm else ""
        choice = lm_choice(recipe, lm_role(run.dataset, run.task)) if lm else None
        if choice is not None and choice.missing:
            for subset in subsets:
                out = folder / "decode" / f"{subset}{suffix}"
                result.append(Step(NUMBER, None, [out / "skipped.json"], settings={"reason": choice.missing},
                                   text=f"not decoded: {choice.missing}: write {out}/skipped.json",
                                   action=skip_decoding(out, choice.missing)))
            continue
        if run.task == "sentiment":
            for subset in subsets:
                out = folder / "decode" / subset
                prediction = out / f"{subset}.sent.pred"
                argv = python_tool("predict_labels") + [
                    "--checkpoint", str(checkpoint), "--data", str(data), "--split", subset, "--out", str(prediction),
                    "--device", "cpu" if recipe.gpus == 0 else "auto"] + context_args
                result.append(Step(NUMBER, argv, [prediction, Path(str(prediction) + ".ref"), out / "timing.json"],
                                   inputs=decoding_inputs(recipe, run, [subset], None), log=out / "decode.log",
                                   before=make_folder(out), after=_timing(out, data / f"{subset}.tsv"),
                                   discard=_empty([out]), name=f"{label} {subset}"))
            continue
        argv = [sys.executable, "-m", "gcaf_fairseq.recipes.decode", "--out", str(folder / "decode"),
                "--subsets", *subsets] + (["--suffix", suffix, "--lm-role", choice.role] if choice else []) + [
            "--", str(data), "--user-dir", str(PLUGIN_DIR), "--task", "audio_context_finetuning",
            "--path", str(checkpoint), "--scoring", "wer", "--labels", TASK_LABELS[run.task]]
        if recipe.gpus == 0:
            argv.append("--cpu")
        if options.smoke:
            # no loader worker: decoding several subsets in one process otherwise waits seconds for
            # the previous subset's worker to shut down (+smoke=tiny sets the same for training)
            argv += ["--num-workers", "0"]
        if choice is not None:
            role = LM_ROLES[choice.role]
            argv += ["--ctc-decoder", "kenlm", "--decoder-lm", str(choice.lm), "--decoder-lexicon", str(choice.lexicon),
                     "--decoder-beam", str(role.beam), "--decoder-lm-weight", f"{role.lm_weight:g}",
                     "--decoder-word-score", f"{role.word_score:g}"]
        argv += context_args
        names = ("{}.wer.json", "{}.hyp.wrd", "{}.ref.wrd", "timing.json") + (("lm.json",) if choice else ())
        outputs = [folder / "decode" / f"{subset}{suffix}" / name.format(subset) for subset in subsets for name in names]
        result.append(Step(NUMBER, argv, outputs, inputs=decoding_inputs(recipe, run, subsets, choice),
                           log=folder / "decode" / f"decode{suffix}.log", before=make_folder(folder / "decode"),
                           discard=_empty([folder / "decode" / f"{subset}{suffix}" for subset in subsets]),
                           progress=("subsets", len(subsets)), name=f"{label}{suffix}"))
    return result


def steps(recipe) -> List[Step]:
    return [step for run in recipe.trained_runs() for step in run_steps(recipe, run)]
