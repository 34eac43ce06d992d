"""Sweep the CA paper's hyper-parameters (Tables 1-3): context loss weight alpha, context
dimension D and window (L, O), for row B (context-aware) or (b) (injection), with the real
fairseq-hydra-train and fairseq-generate; one results table.

    .venv/bin/python scripts/recipes/ca_sweep.py --config librilight_1h --data /data/ll1h \\
        --w2v /ckpt/wav2vec_small.pt --utterance-table '/data/ll1h/{split}.utterances.jsonl' \\
        --alphas 0.1 1 10 100 --dims 32 --windows 2,0 2,-1 3,-1 --subset dev_other --out sweep/

Every run goes to OUT/RUN_NAME (checkpoints, train.log, decoding); a finished run is not
redone, so an interrupted sweep continues where it stopped. OUT/results.md and
OUT/results.json list every run's settings, WER on --subset and parameters. Extra hydra
overrides (e.g. distributed_training.distributed_world_size=1) follow ``--``.
"""

import argparse
import itertools
import json
import sys
from pathlib import Path

from gcaf_fairseq.data.atomic_files import write_text_atomically
from gcaf_demo.fairseq_runs import generate, hydra_train, read_generate_output, read_training_log


def run_name(system, alpha, dim, window, offset):
    return f"{system}_a{alpha:g}_d{dim}_L{window}_O{offset}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="demo_tiny", help="config/finetuning/NAME.yaml (default: %(default)s)")
    parser.add_argument("--data", required=True)
    parser.add_argument("--w2v", required=True, help="pretrained wav2vec2 checkpoint")
    parser.add_argument("--utterance-table", required=True, help="template with {split}")
    parser.add_argument("--system", choices=["B", "ca_b"], default="B", help="B: context-aware (row c); ca_b: injection (row b)")
    parser.add_argument("--alphas", type=float, nargs="+", default=[10.0])
    parser.add_argument("--dims", type=int, nargs="+", default=[32])
    parser.add_argument("--windows", nargs="+", default=["2,0"], help="L,O pairs")
    parser.add_argument("--subset", default="valid", help="split to decode and score (default: %(default)s)")
    parser.add_argument("--out", required=True)
    args, overrides = parser.parse_known_args(argv)
    overrides = [o for o in overrides if o != "--"]
    windows = [tuple(int(v) for v in w.split(",")) for w in args.windows]
    alphas = args.alphas if args.system == "B" else [0.0]  # (b) has no context loss
    out = Path(args.out)
    results = []
    for alpha, dim, (window, offset) in itertools.product(alphas, args.dims, windows):
        name = run_name(args.system, alpha, dim, window, offset)
        run_dir = out / name
        settings = [
            f"task.data={args.data}", f"model.w2v_path={args.w2v}",
            f"task.utterance_table='{args.utterance_table}'",
            f"model.context_dim={dim}", f"model.context_window={window}", f"model.context_offset={offset}",
        ] + ([f"criterion.context_alpha={alpha}"] if args.system == "B" else []) + overrides
        finished = run_dir / "result.json"
        if not finished.exists():
            print(f"[sweep] {name}", flush=True)
            hydra_train(args.config, run_dir, settings, system=args.system)
            extra = ["--utterance-table", args.utterance_table] if args.system == "ca_b" else []
            generate(Path(args.data), run_dir / "checkpoint_best.pt", args.subset, run_dir / "decode", extra)
            decoding = read_generate_output(run_dir / "decode", args.subset)
            training = read_training_log(run_dir / "train.log")
            write_text_atomically(finished, json.dumps({
                "run": name, "system": args.system, "alpha": alpha, "D": dim, "L": window, "O": offset,
                "wer": decoding.wer, "utterances": len(decoding.hypotheses),
                "parameters": training.parameters, "updates": training.num_updates,
            }) + "\n")
        results.append(json.loads(finished.read_text()))
    table = ["| run | alpha | D | L | O | WER | utterances | parameters |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        table.append(f"| {r['run']} | {r['alpha']:g} | {r['D']} | {r['L']} | {r['O']} | {r['wer']:.2f} | {r['utterances']} | {r['parameters']:,} |")
    write_text_atomically(out / "results.md", "\n".join(table) + "\n")
    write_text_atomically(out / "results.json", json.dumps(results, indent=2) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    sys.exit(main())
