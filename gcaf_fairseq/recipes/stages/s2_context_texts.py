"""Stage 2, context texts: each utterance's previous (C1/C2) or current (C3/C4) ground-truth
text (gcaf-context-texts), and the LLM generations of the D rows, E's teacher and GCAF
Table 3 (gcaf-generate-context; sharded over several servers or GPUs, then merged).

A generation resumes from its file. When only the utterance table changed (an edited
transcript), the records whose previous text changed are generated again (``--redo-changed``)
and the others kept; when the LLM or the generation settings changed, the file is made anew.
"""

from pathlib import Path
from typing import Callable, Dict, List, Tuple

from ...generation.generation_file import header_path
from ..options import STAGES
from ..runner import Changes, Step, remove_outputs
from .common import python_tool

NUMBER = 2
NAME = STAGES[NUMBER]


def steps(recipe) -> List[Step]:
    layout = recipe.layout
    result: List[Step] = []
    for dataset, subset, kind, _ in recipe.context_stores():
        if kind in ("prev", "cur"):
            out = layout.texts_file(dataset, subset, kind)
            table = layout.utterances(dataset, subset)
            argv = python_tool("context_texts") + ["--utterances", str(table), "--out", str(out)]
            if kind == "cur":
                argv.append("--current")
            result.append(Step(NUMBER, argv, [out], inputs=[table], stdout=out.with_suffix(".summary.json"),
                               name=f"{kind} texts {dataset} {subset}"))
    result = list({step.key(): step for step in result}.values())
    single: Dict[Tuple[str, str], List[Step]] = {}
    for dataset, subset, prompt, llm in recipe.generations():
        generated = generation_steps(recipe, dataset, subset, prompt, llm)
        if len(generated) == 1:  # one backend: every subset of one prompt and LLM in one process (one model load)
            single.setdefault((prompt, llm), []).extend(generated)
        else:
            result += generated
    for generated in single.values():
        result += generated
    return result


def _keep_unless_the_llm_changed(step: Step, table: Path) -> Callable[[Changes], None]:
    """A generation file is kept when only its utterance table changed: ``--redo-changed``
    generates the changed records again. Other settings or another LLM: made anew."""
    remove = remove_outputs(step)

    def discard(changes: Changes) -> None:
        if changes.settings or changes.outputs or (changes.inputs - {str(table)}):
            remove(changes)
            Path(header_path(step.outputs[0])).unlink(missing_ok=True)
    return discard


def generation_steps(recipe, dataset: str, subset: str, prompt: str, llm: str) -> List[Step]:
    options, layout = recipe.options, recipe.layout
    source = options.llms[llm]
    out = layout.texts_file(dataset, subset, f"{prompt}-{llm}")
    table = layout.utterances(dataset, subset)
    log = layout.context_dir(dataset) / "generate_context.log"
    base = python_tool("generate_context") + ["--utterances", str(table), "--prompt", prompt,
                                              "--template", options.llm_template,
                                              "--max-new-tokens", str(options.llm_max_new_tokens),
                                              "--redo-changed", "--no-progress"]
    if source.backend == "hf":
        devices = [f"cuda:{index}" for index in range(recipe.gpus)] if recipe.gpus > 1 else \
            ["cpu" if options.cpu else "auto"]
        backends = [["--backend", "hf", "--model", source.model_dir, "--device", device] for device in devices]
        model_inputs = [source.model_dir]
    else:
        backends = [["--backend", "openai", "--model", source.name, "--base-url", url] for url in source.urls]
        model_inputs = []
    name = f"generate {prompt}-{llm} {dataset} {subset}"
    if len(backends) == 1:
        step = Step(NUMBER, base + ["--out", str(out)] + backends[0], [out], inputs=[table, *model_inputs],
                    batch="generate_context", log=log, name=name)
        step.discard = _keep_unless_the_llm_changed(step, table)
        return [step]
    shards, result = [], []
    group = f"generate {out.name}"
    for index, backend in enumerate(backends, 1):
        shard = out.parent / "shards" / f"{out.name}.shard{index}of{len(backends)}"
        shards.append(shard)
        step = Step(NUMBER, base + ["--out", str(shard), "--shard", f"{index}/{len(backends)}"] + backend, [shard],
                    inputs=[table, *model_inputs], group=group, log=log, name=f"{name} shard {index}")
        step.discard = _keep_unless_the_llm_changed(step, table)
        result.append(step)
    merge = python_tool("merge_generations") + ["--utterances", str(table), "--out", str(out), *map(str, shards)]
    result.append(Step(NUMBER, merge, [out], inputs=[table, *shards], name=f"merge {out.name}"))
    return result
