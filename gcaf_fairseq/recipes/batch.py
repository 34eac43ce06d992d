"""``python -m gcaf_fairseq.recipes.batch TOOL [--skip-existing] --job 'ARGS' [--job 'ARGS' ...]``:
run one ``gcaf_fairseq.cli`` tool on several argument lists in one process.

Each ``--job`` is the tool's command line (shell-quoted, as printed by ``--dry-run``); the
tool's ``main`` runs on it as if it had been started alone, and a failing job (its
``SystemExit`` with a non-zero status) stops the batch with that status. With
``--skip-existing``, a job whose ``--out`` file exists is skipped: the tools write their
``--out`` atomically, so an existing one is complete. One process for all jobs saves the
start-up of torch and transformers per job (about 5 s each on two CPU cores): the recipes
embed every store of a stage, and generate every subset of one prompt and LLM, in one batch.
"""

import argparse
import importlib
import shlex
import sys
from pathlib import Path
from typing import List, Optional

TOOLS = ("embed_context", "generate_context", "context_texts")


def _out_of(arguments: List[str]) -> Optional[Path]:
    for index, argument in enumerate(arguments[:-1]):
        if argument == "--out":
            return Path(arguments[index + 1])
    return None


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gcaf_fairseq.recipes.batch")
    parser.add_argument("tool", choices=TOOLS)
    parser.add_argument("--skip-existing", action="store_true", help="skip a job whose --out file exists")
    parser.add_argument("--job", action="append", required=True, help="one command line of the tool")
    args = parser.parse_args(argv)
    tool = importlib.import_module(f"gcaf_fairseq.cli.{args.tool}")
    for job in args.job:
        arguments = shlex.split(job)
        out = _out_of(arguments)
        if args.skip_existing and out is not None and out.exists():
            print(f"{args.tool}: {out} exists, skipped", flush=True)
            continue
        try:
            tool.main(arguments)
        except SystemExit as error:
            if error.code not in (None, 0):
                print(f"{args.tool} failed on: {job}", file=sys.stderr, flush=True)
                raise


if __name__ == "__main__":
    main()
