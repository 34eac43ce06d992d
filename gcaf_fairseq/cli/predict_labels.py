"""``gcaf-predict-labels``: one class label per utterance (e.g. SLUE-VoxCeleb sentiment) from a
``wav2vec2_context_seq_cls`` checkpoint, and the macro F1 against ``{split}.{labels}``.

    gcaf-predict-labels --checkpoint ckpt/checkpoint_best.pt --data manifest/slue-voxceleb \\
        --split dev --out dev.sent.pred

Writes ``ID<TAB>LABEL`` lines sorted by utterance id; prints a JSON summary.
"""

import argparse
import json
from typing import List, Optional

from ..decoding.label_prediction import predict_labels


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="gcaf-predict-labels", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", required=True, help="folder with {split}.tsv, {split}.{labels} and labels.{labels}.txt")
    parser.add_argument("--split", required=True)
    parser.add_argument("--out", required=True, help="predictions file to write")
    parser.add_argument("--context-store", help="store template with {split} (injection models; default: the checkpoint's)")
    parser.add_argument("--context-missing", choices=["error", "zero"])
    parser.add_argument("--max-tokens", type=int, default=1_400_000, help="audio samples per batch")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args(argv)
    summary = predict_labels(
        args.checkpoint, args.data, args.split, args.out,
        context_store=args.context_store, context_missing=args.context_missing,
        max_tokens=args.max_tokens, device=args.device,
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
