"""``gcaf-embed-context``: embeds utterance texts from a JSON-lines file into a context store.

Example::

    gcaf-embed-context --texts train.jsonl --id-field id --text-field previous_text \\
        --encoder /models/bert-base-uncased --pooling cls --out train.cls.ctx

Every line of ``--texts`` is a JSON object holding the utterance id and its context text.
With ``--texts-field texts --pooling cls-per-text`` it holds a list of texts instead (the K
previous utterances of ``gcaf-context-texts --join separate``), each embedded into one [CLS]
row of a sequence store, for a ``context_pooling=sequence`` model::

    gcaf-embed-context --texts train.prev3s.jsonl --texts-field texts --pooling cls-per-text \\
        --encoder /models/bert-base-uncased --out train.prev3.seq

The summary (count, n_empty, n_truncated, dim, pooling, out, seconds) is printed on
stdout as one JSON line.
"""

import argparse
import json
import os
from typing import List, Optional

from .console import setup_logging
from ..embedding.text_encoder import DTYPES, TEXT_POOLINGS, EncoderPathError, embed_texts
from ..embedding.texts_file import TextsFileError, previous_count, read_text_list_records, read_text_records


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gcaf-embed-context",
        description="Embeds utterance texts from a JSON-lines file into a context store "
        "(gcaf_fairseq.data.context_store) with a local BERT-style encoder.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--texts", required=True, help="JSON-lines file, one object per utterance")
    parser.add_argument("--id-field", default="id", help="field holding the utterance id (string or integer)")
    fields = parser.add_mutually_exclusive_group(required=True)
    fields.add_argument(
        "--text-field",
        help="field holding the context text; a null, empty or whitespace-only text means no context "
        "(zero rows in the store, the same as a missing context)",
    )
    fields.add_argument(
        "--texts-field",
        help="field holding a list of context texts (gcaf-context-texts --join separate), for --pooling "
        "cls-per-text: one [CLS] row per non-empty text, in list order; an empty list means no context",
    )
    parser.add_argument(
        "--encoder", required=True, help="LOCAL folder of a Hugging Face BERT-style encoder (never downloaded)"
    )
    parser.add_argument(
        "--pooling",
        required=True,
        choices=TEXT_POOLINGS,
        help="cls: one vector per utterance (first token); sequence: one vector per token, [CLS]/[SEP] included; "
        "cls-per-text (with --texts-field): one [CLS] vector per text of the list, written as a sequence store",
    )
    parser.add_argument("--out", required=True, help="context store to write (atomically)")
    parser.add_argument("--batch-size", type=int, default=32, help="texts per encoder batch")
    parser.add_argument(
        "--max-length", type=int, default=512, help="tokens per text; longer texts are truncated and counted"
    )
    parser.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, cuda:1, ...")
    parser.add_argument("--dtype", default="float32", choices=tuple(DTYPES), help="encoder compute dtype")
    parser.add_argument(
        "--trust-remote-code", action="store_true", help="allow model code shipped in the encoder folder"
    )
    return parser


def previous_meta(texts_path: str) -> dict:
    """``{"previous": K}`` for a gcaf-context-texts file of the K previous texts, else ``{}``:
    the sequential decoding pass embeds one previous hypothesis and refuses a model trained
    on K > 1."""
    count = previous_count(texts_path)
    return {} if count is None else {"previous": count}


def main(argv: Optional[List[str]] = None) -> None:
    setup_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.pooling == "cls-per-text") != (args.texts_field is not None):
        parser.error("--pooling cls-per-text goes with --texts-field (a list of texts per utterance), and "
                     "--texts-field with --pooling cls-per-text; --text-field takes cls or sequence")
    try:
        if args.texts_field is not None:
            records = read_text_list_records(args.texts, args.id_field, args.texts_field)
        else:
            records = read_text_records(args.texts, args.id_field, args.text_field)
        summary = embed_texts(
            records,
            encoder_path=args.encoder,
            pooling=args.pooling,
            out_path=args.out,
            batch_size=args.batch_size,
            max_length=args.max_length,
            device=args.device,
            dtype=args.dtype,
            trust_remote_code=args.trust_remote_code,
            meta={
                **previous_meta(args.texts),
                "source": os.path.abspath(args.texts),
                "id_field": args.id_field,
                **({"texts_field": args.texts_field} if args.texts_field is not None else {"text_field": args.text_field}),
            },
        )
    except (OSError, TextsFileError, EncoderPathError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
