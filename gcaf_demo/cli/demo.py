"""``gcaf-demo``: systems A, C1, D4, E and C1L end to end on the synthesized homophone corpus,
or A and E on the plain topic corpus (see README)."""

import argparse
import os
from typing import List, Optional

from ..demo.pipeline import CORPORA, SYSTEM_DESCRIPTIONS, run_demo


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="gcaf-demo", description=__doc__)
    parser.add_argument(
        "--out",
        help="output folder (default per corpus: "
        + "; ".join(f"{name}: {setting.out_dir}" for name, setting in CORPORA.items()) + ")",
    )
    parser.add_argument(
        "--corpus", choices=sorted(CORPORA), default="homophones",
        help="'homophones' (default): the homophone-topic corpus and a small wav2vec2; 'topics': the plain "
        "topic corpus and a tiny wav2vec2 (a few minutes)",
    )
    systems_help = "; ".join(f"{name}: {', '.join(setting.systems)}" for name, setting in CORPORA.items())
    parser.add_argument(
        "--systems",
        help=f"comma-separated systems among {', '.join(SYSTEM_DESCRIPTIONS)} (default per corpus: {systems_help})",
    )
    parser.add_argument("--chapters", type=int, default=24, help="topic corpus: chapters to synthesize (default: %(default)s)")
    parser.add_argument("--sentences-per-chapter", type=int, default=8, help="topic corpus: (default: %(default)s)")
    parser.add_argument("--pretrain-updates", type=int, default=40, help="tiny wav2vec2 pretraining updates (default: %(default)s)")
    updates_help = "; ".join(f"{name}: {setting.updates}" for name, setting in CORPORA.items())
    parser.add_argument("--updates", type=int, help=f"fine-tuning updates per system (default per corpus: {updates_help})")
    parser.add_argument(
        "--alpha", type=float, default=1.0,
        help="E's context-loss weight (default: %(default)s; the recipes use the papers' 10, which "
        "stalls CTC in the demo's small models: see README)",
    )
    parser.add_argument("--llm-steps", type=int, default=1000, help="training steps of the demo LLM (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="(default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel speech synthesis processes (default: %(default)s)")
    parser.add_argument(
        "--threads", type=int, default=min(4, os.cpu_count() or 1),
        help="torch threads of each fairseq run, which run one at a time (default: the cores, at most 4: "
        "%(default)s); an OMP_NUM_THREADS in the environment wins",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, args.threads)))
    systems = [s.strip() for s in args.systems.split(",") if s.strip()] if args.systems else None
    unknown = [s for s in systems or () if s not in SYSTEM_DESCRIPTIONS]
    if unknown:
        parser.error(f"unknown system(s) {', '.join(unknown)}; choose among {', '.join(SYSTEM_DESCRIPTIONS)}")
    run_demo(
        out_dir=args.out,
        corpus=args.corpus,
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
