"""``gcaf-prepare-slue``: SLUE-toolkit's manifests, labels and dictionaries of SLUE-VoxPopuli
or SLUE-VoxCeleb (v0.2 release folder), plus utterance tables in stream order.

Example::

    gcaf-prepare-slue voxpopuli --data data/slue-voxpopuli --out manifest/slue-voxpopuli
    gcaf-prepare-slue voxceleb --data data/slue-voxceleb --out manifest/slue-voxceleb

The coverage reports (also in ``OUT/{split}.coverage.json``) are printed on stdout as JSON.
"""

import argparse
import json
from typing import List, Optional

from .console import setup_logging
from ..prep import PrepareError, prepare_slue
from ..prep.slue import DATASETS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gcaf-prepare-slue", description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", choices=DATASETS)
    parser.add_argument(
        "--data", required=True, metavar="RELEASE_DIR",
        help="the release folder: slue-voxpopuli/ or slue-voxceleb/ with slue-*_{fine-tune,dev,test[_blind]}.tsv",
    )
    parser.add_argument("--out", required=True, metavar="MANIFEST_DIR", help="output folder")
    parser.add_argument(
        "--clips-dir", metavar="DIR",
        help="voxceleb: where the cut clips go, as DIR/{split}/ID.flac (default: the release folder, "
        "as SLUE-toolkit does)",
    )
    parser.add_argument(
        "--jobs", type=int, default=4, help="audio files read or cut in parallel (default: %(default)s)"
    )
    parser.add_argument(
        "--verify-audio", action=argparse.BooleanOptionalAction, default=True,
        help="decode every audio file in full and check it gives the length its header states, catching "
        "truncated or corrupt files (default: on; measured 1.7 CPU s per hour of OGG/Vorbis audio, 0.7 for "
        "FLAC, spread over --jobs; --no-verify-audio reads the headers only)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(argv: Optional[List[str]] = None) -> None:
    setup_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.clips_dir is not None and args.dataset != "voxceleb":
        parser.error("--clips-dir is for voxceleb only")
    try:
        reports = prepare_slue(
            args.dataset,
            args.data,
            args.out,
            clips_dir=args.clips_dir,
            jobs=args.jobs,
            progress=not args.no_progress,
            verify_audio=args.verify_audio,
        )
    except (OSError, PrepareError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(json.dumps(reports, indent=2), flush=True)


if __name__ == "__main__":
    main()
