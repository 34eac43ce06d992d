"""``gcaf-collect-results``: gather a folder of training and decoding runs into the papers' tables.

Example::

    gcaf-collect-results runs/ --out results/ --tables gcaf-table7 ca-fig3 --seeds 3

Every folder under RUNS_DIR with a ``run.json`` is a run (the run-folder contract, including a
minimal ``run.json`` for runs made by hand, is in ``gcaf_fairseq/tables/runs.py``). Writes
``OUT/tables/NAME.md``, ``.csv`` and ``.json`` per table (``ca-fig3.png`` too), and ``runs.json``,
``index.md`` and ``summary.json`` over every table in ``OUT/tables`` (built now or before); prints
this build's JSON summary on stdout. ``--seeds N`` builds from seeds 1..N exactly; ``--systems``
and ``--splits`` (a recipe's) list the other cells as left out. Missing results are marked in the tables with
their reason, never dropped. Exits with status 2 when a run.json could not be read or the
figure could not be drawn (after writing everything else), with the list on stderr.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

from .console import setup_logging
from ..data.language_models import LM_ROLES
from ..tables.builder import collect
from .. import systems as registry
from ..tables.published import TABLES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gcaf-collect-results",
        description="Build the papers' tables (mean ± std over seeds beside the published numbers) from a folder "
        "of runs, each a folder with a run.json.",
    )
    parser.add_argument("runs_dir", metavar="RUNS_DIR", help="folder searched (recursively) for run folders")
    parser.add_argument("--out", help="tables go to OUT/tables/ (default: RUNS_DIR)")
    parser.add_argument(
        "--tables", nargs="+", metavar="NAME",
        help=f"tables to build: {', '.join(TABLES)}; or librilight / slue (that benchmark's) or all. "
        "Default: the tables of every benchmark that has a run",
    )
    parser.add_argument(
        "--seeds", type=int, metavar="N",
        help="build every cell from seeds 1..N exactly: a cell with fewer is partial, a run of another seed is not "
        "used (listed in runs.json). Default: every seed found",
    )
    parser.add_argument(
        "--systems", nargs="+", metavar="ROW",
        help="only the cells of these rows (as the recipes' --systems): the others are listed as left out",
    )
    parser.add_argument(
        "--splits", nargs="+", metavar="SPLIT",
        help="only the cells of these Libri-light splits (10m 1h 10h 100h) or SLUE tasks (voxceleb-asr voxpopuli-asr "
        "voxpopuli-ner voxceleb-sentiment): the others are listed as left out",
    )
    parser.add_argument(
        "--lm", action="append", default=[], metavar="ROLE=FILE",
        help=f"the LM file the +LM cells of ROLE ({', '.join(LM_ROLES)}) need: a +LM decoding whose lm.json names "
        "another file (by sha256) is refused. Without it, a +LM decoding must still name the right role; repeat "
        "for several roles",
    )
    return parser


def language_model_files(values: List[str]) -> Dict[str, Path]:
    """``ROLE=FILE`` options -> {role: file}; ``ValueError`` for an unknown role or a missing file."""
    files = {}
    for value in values:
        role, _, path = value.partition("=")
        if role not in LM_ROLES or not path:
            raise ValueError(f"--lm {value!r}: use ROLE=FILE with ROLE one of {', '.join(LM_ROLES)}")
        if not Path(path).is_file():
            raise ValueError(f"--lm {value!r}: {path} is not a file")
        files[role] = Path(path)
    return files


def main(argv: Optional[List[str]] = None) -> None:
    setup_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.seeds is not None and args.seeds < 1:
        parser.error("--seeds must be at least 1")
    systems = [registry.canonical(name) for name in args.systems] if args.systems else None
    try:
        collection = collect(args.runs_dir, args.out or args.runs_dir, args.tables, args.seeds, systems, args.splits,
                             language_model_files(args.lm))
    except (FileNotFoundError, ValueError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    summary = {
        "runs": len(collection.index.runs),
        "tables": {name: built.summary() for name, built in collection.tables.items()},
        "written": [str(path) for path in collection.written],
        "problems": collection.problems,
    }
    print(json.dumps(summary), flush=True)
    if collection.problems:
        for problem in collection.problems:
            print(f"{parser.prog}: {problem}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
