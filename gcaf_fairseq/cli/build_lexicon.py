"""``gcaf-build-lexicon``: a decoding lexicon for a word list, in the ``.ltr`` convention.

    gcaf-build-lexicon --arpa 4-gram.arpa --dict data/dict.ltr.txt --out lexicon.txt
    gcaf-build-lexicon --words words.txt train.wrd --dict data/dict.ltr.txt --out lexicon.txt

Words come from text files (split on white space) and/or an ARPA model's 1-grams; with
``--dict`` (a fairseq ``dict.ltr.txt``), words using a symbol outside it are left out and
counted. An ARPA file whose ``\\data\\`` counts disagree with the n-grams it holds, or
without its final ``\\end\\`` (a truncated download), is refused. Prints a JSON summary.
"""

import argparse
import json
from typing import List, Optional

from .console import setup_logging
from ..data.lexicon import arpa_unigrams, build_lexicon, write_lexicon
from ..data.symbol_dictionary import read_dictionary_symbols


def main(argv: Optional[List[str]] = None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(prog="gcaf-build-lexicon", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", nargs="*", default=[], help="text files whose white-space separated words to include")
    parser.add_argument("--arpa", help="include the 1-grams of this ARPA language model")
    parser.add_argument("--dict", help="fairseq dictionary (dict.ltr.txt): keep only words spelled with its symbols")
    parser.add_argument("--out", required=True, help="lexicon to write")
    args = parser.parse_args(argv)
    if not args.words and not args.arpa:
        parser.error("give --words and/or --arpa")
    words = []
    try:
        for path in args.words:
            with open(path, encoding="utf-8") as text:
                words.extend(text.read().split())
        if args.arpa:
            words.extend(arpa_unigrams(args.arpa))
        symbols = None
        if args.dict:
            symbols = set(read_dictionary_symbols(args.dict))
    except (OSError, ValueError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    kept, skipped = build_lexicon(words, symbols)
    write_lexicon(args.out, kept)
    print(json.dumps({"words": len(kept), "skipped": len(skipped), "first_skipped": skipped[:10], "out": args.out}))


if __name__ == "__main__":
    main()
