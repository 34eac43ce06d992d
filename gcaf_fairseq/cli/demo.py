"""``gcaf-demo``: systems A and E (also C1, D4) end to end on a synthesized corpus (see README)."""

import argparse
from typing import List, Optional

from ..demo.pipeline import SYSTEM_DESCRIPTIONS, run_demo


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="gcaf-demo", description=__doc__)
    parser.add_argument("--out", default="outputs/demo", help="output folder (default: %(default)s)")
    parser.add_argument(
        "--systems", default="A,E",
        help=f"comma-separated systems among {', '.join(SYSTEM_DESCRIPTIONS)} (default: %(default)s)",
    )
    parser.add_argument("--chapters", type=int, default=24, help="chapters to synthesize (default: %(default)s)")
    parser.add_argument("--sentences-per-chapter", type=int, default=8, help="(default: %(default)s)")
    parser.add_argument("--pretrain-updates", type=int, default=40, help="tiny wav2vec2 pretraining updates (default: %(default)s)")
    parser.add_argument("--updates", type=int, default=1000, help="fine-tuning updates per system (default: %(default)s)")
    parser.add_argument(
        "--alpha", type=float, default=1.0,
        help="E's context-loss weight (default: %(default)s; the recipes use the papers' 10, which "
        "stalls CTC in the demo's 64-dim model: see README)",
    )
    parser.add_argument("--llm-steps", type=int, default=1000, help="training steps of the demo LLM (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="(default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel speech synthesis processes (default: %(default)s)")
    args = parser.parse_args(argv)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in systems if s not in SYSTEM_DESCRIPTIONS]
    if unknown:
        parser.error(f"unknown system(s) {', '.join(unknown)}; choose among {', '.join(SYSTEM_DESCRIPTIONS)}")
    run_demo(
        out_dir=args.out,
        systems=systems,
        chapters=args.chapters,
        sentences_per_chapter=args.sentences_per_chapter,
        pretrain_updates=args.pretrain_updates,
        finetune_updates=args.updates,
        seed=args.seed,
        jobs=args.jobs,
        alpha=args.alpha,
        llm_steps=args.llm_steps,
    )


if __name__ == "__main__":
    main()
