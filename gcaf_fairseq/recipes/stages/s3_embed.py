"""Stage 3, embed: every context store the runs read (gcaf-embed-context, [CLS] or the last
hidden layer), all of one dataset in one process (the text encoder's start-up once). A
store's inputs are its texts and the text encoder's folder: another encoder, or other texts,
embed it again. Then each store's coverage is checked (:mod:`..context_check`): more than
``--max-empty-context`` of the utterances that should have context without any stops the
recipe, naming the store; fewer is a warning."""

from pathlib import Path
from typing import Callable, List

from ..context_check import check_coverage, context_coverage
from ..options import STAGES
from ..runner import Step
from .common import python_tool

NUMBER = 3
NAME = STAGES[NUMBER]


def steps(recipe) -> List[Step]:
    options, layout = recipe.options, recipe.layout
    device = "cpu" if options.cpu or recipe.gpus == 0 else "auto"
    result = []
    for dataset, subset, kind, pooling in recipe.context_stores():
        texts = layout.texts_file(dataset, subset, kind)
        store = layout.store_file(dataset, subset, kind, pooling)
        argv = python_tool("embed_context") + [
            "--texts", str(texts), "--text-field", "text" if kind in ("prev", "cur") else "generation",
            "--encoder", str(options.text_encoder), "--pooling", pooling, "--out", str(store), "--device", device]
        result.append(Step(NUMBER, argv, [store], inputs=[texts, options.text_encoder], batch="embed_context",
                           log=layout.context_dir(dataset) / "embed_context.log", name=f"embed {store.name}"))
    for dataset, subset, kind, pooling in recipe.context_stores():
        store, table = layout.store_file(dataset, subset, kind, pooling), layout.utterances(dataset, subset)
        result.append(Step(NUMBER, None, [], inputs=[store, table],
                           settings={"max_empty_context": options.max_empty_context},
                           text=f"check the context coverage of {store}", name=f"check {store.name}",
                           action=_check(recipe, store, table, kind, layout.texts_file(dataset, subset, kind))))
    return result


def _check(recipe, store: Path, table: Path, kind: str, texts: Path) -> Callable[[], None]:
    def check() -> None:
        warning = check_coverage(context_coverage(store, table, kind, texts), recipe.options.max_empty_context)
        if warning:
            recipe.notice(NUMBER, warning)
    return check
