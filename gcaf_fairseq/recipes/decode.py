"""``python -m gcaf_fairseq.recipes.decode``: decode several subsets with one checkpoint in one process.

    python -m gcaf_fairseq.recipes.decode --out RUN/decode --subsets dev_clean dev_other \\
        [--suffix +lm] -- DATA --user-dir PLUGIN --task audio_context_finetuning --path CKPT [...]

For each subset, fairseq-generate's own ``main`` runs with the arguments after ``--`` plus
``--gen-subset SUBSET --results-path OUT/SUBSET{suffix} --decoding-output OUT/SUBSET{suffix}``,
exactly as ``fairseq-generate`` would on the command line; then ``timing.json`` (the
decoding's wall seconds, utterances and audio seconds of the manifest; CA Fig. 3) is written
beside the results. One process for all subsets saves torch's and fairseq's start-up per
subset (about 4 s on two CPU cores); the seconds timed are those of decoding one subset
(model loading included, process start-up not).
"""

import argparse
import os
import sys
import time
from pathlib import Path
from typing import List, Optional


def literal_generate_args(generate_args: List[str]) -> List[str]:
    """fairseq-generate's arguments as they must be given for fairseq to read them as typed,
    whatever a path holds: fairseq turns every option into a single-quoted Hydra override
    (quotes escaped, backslashes not: :func:`.processes.backslashes_before_quotes`) and
    resolves the config twice (so ``${`` is escaped, :func:`.processes.escape_interpolations`);
    not ``--user-dir``, which it also imports as given. It splits ``--path`` at ``:`` into an
    ensemble (a checkpoint whose path holds ``:`` is given by its name, from its folder: the
    caller changes into it, so the other paths must then be absolute; DATA is made so)."""
    from .processes import backslashes_before_quotes, escape_interpolations

    literal, previous = [], None
    for argument in generate_args:
        if previous == "--path" and os.pathsep in argument and Path(argument).is_file():
            argument = Path(argument).name
        literal.append(argument if previous == "--user-dir" or argument.startswith("--") else
                       escape_interpolations(backslashes_before_quotes(argument)))
        previous = argument
    return literal


def checkpoint_folder(generate_args: List[str]) -> Optional[Path]:
    """The folder to decode from: that of a ``--path`` holding ``:`` (see :func:`literal_generate_args`)."""
    for option, value in zip(generate_args, generate_args[1:]):
        if option == "--path" and os.pathsep in value and Path(value).is_file():
            return Path(value).absolute().parent
    return None


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        sys.exit("usage: python -m gcaf_fairseq.recipes.decode --out DIR --subsets S [S ...] [--suffix +lm] -- "
                 "FAIRSEQ_GENERATE_ARGS (DATA first)")
    cut = argv.index("--")
    parser = argparse.ArgumentParser(prog="python -m gcaf_fairseq.recipes.decode")
    parser.add_argument("--out", required=True)
    parser.add_argument("--subsets", nargs="+", required=True)
    parser.add_argument("--suffix", default="")
    args = parser.parse_args(argv[:cut])
    generate_args = argv[cut + 1:]
    data = Path(generate_args[0]).absolute()
    folder = checkpoint_folder(generate_args)
    out_root = Path(args.out).absolute()
    generate_args = literal_generate_args([str(data)] + generate_args[1:])
    if folder is not None:
        os.chdir(folder)

    # fairseq's parsers read --user-dir from sys.argv to import the plugin's task and options
    sys.argv = [sys.argv[0]] + generate_args
    from fairseq import options
    from fairseq_cli.generate import main as generate_main

    from .. import criterions, models, tasks  # noqa: F401  (registers the plugin; --user-dir skips gcaf_fairseq, imported)

    from ..data.manifest import manifest_size
    from ..tables.runs import write_timing

    for subset in args.subsets:
        out = out_root / f"{subset}{args.suffix}"
        out.mkdir(parents=True, exist_ok=True)
        parser = options.get_generation_parser()
        parser.add_argument("--arch", "-a", metavar="ARCH", default="wav2vec2")  # as fairseq_cli.generate.cli_main
        parsed = options.parse_args_and_arch(parser, generate_args + literal_generate_args([
            "--gen-subset", subset, "--results-path", str(out), "--decoding-output", str(out)]))
        started = time.perf_counter()
        generate_main(parsed)
        seconds = time.perf_counter() - started
        utterances, audio_seconds = manifest_size(data / f"{subset}.tsv")
        write_timing(out, round(seconds, 3), utterances, round(audio_seconds, 3))
        print(f"decoded {subset}: {utterances} utterances in {seconds:.2f} s -> {out}", flush=True)


if __name__ == "__main__":
    main()
