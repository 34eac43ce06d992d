"""Sweep the CA paper's hyper-parameters (Tables 1-3) on your own data: context loss weight alpha,
context dimension D and window (L, O), for row B (context-aware) or (b) (injection), with the real
fairseq-hydra-train and fairseq-generate; one results table.

    .venv/bin/python scripts/recipes/ca_sweep.py --config librilight_1h --data /data/ll1h \\
        --w2v /ckpt/wav2vec_small.pt --utterance-table '/data/ll1h/{split}.utterances.jsonl' \\
        --alphas 0.1 1 10 100 --dims 32 --windows 2,0 2,-1 3,-1 --subset dev_other --out sweep/

A thin call of the recipes' runner (:mod:`gcaf_fairseq.recipes.runner`) with the systems
registry's overrides: every run goes to OUT/RUN_NAME (checkpoints, train.log, decode/), made
from the same inputs as the recipes' trainings; a run finished with the same inputs and
settings is not redone, so an interrupted sweep continues where it stopped. OUT/results.md and
OUT/results.json list every run's settings, WER on --subset and parameters. The published CA
tables themselves are `scripts/reproduce_slue.sh --tables ca-table1 ca-table2 ca-table3`.
Extra hydra overrides (e.g. distributed_training.distributed_world_size=1) follow ``--``.
"""

import argparse
import itertools
import json
import sys
from pathlib import Path

from gcaf_fairseq import systems
from gcaf_fairseq.data.atomic_files import write_text_atomically
from gcaf_fairseq.recipes.processes import hydra_data, hydra_path, hydra_train_command
from gcaf_fairseq.recipes.runner import Runner, Step
from gcaf_fairseq.recipes.scale import detect_gpus
from gcaf_fairseq.recipes.stages.common import empty_folder
from gcaf_fairseq.resources import PLUGIN_DIR, config_dir
from gcaf_fairseq.tables.train_log import read_training_log


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
    record = systems.get(args.system)
    alphas = args.alphas if "alpha" in record.defaults else [None]  # (b) has no context loss
    out, data = Path(args.out).absolute(), Path(args.data).absolute()
    runner = Runner(out)
    results = []
    for alpha, dim, (window, offset) in itertools.product(alphas, args.dims, windows):
        knobs = {"context_dim": dim, "window": window, "offset": offset, **({"alpha": alpha} if alpha is not None else {})}
        name = run_name(args.system, alpha or 0.0, dim, window, offset)
        run_dir = out / name
        settings = [*hydra_data(data), hydra_path("model.w2v_path", args.w2v),
                    hydra_path("task.utterance_table", args.utterance_table)]
        settings += record.hydra_overrides(knobs) + overrides
        configs = config_dir() / "finetuning"
        train = Step(4, hydra_train_command(configs, args.config, run_dir, PLUGIN_DIR, settings),
                     [run_dir / "checkpoint_last.pt"], inputs=[args.w2v, configs / f"{args.config}.yaml", data],
                     log=run_dir / "train.log", discard=empty_folder(run_dir), name=name, key_paths=[run_dir])
        decode = [sys.executable, "-m", "gcaf_fairseq.recipes.decode", "--out", str(run_dir / "decode"),
                  "--subsets", args.subset, "--", str(data), "--user-dir", str(PLUGIN_DIR),
                  "--task", "audio_context_finetuning", "--path", str(run_dir / "checkpoint_last.pt"), "--scoring", "wer"]
        decode += (["--cpu"] if detect_gpus() == 0 else []) + (
            ["--utterance-table", args.utterance_table] if record.use == "injection" else [])
        result_dir = run_dir / "decode" / args.subset
        score = Step(5, decode, [result_dir / f"{args.subset}.wer.json", result_dir / f"{args.subset}.ids"],
                     inputs=[run_dir / "checkpoint_last.pt", data], log=run_dir / "decode" / "decode.log", name=name)
        if runner.state(train)[0] is None or runner.state(score)[0] is None:
            print(f"[sweep] {name}", flush=True)
        runner.run(train)
        runner.run(score)
        wer = json.loads((result_dir / f"{args.subset}.wer.json").read_text())["wer"]
        training = read_training_log(run_dir / "train.log")
        results.append({
            "run": name, "system": args.system, "alpha": alpha if alpha is not None else 0.0, "D": dim, "L": window,
            "O": offset, "wer": wer, "utterances": len((result_dir / f"{args.subset}.ids").read_text().splitlines()),
            "parameters": training.parameters, "updates": training.num_updates,
        })
    table = ["| run | alpha | D | L | O | WER | utterances | parameters |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        table.append(f"| {r['run']} | {r['alpha']:g} | {r['D']} | {r['L']} | {r['O']} | {r['wer']:.2f} | {r['utterances']} | {r['parameters']:,} |")
    write_text_atomically(out / "results.md", "\n".join(table) + "\n")
    write_text_atomically(out / "results.json", json.dumps(results, indent=2) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    sys.exit(main())
