"""``gcaf-predict-labels``: one class label per utterance (e.g. SLUE-VoxCeleb sentiment) from a
``wav2vec2_context_seq_cls`` checkpoint, and the macro F1 against ``{split}.{labels}``.

    gcaf-predict-labels --checkpoint ckpt/checkpoint_best.pt --data manifest/slue-voxceleb \\
        --split dev --out dev.sent.pred

Writes ``ID<TAB>LABEL`` lines sorted by utterance id; prints a JSON summary.
"""

import argparse
import json
from typing import List, Optional

from .console import setup_logging


def main(argv: Optional[List[str]] = None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(prog="gcaf-predict-labels", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", required=True, help="folder with {split}.tsv, {split}.{labels} and labels.{labels}.txt")
    parser.add_argument("--split", required=True)
    parser.add_argument("--out", required=True, help="predictions file to write")
    parser.add_argument("--context-store", help="store template with {split}, e.g. /data/ctx/{split}.p4.cls (text injection models: C, D)")
    parser.add_argument(
        "--utterance-table",
        help="utterance table template with {split}, e.g. /data/{split}.utterances.jsonl: the neighbours of "
        "audio injection models (CA row (b)); aware models (E, B) need neither option",
    )
    parser.add_argument(
        "--context-from-checkpoint", action="store_true",
        help="without --context-store / --utterance-table, read the ones saved in the checkpoint "
        "(by default an injection model refuses, naming them)",
    )
    parser.add_argument("--context-missing", choices=["error", "zero"])
    parser.add_argument("--max-tokens", type=int, default=1_400_000, help="audio samples per batch")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args(argv)
    # torch and fairseq: after setup_logging, not for --help. The three plugin packages register
    # the plugin (what gcaf_fairseq.plugin imports, which no module inside the package imports).
    from .. import criterions, models, tasks  # noqa: F401
    from ..decoding.label_prediction import predict_labels

    summary = predict_labels(
        args.checkpoint, args.data, args.split, args.out,
        context_store=args.context_store, context_missing=args.context_missing,
        utterance_table=args.utterance_table, context_from_checkpoint=args.context_from_checkpoint,
        max_tokens=args.max_tokens, device=args.device,
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
