"""Stage 6, score: NER F1 with SLUE's combined tags (gcaf-score ner), sentiment macro F1
(gcaf-score sentiment) of every decoding, and ROUGE-1 of the generations (gcaf-rouge, GCAF
Table 3). Each score is made from the files it reads. WER has one source, the decoding's
own ``SUBSET.wer.json`` (fairseq-generate --decoding-output, stage 5), which the tables read:
no second WER file is written here."""

from pathlib import Path
from typing import List

from ..language_models import lm_missing
from ..plan import RougeRun
from ..recipe import PROMPTS
from ..options import STAGES
from ..runner import Step
from .common import python_tool, skip_run, write_json

NUMBER = 6
NAME = STAGES[NUMBER]


def steps(recipe) -> List[Step]:
    result = []
    layout = recipe.layout
    for run in recipe.trained_runs():
        folder = layout.run_folder(run)
        for decoding in run.sorted_decodings():
            if decoding.lm and (run.task == "sentiment" or lm_missing(recipe, run)):
                continue
            out = folder / "decode" / decoding.folder_name
            subset = decoding.subset
            name = f"{folder.relative_to(layout.runs)} {decoding.folder_name}"
            if run.task == "ner":
                ref, hyp = out / f"{subset}.ref.wrd", out / f"{subset}.hyp.wrd"
                argv = python_tool("score") + ["ner", "--ref", str(ref), "--hyp", str(hyp), "--tags", "combined"]
                result.append(Step(NUMBER, argv, [out / "ner.json"], inputs=[ref, hyp], stdout=out / "ner.json",
                                   name=name))
            elif run.task == "sentiment":
                prediction = out / f"{subset}.sent.pred"
                reference = Path(str(prediction) + ".ref")
                argv = python_tool("score") + ["sentiment", "--ref", str(reference), "--hyp", str(prediction),
                                               "--id-format", "tsv"]
                result.append(Step(NUMBER, argv, [out / "sentiment.json"], inputs=[reference, prediction],
                                   stdout=out / "sentiment.json", name=name))
    for rouge in recipe.plan.rouge:
        result += rouge_steps(recipe, rouge)
    return result


def rouge_steps(recipe, rouge: RougeRun) -> List[Step]:
    layout = recipe.layout
    folder = rouge.folder(layout.runs)
    coordinates = {"kind": "rouge", "dataset": rouge.dataset, "subset": rouge.subset, "llm": rouge.llm}
    if rouge.llm not in recipe.options.llms:
        reason = f"no {rouge.llm} LLM given (--llm DIR or --llm-url URL --llm-name NAME)"
        return [Step(NUMBER, None, [folder / "skipped.json"], settings={"coordinates": coordinates},
                     text=f"not scored ({reason}): write {folder}/skipped.json",
                     action=skip_run(folder, coordinates, reason))]
    generations = [layout.texts_file(rouge.dataset, rouge.subset, f"{prompt}-{rouge.llm}") for prompt in PROMPTS]
    table = layout.utterances(rouge.dataset, rouge.subset)
    argv = python_tool("rouge") + ["--generations", *map(str, generations), "--utterances", str(table), "--json"]
    return [Step(NUMBER, argv, [folder / "rouge.json"], inputs=[*generations, table], stdout=folder / "rouge.json",
                 settings={"coordinates": coordinates}, before=write_json(folder / "run.json", coordinates),
                 name=f"rouge {rouge.subset}-{rouge.llm}")]
