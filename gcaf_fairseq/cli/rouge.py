"""``gcaf-rouge``: ROUGE-1 F of generations against the current utterance (GCAF Table 3).

Example::

    gcaf-rouge --utterances dev-other.utterances.jsonl --generations dev-other.P1.jsonl dev-other.P4.jsonl

Prints a markdown table: the row "previous GT text", then one row per generation file
(ROUGE-1 F with the current utterance's text, average number of words, utterances).
"""

import argparse
import json
from typing import List, Optional

from .console import setup_logging
from ..generation.rouge import format_table, rouge_table, table_as_dicts


def main(argv: Optional[List[str]] = None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(prog="gcaf-rouge", description=__doc__.split("\n\n")[0])
    parser.add_argument("--generations", required=True, nargs="+", help="generation file(s), one row each")
    parser.add_argument("--utterances", required=True, help="the split's utterance table (current and previous texts)")
    parser.add_argument("--stemmer", action="store_true", help="Porter stemming in rouge-score (off in the default)")
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list instead of markdown")
    parser.add_argument(
        "--allow-partial", action="store_true",
        help="score a generation file that lacks records for some utterances of the split (an unfinished run, "
        "one shard) instead of refusing it; a warning gives the counts",
    )
    args = parser.parse_args(argv)
    try:
        table = rouge_table(
            args.generations, args.utterances, use_stemmer=args.stemmer, allow_partial=args.allow_partial
        )
    except (OSError, ValueError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(json.dumps(table_as_dicts(table)) if args.json else format_table(table), flush=True)


if __name__ == "__main__":
    main()
