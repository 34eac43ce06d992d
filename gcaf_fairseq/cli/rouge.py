"""``gcaf-rouge``: ROUGE-1 F of generations against the current utterance (GCAF Table 3).

Example::

    gcaf-rouge --utterances dev-other.utterances.jsonl --generations dev-other.P1.jsonl dev-other.P4.jsonl

Prints a markdown table: the row "previous GT text", then one row per generation file
(ROUGE-1 F with the current utterance's text, average number of words, utterances).
"""

import argparse
import json
import logging
from typing import List, Optional

from ..generation.rouge import format_table, rouge_table, table_as_dicts


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="gcaf-rouge", description=__doc__.split("\n\n")[0])
    parser.add_argument("--generations", required=True, nargs="+", help="generation file(s), one row each")
    parser.add_argument("--utterances", required=True, help="the split's utterance table (current and previous texts)")
    parser.add_argument("--stemmer", action="store_true", help="Porter stemming in rouge-score (off in the default)")
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list instead of markdown")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        table = rouge_table(args.generations, args.utterances, use_stemmer=args.stemmer)
    except (OSError, ValueError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(json.dumps(table_as_dicts(table)) if args.json else format_table(table), flush=True)


if __name__ == "__main__":
    main()
