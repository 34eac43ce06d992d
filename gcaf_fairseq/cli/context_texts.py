"""``gcaf-context-texts``: each utterance's previous (or current) ground-truth text, from the
split's utterance table, or a first decoding pass's hypothesis of it (``--hypotheses``), as
the texts file of ``gcaf-embed-context``.

Examples::

    # C1/C2, the papers' setting: the previous utterance's text
    gcaf-context-texts --utterances dev-other.utterances.jsonl --out dev-other.prev.jsonl
    gcaf-embed-context --texts dev-other.prev.jsonl --text-field text --pooling cls ...

    # the 3 previous utterances as one text, oldest first, joined by a space
    gcaf-context-texts --utterances dev-other.utterances.jsonl --out dev-other.prev3.jsonl --previous 3

    # ... or as 3 [CLS] rows of a sequence store (the model: context_pooling=sequence)
    gcaf-context-texts --utterances dev-other.utterances.jsonl --out dev-other.prev3s.jsonl \\
        --previous 3 --join separate
    gcaf-embed-context --texts dev-other.prev3s.jsonl --texts-field texts --pooling cls-per-text ...

    # C3/C4: the current utterance's own text
    gcaf-context-texts --utterances dev-other.utterances.jsonl --out dev-other.cur.jsonl --current

    # two-pass decoding: a first pass's hypotheses instead of the ground truth (any layout above)
    gcaf-context-texts --utterances dev-other.utterances.jsonl --out dev-other.prev-hyp.jsonl \\
        --hypotheses decode_A/dev-other.hyp.wrd          # fairseq-generate --decoding-output
    gcaf-context-texts --utterances dev-other.utterances.jsonl --out dev-other.prev-hyp.jsonl \\
        --hypotheses decode_A/generate-dev-other.txt --manifest data/dev-other.tsv

Order (oldest first), separator and stream starts (fewer texts, none at the first
utterance: no context) are described in :mod:`gcaf_fairseq.embedding.context_texts`. The
file is written atomically; a summary (utterances, without_previous, fewer_than_previous,
unknown_previous, with --hypotheses previous_not_decoded, settings) is printed on stdout as
one JSON line.
"""

import argparse
import json
from typing import List, Optional

from .console import setup_logging
from ..embedding.context_texts import DEFAULT_SEPARATOR, JOINS, write_context_texts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gcaf-context-texts",
        description="Writes each utterance's previous (or current) ground-truth text from a split's "
        "utterance table, or a first decoding pass's hypothesis of it (--hypotheses), as a JSON-lines "
        "texts file for gcaf-embed-context.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--utterances", required=True, help="the split's {split}.utterances.jsonl")
    parser.add_argument("--out", required=True, help="JSON-lines file to write (atomically)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--previous", type=int, default=1, metavar="K",
        help="the K previous utterances of the stream, oldest first (1: the papers' setting); fewer at a "
        "stream's start, none for its first utterance (no context)",
    )
    which.add_argument("--current", action="store_true", help="the utterance's own text instead (C3/C4)")
    parser.add_argument(
        "--join", choices=JOINS, default="concat",
        help="concat: one text {id, prev_id, text}, the K texts joined by --separator; separate: a list "
        "{id, prev_id, prev_ids, texts} for gcaf-embed-context --texts-field texts --pooling cls-per-text",
    )
    parser.add_argument(
        "--separator", default=None,
        help=f"what joins the texts with --join concat (default: {DEFAULT_SEPARATOR!r}, one space)",
    )
    parser.add_argument(
        "--hypotheses", default=None, metavar="FILE",
        help="take the texts from a first decoding pass instead of the ground truth: the id-ordered "
        "SUBSET.hyp.wrd of fairseq-generate --decoding-output (its SUBSET.ids beside it), fairseq-generate's "
        "generate-SUBSET.txt (with --manifest), or JSON lines {id, text}. Neighbours outside the split were "
        "not decoded: the walk stops there (no context), counted as previous_not_decoded",
    )
    parser.add_argument(
        "--manifest", default=None, metavar="TSV",
        help="the split's fairseq manifest, to name the dataset indices of a generate-SUBSET.txt --hypotheses file",
    )
    return parser


def main(argv: Optional[List[str]] = None) -> None:
    setup_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.current and args.join == "separate":
        parser.error("--join separate lists the previous texts: it goes with --previous K, not --current")
    if args.separator is not None and (args.current or args.join == "separate"):
        parser.error("--separator joins previous texts: it goes with --previous K --join concat only")
    if not args.current and args.previous < 1:
        parser.error(f"--previous must be at least 1, got {args.previous}")
    if args.manifest is not None and args.hypotheses is None:
        parser.error("--manifest names the utterances of a --hypotheses file: it goes with --hypotheses")
    try:
        summary = write_context_texts(
            args.utterances, args.out, previous=args.previous, current=args.current, join=args.join,
            separator=DEFAULT_SEPARATOR if args.separator is None else args.separator,
            hypotheses=args.hypotheses, manifest=args.manifest,
        )
    except (OSError, ValueError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
