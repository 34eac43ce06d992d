"""``gcaf-merge-generations``: merge the shard files of one generation run into one file.

Example::

    gcaf-merge-generations --utterances train.utterances.jsonl --out train.P4.jsonl train.P4.shard*.jsonl

Checks that the shards share one set of settings and cover every utterance of the split
exactly once (naming the shard to rerun when some are missing), then writes the records
in table order, with a header. The summary is printed on stdout as one JSON line.
"""

import argparse
import json
from typing import List, Optional

from .console import setup_logging
from ..data.utterance_table import read_utterance_table
from ..generation.generation_file import merge_generations


def main(argv: Optional[List[str]] = None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(prog="gcaf-merge-generations", description=__doc__.split("\n\n")[0])
    parser.add_argument("--utterances", required=True, help="the split's utterance table the shards were made from")
    parser.add_argument("--out", required=True, help="merged generation file (header: OUT.header.json)")
    parser.add_argument("shards", nargs="+", help="shard generation files")
    args = parser.parse_args(argv)
    try:
        expected_ids = [row["id"] for row in read_utterance_table(args.utterances) if row["in_split"]]
        summary = merge_generations(args.shards, expected_ids, args.out)
    except (OSError, ValueError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
