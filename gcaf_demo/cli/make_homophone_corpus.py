"""``gcaf-make-homophone-corpus``: synthesize the topic-chapter corpus whose neutral sentences
hold homophones that only the context can spell (see ``gcaf_demo/homophone_corpus.py``).

Example::

    gcaf-make-homophone-corpus --out data/homophones
    gcaf-score homophones --ref data/homophones/test.wrd --hyp hypo.wrd \\
        --targets data/homophones/test.homophones.jsonl

Prints the summary as JSON on stdout and one line per dropped homophone pair on stderr.
"""

import argparse
import json
import sys
from typing import List, Optional

from gcaf_fairseq.cli.console import setup_logging
from gcaf_demo.corpus import DEFAULT_VOICES, TOPICS
from gcaf_demo.homophone_corpus import DEFAULT_SPEEDS, build_homophone_corpus


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gcaf-make-homophone-corpus",
        description="Synthesize (espeak-ng + sox) topic chapters whose topic-neutral sentences hold a "
        "homophone spelled by the chapter's topic; only pairs espeak-ng says with identical samples are kept.",
    )
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--chapters-per-topic", type=int, default=6, help="chapters of each topic, all splits (default 6)"
    )
    parser.add_argument("--sentences-per-chapter", type=int, default=8, help="default 8")
    parser.add_argument("--valid-chapters-per-topic", type=int, default=1, help="default 1")
    parser.add_argument(
        "--test-chapters-per-topic", type=int, default=1, help="held-out chapters of each topic (default 1)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="synthesis processes in parallel (default 2)")
    parser.add_argument("--voices", help=f"comma-separated espeak-ng voices (default {','.join(DEFAULT_VOICES)})")
    parser.add_argument(
        "--speeds",
        help=f"comma-separated espeak-ng speeds in words per minute (default {','.join(map(str, DEFAULT_SPEEDS))})",
    )
    parser.add_argument(
        "--topics",
        help=f"comma-separated topics (default all: {','.join(sorted(TOPICS))}; with --pairs: their members' topics)",
    )
    parser.add_argument(
        "--pairs",
        help="comma-separated candidate pairs, e.g. FLOUR/FLOWER,KNIGHT/NIGHT,SAIL/SALE (default all; fewer pairs "
        "make each target more frequent)",
    )
    return parser


def comma_list(value: Optional[str]) -> Optional[list]:
    """``'a, b'`` -> ``['a', 'b']``; ``None`` stays ``None`` (the library default)."""
    if value is None:
        return None
    return [item.strip() for item in value.split(",") if item.strip()]


def main(argv: Optional[List[str]] = None) -> None:
    setup_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        speeds = [int(speed) for speed in comma_list(args.speeds) or []]
        summary = build_homophone_corpus(
            args.out,
            chapters_per_topic=args.chapters_per_topic,
            sentences_per_chapter=args.sentences_per_chapter,
            valid_chapters_per_topic=args.valid_chapters_per_topic,
            test_chapters_per_topic=args.test_chapters_per_topic,
            seed=args.seed,
            jobs=args.jobs,
            voices=comma_list(args.voices),
            speeds=speeds or None,
            topics=comma_list(args.topics),
            pairs=comma_list(args.pairs),
        )
    except (ValueError, RuntimeError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    for pair, reason in summary["dropped_pairs"].items():
        print(f"dropped {pair}: {reason}", file=sys.stderr)
    print(json.dumps(summary, indent=2), flush=True)


if __name__ == "__main__":
    main()
