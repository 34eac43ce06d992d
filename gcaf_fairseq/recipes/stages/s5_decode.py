"""Stage 5, decode: every decoding the tables read. CTC rows: one process per run and LM
setting (:mod:`gcaf_fairseq.recipes.decode`: fairseq-generate's own ``main`` per subset,
``timing.json`` beside each); sentiment: gcaf-predict-labels per subset; a +LM decoding
without ``--lm`` is marked skipped. A decoding is made from its checkpoint, its subsets'
manifests, labels and audio, the context it reads (injection rows) and the LM."""

import sys
from pathlib import Path
from typing import List

from ...resources import PLUGIN_DIR
from ...tables.runs import write_timing
from ...data.manifest import manifest_size
from ..plan import PlannedRun, context_need
from ..options import STAGES
from ..runner import Changes, Step
from .common import make_folder, python_tool, skip_decoding
from .s4_train import TASK_LABELS, label_files

NUMBER = 5
NAME = STAGES[NUMBER]


def _timing(folder: Path, manifest: Path):
    """``timing.json`` after a decoding by a tool that does not write one."""
    def write(seconds: float) -> None:
        utterances, audio_seconds = manifest_size(manifest)
        write_timing(folder, round(seconds, 3), utterances, round(audio_seconds, 3))
    return write


def _empty(folders: List[Path]):
    def discard(changes: Changes) -> None:
        import shutil

        for folder in folders:
            if folder.is_dir():
                shutil.rmtree(folder)
    return discard


def decoding_inputs(recipe, run: PlannedRun, subsets: List[str], lm: bool) -> list:
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
    if lm:
        inputs += [recipe.options.lm, recipe.options.lexicon]
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
        if lm and options.lm is None:
            for subset in subsets:
                out = folder / "decode" / f"{subset}{suffix}"
                result.append(Step(NUMBER, None, [out / "skipped.json"],
                                   text=f"not decoded: no LM given (--lm/--lexicon): write {out}/skipped.json",
                                   action=skip_decoding(out, "no LM given (--lm ARPA_OR_BIN --lexicon FILE)")))
            continue
        if run.task == "sentiment":
            for subset in subsets:
                out = folder / "decode" / subset
                prediction = out / f"{subset}.sent.pred"
                argv = python_tool("predict_labels") + [
                    "--checkpoint", str(checkpoint), "--data", str(data), "--split", subset, "--out", str(prediction),
                    "--device", "cpu" if recipe.gpus == 0 else "auto"] + context_args
                result.append(Step(NUMBER, argv, [prediction, Path(str(prediction) + ".ref"), out / "timing.json"],
                                   inputs=decoding_inputs(recipe, run, [subset], False), log=out / "decode.log",
                                   before=make_folder(out), after=_timing(out, data / f"{subset}.tsv"),
                                   discard=_empty([out]), name=f"{label} {subset}"))
            continue
        argv = [sys.executable, "-m", "gcaf_fairseq.recipes.decode", "--out", str(folder / "decode"),
                "--subsets", *subsets] + (["--suffix", suffix] if suffix else []) + [
            "--", str(data), "--user-dir", str(PLUGIN_DIR), "--task", "audio_context_finetuning",
            "--path", str(checkpoint), "--scoring", "wer", "--labels", TASK_LABELS[run.task]]
        if recipe.gpus == 0:
            argv.append("--cpu")
        if options.smoke:
            # no loader worker: decoding several subsets in one process otherwise waits seconds for
            # the previous subset's worker to shut down (+smoke=tiny sets the same for training)
            argv += ["--num-workers", "0"]
        if lm:
            argv += ["--ctc-decoder", "kenlm", "--decoder-lm", str(options.lm),
                     "--decoder-lexicon", str(options.lexicon), "--decoder-beam", "500",
                     "--decoder-lm-weight", "2", "--decoder-word-score", "1" if run.task == "ner" else "-1"]
        argv += context_args
        outputs = [folder / "decode" / f"{subset}{suffix}" / name for subset in subsets
                   for name in (f"{subset}.wer.json", f"{subset}.hyp.wrd", f"{subset}.ref.wrd", "timing.json")]
        result.append(Step(NUMBER, argv, outputs, inputs=decoding_inputs(recipe, run, subsets, lm),
                           log=folder / "decode" / f"decode{suffix}.log", before=make_folder(folder / "decode"),
                           discard=_empty([folder / "decode" / f"{subset}{suffix}" for subset in subsets]),
                           progress=("subsets", len(subsets)), name=f"{label}{suffix}"))
    return result


def steps(recipe) -> List[Step]:
    return [step for run in recipe.trained_runs() for step in run_steps(recipe, run)]
