"""``python -m gcaf_fairseq.recipes.batch TOOL --job 'ARGS' [--job 'ARGS' ...]``:
run one ``gcaf_fairseq.cli`` tool on several argument lists in one process.

Each ``--job`` is the tool's command line (shell-quoted, as printed by ``--dry-run``); the
tool's ``main`` runs on it as if it had been started alone, and a failing job (its
``SystemExit`` with a non-zero status) stops the batch with that status. Every job given
runs: which ones need to (made from other inputs or settings, or never made) is the
runner's decision, from its records (:mod:`.runner`), never a file's mere existence. One
process for all jobs saves the start-up of torch and transformers per job (about 5 s each on
two CPU cores): the recipes embed every store of a stage, and generate every subset of one
prompt and LLM, in one batch.
"""

import argparse
import importlib
import shlex
import sys
from typing import List, Optional

TOOLS = ("embed_context", "generate_context", "context_texts")


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gcaf_fairseq.recipes.batch")
    parser.add_argument("tool", choices=TOOLS)
    parser.add_argument("--job", action="append", required=True, help="one command line of the tool")
    args = parser.parse_args(argv)
    tool = importlib.import_module(f"gcaf_fairseq.cli.{args.tool}")
    for job in args.job:
        arguments = shlex.split(job)
        try:
            tool.main(arguments)
        except SystemExit as error:
            if error.code not in (None, 0):
                print(f"{args.tool} failed on: {job}", file=sys.stderr, flush=True)
                raise


if __name__ == "__main__":
    main()
