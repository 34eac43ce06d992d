"""``python -m gcaf_fairseq.recipes.run {librilight,slue} [options] [-- hydra overrides]``: plan the
benchmark's runs from its tables and run (or, with ``--dry-run``, print) the chosen stages, in
order, in this one process. ``scripts/reproduce_librilight.sh`` and ``scripts/reproduce_slue.sh``
are this command."""

import sys
from typing import List, Optional

from .header import header
from .options import OptionError, RecipeOptions, parse_options
from .preflight import OutLock, check_paths, missing_paths
from .recipe import Recipe
from .runner import RecipeError, Runner
from .stages import STAGES


def run_recipe(options: RecipeOptions, stream=None) -> Runner:
    """Plan, check the paths given and take ``--out`` for this run alone (:mod:`.preflight`),
    then run (or print) the selected stages in order. Each stage's steps are built when the
    stage comes, from what the stages before it made."""
    recipe = Recipe(options)
    if options.dry_run:  # prints, writes nothing: a missing path is shown, not refused
        runner = Runner(options.out, True, options.parallel, stream)
        _run_stages(recipe, runner, [f"# warning: {problem}" for problem in missing_paths(options)])
        return runner
    check_paths(options)
    with OutLock(options.out):
        runner = Runner(options.out, False, options.parallel, stream)
        recipe.hash_cache = runner.cache  # model and store digests in run.json: hashed once, with the inputs'
        _run_stages(recipe, runner, [])
    return runner


def _run_stages(recipe: Recipe, runner: Runner, warnings: List[str]) -> None:
    options = recipe.options
    if not options.quiet_plan:
        for line in header(recipe) + warnings:
            runner.say(line, log=not options.dry_run)
    if options.calibrate:
        calibrate(recipe, runner)
        return
    for stage in options.stages:
        module = STAGES[stage]
        steps = module.steps(recipe)  # may find what to warn of (a store with some empty context) ...
        for line in recipe.take_notices():
            runner.say(line)
        runner.run_stage(stage, steps, parallel=options.parallel if stage == 4 else 1, name=module.NAME)
        for line in recipe.take_notices():  # ... and so may its steps
            runner.say(line)


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
    except OSError as error:  # a full disk, a folder made read-only mid-run: the path and the reason
        sys.exit(f"{prog}: error: {error}")


if __name__ == "__main__":
    main()
