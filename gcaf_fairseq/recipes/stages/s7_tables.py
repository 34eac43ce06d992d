"""Stage 7, tables: gcaf-collect-results builds the chosen tables from the run folders
(``OUT/tables/NAME.{md,csv,json}``), from seeds 1..``--seeds`` exactly, the cells outside
``--systems`` / ``--splits`` listed as left out; ``index.md``, ``runs.json`` and
``summary.json`` cover every table built into ``OUT`` (this command's and earlier ones'). The
tables are made from everything under ``OUT/runs``: any change there builds them again."""

from typing import List

from ..language_models import language_model_arguments
from ..options import STAGES
from ..runner import Step
from .common import python_tool

NUMBER = 7
NAME = STAGES[NUMBER]


def steps(recipe) -> List[Step]:
    options, layout = recipe.options, recipe.layout
    argv = python_tool("collect_results") + [str(layout.runs), "--out", str(options.out),
                                             "--tables", *options.tables, "--seeds", str(options.seeds)]
    if options.systems:
        argv += ["--systems", *options.systems]
    if options.splits:
        argv += ["--splits", *options.splits]
    argv += language_model_arguments(recipe)  # a +LM cell decoded with another LM file is refused
    outputs = [layout.tables / f"{name}.{ext}" for name in options.tables for ext in ("md", "csv", "json")]
    return [Step(NUMBER, argv, outputs, inputs=[layout.runs], name="tables")]
