"""``python -m gcaf_fairseq.recipes.run {librilight,slue} [options] [-- hydra overrides]``: plan the
benchmark's runs from its tables and run (or, with ``--dry-run``, print) the chosen stages.
``scripts/reproduce_librilight.sh`` and ``scripts/reproduce_slue.sh`` call it once per stage."""

import sys
from typing import List, Optional

from .options import OptionError, parse_options, parse_stages
from .stages import RecipeError, run_recipe


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["stages"] and len(argv) == 2:  # the shell scripts' stage loop
        try:
            print(" ".join(str(stage) for stage in parse_stages(argv[1])))
        except OptionError as error:
            sys.exit(f"error: {error}")
        return
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
