"""``gcaf-score``: WER/CER, NER F1, sentiment macro F1 and the SLUE score, as SLUE-toolkit
computes them, from plain files; and homophone error/swap rates on the homophone corpus.

Examples::

    gcaf-score wer --ref dev.wrd --hyp hypo.wrd
    gcaf-score ner --ref ref.word-checkpoint_best.pt-dev.txt \\
        --hyp hypo.word-checkpoint_best.pt-dev.txt --id-format fairseq --tags combined
    gcaf-score sentiment --ref dev.sent --hyp pred-dev.sent
    gcaf-score slue-score --vp-wer vp_wer.json --vc-wer vc_wer.json --sa sa.json --ner ner.json
    gcaf-score homophones --ref test.wrd --hyp hypo.wrd --targets test.homophones.jsonl

Each subcommand prints one JSON object on stdout (scores in percent, unrounded). Errors
(a count or id mismatch between the files, a malformed line, an unreadable file) exit
with status 2 and a message naming the first difference.
"""

import argparse
import json
from typing import List, Optional

from .console import setup_logging
from ..scoring.aligned_files import ID_FORMATS, AlignmentError, read_aligned, with_line_ids
from ..scoring.homophones import homophone_scores, read_target_rows, targets_for_aligned
from ..scoring.ner import CHAR_TABLES, TAG_SETS, ner_scores
from ..scoring.sentiment import sentiment_scores
from ..scoring.slue_score import ResultFileError, slue_score_from_results
from ..scoring.wer import corpus_wer

ID_FORMAT_HELP = (
    "how lines pair up: 'line' (default) pairs line k with line k; 'tsv' lines are ID<TAB>TEXT; "
    "'first-field' lines are 'ID TEXT' (first whitespace-separated field); 'fairseq' lines are "
    "'TEXT (None-N)' as fairseq's infer.py writes them. Keyed files are matched by id, in reference order."
)


