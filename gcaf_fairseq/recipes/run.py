"""``python -m gcaf_fairseq.recipes.run {librilight,slue} [options] [-- hydra overrides]``: plan the
benchmark's runs from its tables and run (or, with ``--dry-run``, print) the chosen stages, in
order, in this one process. ``scripts/reproduce_librilight.sh`` and ``scripts/reproduce_slue.sh``
are this command."""

import sys
from typing import List, Optional

from .header import header
from .options import OptionError, RecipeOptions, parse_options
from .recipe import Recipe
from .runner import RecipeError, Runner
from .stages import STAGES


def run_recipe(options: RecipeOptions, stream=None) -> Runner:
    """Plan, then run (or print) the selected stages in order. Each stage's steps are built
    when the stage comes, from what the stages before it made."""
    recipe = Recipe(options)
    runner = Runner(options.out, options.dry_run, options.parallel, stream)
    if not options.quiet_plan:
        for line in header(recipe):
            runner.say(line, log=not options.dry_run)
    if options.calibrate:
        calibrate(recipe, runner)
        return runner
    for stage in options.stages:
        module = STAGES[stage]
        runner.run_stage(stage, module.steps(recipe), parallel=options.parallel if stage == 4 else 1,
                         name=module.NAME)
    return runner


def calibrate(recipe: Recipe, runner: Runner) -> None:
    """``--calibrate``: stage 1 (the data the timed updates read), the calibration runs
    (:mod:`.calibrate`), then the estimate they give; no other stage."""
    from . import calibrate as calibration
    from .estimate import estimate_lines

    runner.run_stage(1, STAGES[1].steps(recipe), name=STAGES[1].NAME)
    runner.run_stage(calibration.NUMBER, calibration.steps(recipe), name=calibration.NAME)
    for line in (calibration.calibration_summary(recipe) or []) + estimate_lines(recipe):
        runner.say(line)


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("librilight", "slue"):
        sys.exit("usage: python -m gcaf_fairseq.recipes.run {librilight,slue} [options] [-- overrides]")
    benchmark, rest = argv[0], argv[1:]
    prog = f"scripts/reproduce_{benchmark}.sh"
    try:
        options = parse_options(benchmark, rest)
        run_recipe(options)
    except (OptionError, ValueError, FileNotFoundError) as error:
        sys.exit(f"{prog}: error: {error}")
    except RecipeError as error:
        sys.exit(f"{prog}: {error}")


if __name__ == "__main__":
    main()
