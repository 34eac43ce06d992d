"""``gcaf-demo``: systems A and C1L (``--systems all``: A, C1, D4, E and C1L) end to end on the
synthesized homophone corpus, or A and E on the plain topic corpus (see README).
``--finetune-seeds 1,2,3`` fine-tunes each system once per seed, ``--repeats 3`` three times per
seed, and a table of means follows; ``--decodings all`` decodes the injection systems also with
the context a deployed decoder has (docs/demo.md)."""

import argparse
import dataclasses
import os
from typing import List, Optional

from gcaf_fairseq.cli.console import setup_logging
from gcaf_demo.pipeline import ALL_SYSTEMS, CORPORA, SYSTEM_DESCRIPTIONS, DemoSettings, decoding_plan, run_demo


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    """One option per :class:`DemoSettings` field (``--pretrain-updates`` for
    ``pretrain_updates``), with its type, default, help and choices."""
    for setting in dataclasses.fields(DemoSettings):
        parser.add_argument(
            "--" + setting.name.replace("_", "-"),
            type=type(setting.default),
            default=setting.default,
            choices=setting.metadata.get("choices"),
            help=setting.metadata["help"] + " (default: %(default)s)",
        )


def main(argv: Optional[List[str]] = None) -> None:
    setup_logging()
    parser = argparse.ArgumentParser(prog="gcaf-demo", description=__doc__)
    parser.add_argument(
        "--out",
        help="output folder (default per corpus: "
        + "; ".join(f"{name}: {setting.out_dir}" for name, setting in CORPORA.items()) + ")",
    )
    systems_help = "; ".join(f"{name}: {', '.join(setting.systems)}" for name, setting in CORPORA.items())
    parser.add_argument(
        "--systems",
        help=f"comma-separated systems among {', '.join(SYSTEM_DESCRIPTIONS)}, or 'all' ({', '.join(ALL_SYSTEMS)}) "
        f"(default per corpus: {systems_help})",
    )
    parser.add_argument(
        "--finetune-seeds",
        help="comma-separated fine-tuning seeds, e.g. 1,2,3: every system is fine-tuned once per seed on the same "
        "corpus, pretrained model and context stores (those keep --seed), and a table of means follows "
        "(default: --seed)",
    )
    updates_help = "; ".join(f"{name}: {setting.updates}" for name, setting in CORPORA.items())
    parser.add_argument("--updates", type=int, help=f"fine-tuning updates per system (default per corpus: {updates_help})")
    lr_help = "; ".join(f"{name}: {setting.lr or 0.002}" for name, setting in CORPORA.items())
    parser.add_argument("--lr", type=float, help=f"peak fine-tuning learning rate (default per corpus: {lr_help})")
    add_settings_options(parser)
    parser.add_argument(
        "--threads", type=int, default=min(4, os.cpu_count() or 1),
        help="torch threads in all (default: the cores, at most 4: %(default)s), shared among the --parallel "
        "fine-tuning runs; an OMP_NUM_THREADS in the environment wins",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, args.threads)))
    systems = [s.strip() for s in args.systems.split(",") if s.strip()] if args.systems else None
    if systems == ["all"]:
        systems = list(ALL_SYSTEMS)
    unknown = [s for s in systems or () if s not in SYSTEM_DESCRIPTIONS]
    if unknown:
        parser.error(f"unknown system(s) {', '.join(unknown)}; choose among {', '.join(SYSTEM_DESCRIPTIONS)}")
    finetune_seeds = None
    if args.finetune_seeds:
        try:
            finetune_seeds = [int(seed) for seed in args.finetune_seeds.split(",") if seed.strip()]
        except ValueError:
            parser.error(f"--finetune-seeds takes comma-separated integers, got {args.finetune_seeds!r}")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    try:
        decoding_plan(systems or CORPORA[args.corpus].systems, args.decodings)
    except ValueError as error:
        parser.error(str(error))
    settings = {setting.name: getattr(args, setting.name) for setting in dataclasses.fields(DemoSettings)}
    run_demo(
        out_dir=args.out, systems=systems, finetune_updates=args.updates, lr=args.lr, finetune_seeds=finetune_seeds,
        **settings,
    )


if __name__ == "__main__":
    main()