def _add_file_options(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--ref", required=True, help=f"reference file, one {what} per line")
    parser.add_argument("--hyp", required=True, help=f"hypothesis file, one {what} per line")
    parser.add_argument("--id-format", choices=ID_FORMATS, default="line", help=ID_FORMAT_HELP)
    parser.add_argument("--ref-id-format", choices=ID_FORMATS, help="id format of --ref only (default: --id-format)")
    parser.add_argument("--hyp-id-format", choices=ID_FORMATS, help="id format of --hyp only (default: --id-format)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gcaf-score",
        description="Scores as SLUE-toolkit computes them; prints one JSON object (percent, unrounded).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")

    wer = commands.add_parser(
        "wer",
        help="corpus-level WER and CER",
        description="Corpus WER = word edit distance * 100 / reference words (words = whitespace-split, "
        "no normalization); CER the same over the characters of the words joined by single spaces.",
    )
    _add_file_options(wer, "utterance text")

    ner = commands.add_parser(
        "ner",
        help="end-to-end NER F1 and label-F1 (micro-averaged), per-tag scores",
        description="Parses decoded words with tag start characters and ']' as SLUE-toolkit's "
        "eval_w2v_ner.py does and scores them with its get_ner_scores.",
    )
    _add_file_options(ner, "decoded sentence")
    ner.add_argument(
        "--tags", choices=TAG_SETS, default="combined",
        help="'combined' (default; SLUE's reported F1): map the raw tags to the 7 combined ones and drop "
        "FAC, EVENT, WORK_OF_ART, PRODUCT, LANGUAGE; 'raw': score the 18 raw tags",
    )
    ner.add_argument(
        "--chars", choices=CHAR_TABLES, default="raw",
        help="start-character table the files are written with: 'raw' (default, 18 characters, what "
        "SLUE-toolkit's evaluator reads) or 'combined' (7 characters; only with --tags combined)",
    )

    sentiment = commands.add_parser(
        "sentiment",
        help="macro F1 (scikit-learn), per-class scores",
        description="Macro F1 = sklearn f1_score(average='macro') * 100 over the labels present in "
        "either file, as SLUE-toolkit's eval_w2v_sentiment.py.",
    )
    _add_file_options(sentiment, "label")
    sentiment.add_argument(
        "--classes",
        help="comma-separated allowed labels (e.g. Negative,Neutral,Positive); any other label is an "
        "error. Default: accept any label (scored as sklearn does)",
    )

    slue = commands.add_parser(
        "slue-score",
        help="((100 - (WER_vp + WER_vc)/2) + SA_F1 + NER_F1) / 3",
        description="Each input is a number (percent) or a JSON result printed by gcaf-score: "
        "'wer' is read from --vp-wer/--vc-wer, 'macro_f1' from --sa, 'f1' from --ner (combined tags).",
    )
    slue.add_argument("--vp-wer", required=True, help="SLUE-VoxPopuli WER: number or gcaf-score wer JSON")
    slue.add_argument("--vc-wer", required=True, help="SLUE-VoxCeleb WER: number or gcaf-score wer JSON")
    slue.add_argument("--sa", required=True, help="SLUE-VoxCeleb sentiment macro F1: number or gcaf-score sentiment JSON")
    slue.add_argument("--ner", required=True, help="SLUE-VoxPopuli NER F1 (combined): number or gcaf-score ner JSON")

    homophones = commands.add_parser(
        "homophones",
        help="homophone error and swap rates per sentence kind, with WER and CER",
        description="For each homophone target of --targets (a {split}.homophones.jsonl of "
        "gcaf-make-homophone-corpus), the hypothesis word aligned to it (word Levenshtein alignment) is "
        "right, another word (error) or the other member of its pair (error and swap). Reports 'all' and "
        "'per_kind' (neutral, topic): targets, homophone_error_rate, swap_rate (percent of targets), wer, cer.",
    )
    _add_file_options(homophones, "transcript")
    homophones.add_argument(
        "--targets", required=True,
        help="{split}.homophones.jsonl: one row per utterance. Matched to the reference by position with "
        "--id-format line (row k = line k) and fairseq (row N = sample N), by id with tsv and first-field "
        "or with --ids",
    )
    homophones.add_argument(
        "--ids",
        help="with line-aligned --ref/--hyp: a file with the utterance id of each of their lines (e.g. the "
        "decoding folder's {subset}.ids next to {subset}.ref.wrd and .hyp.wrd); target rows are then "
        "matched by id, whatever their order",
    )
    return parser


def _aligned(args):
    return read_aligned(args.ref, args.hyp, args.id_format, args.ref_id_format, args.hyp_id_format)


def run(args) -> dict:
    """The JSON object of one parsed command line; raises ``AlignmentError``,
    ``ResultFileError``, ``ValueError`` or ``OSError`` on bad input."""
    if args.command == "slue-score":
        return slue_score_from_results(args.vp_wer, args.vc_wer, args.sa, args.ner)
    aligned = _aligned(args)
    if args.command == "wer":
        result = corpus_wer(aligned.refs, aligned.hyps)
    elif args.command == "homophones":
        ref_id_format = args.ref_id_format or args.id_format
        if args.ids is not None:
            aligned = with_line_ids(aligned, args.ids, ref_id_format, args.ref)
            ref_id_format = "tsv"  # keyed by id from here on
        records = read_target_rows(args.targets)
        rows = targets_for_aligned(aligned, records, ref_id_format, args.ref, args.targets)
        result = homophone_scores(aligned.refs, aligned.hyps, rows)
        result["targets"] = args.targets
    elif args.command == "ner":
        result = ner_scores(aligned.refs, aligned.hyps, tags=args.tags, chars=args.chars)
    else:
        if args.classes:
            allowed = [label.strip() for label in args.classes.split(",") if label.strip()]
            for side, labels, lines, path in (
                ("reference", aligned.refs, aligned.ref_lines, args.ref),
                ("hypothesis", aligned.hyps, aligned.hyp_lines, args.hyp),
            ):
                for label, line in zip(labels, lines):
                    if label.strip() not in allowed:
                        raise ValueError(f"{side} {path}:{line}: label {label.strip()!r} is not one of {allowed}")
        result = sentiment_scores(
            aligned.refs,
            aligned.hyps,
            ref_where=[f"{args.ref}:{line}" for line in aligned.ref_lines],
            hyp_where=[f"{args.hyp}:{line}" for line in aligned.hyp_lines],
        )
    result["ref"] = args.ref
    result["hyp"] = args.hyp
    return result


def main(argv: Optional[List[str]] = None) -> None:
    setup_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = run(args)
    except (AlignmentError, ResultFileError, ValueError, OSError) as error:
        parser.exit(2, f"{parser.prog} {args.command}: error: {error}\n")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
