"""``python -m gcaf_fairseq.recipes.decode``: decode several subsets with one checkpoint in one process.

    python -m gcaf_fairseq.recipes.decode --out RUN/decode --subsets dev_clean dev_other \\
        [--suffix +lm --lm-role slue-asr] -- DATA --user-dir PLUGIN --task audio_context_finetuning --path CKPT [...]

For each subset, fairseq-generate's own ``main`` runs with the arguments after ``--`` plus
``--gen-subset SUBSET --results-path OUT/SUBSET{suffix} --decoding-output OUT/SUBSET{suffix}``,
exactly as ``fairseq-generate`` would on the command line (one process for all subsets saves
torch's and fairseq's start-up per subset, about 4 s on two CPU cores). Then, beside the
results:

- ``timing.json`` (CA Fig. 3): the seconds of the **generation loop** as the task's CTC
  generator measured them (``SUBSET.timing.json``: each batch's forward pass and CTC search,
  after one untimed warm-up forward pass, CUDA-synchronized; model loading and audio loading
  excluded), the audio seconds decoded, the real-time factor and the device, with the
  manifest's utterance count;
- ``lm.json`` (with ``--lm-role``): which LM decoded the subset, by path and sha256, and the
  beam, LM weight and word score (:mod:`gcaf_fairseq.data.language_models`).
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Dict, List, Optional


def lm_record(out: Path, role: str, parsed, hashes: Dict[str, str]) -> None:
    """``out/lm.json``: the LM and lexicon fairseq-generate decoded with (its parsed options) by
    path and sha256 (each file hashed once per process, in ``hashes``), and the beam, LM weight
    and word score."""
    from ..data.fingerprints import file_sha256
    from ..data.language_models import write_lm_record

    if getattr(parsed, "ctc_decoder", None) != "kenlm" or not parsed.decoder_lm:
        raise SystemExit("--lm-role needs a KenLM decoding: give --ctc-decoder kenlm --decoder-lm FILE after --")
    for path in filter(None, (parsed.decoder_lm, parsed.decoder_lexicon)):
        if path not in hashes:
            hashes[path] = file_sha256(path)
    settings = {"beam": parsed.decoder_beam, "lm_weight": parsed.decoder_lm_weight,
                "word_score": parsed.decoder_word_score}
    write_lm_record(out, role, parsed.decoder_lm, hashes[parsed.decoder_lm], parsed.decoder_lexicon,
                    hashes.get(parsed.decoder_lexicon), settings)


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
        if _checkpoint_fairseq_would_split(previous, argument):
            argument = Path(argument).name
        literal.append(argument if previous == "--user-dir" or argument.startswith("--") else
                       escape_interpolations(backslashes_before_quotes(argument)))
        previous = argument
    return literal


def _checkpoint_fairseq_would_split(option: Optional[str], value: str) -> bool:
    """Whether ``value`` is a ``--path`` checkpoint whose path holds ``:``, which fairseq would
    split into an ensemble."""
    return option == "--path" and os.pathsep in value and Path(value).is_file()


def checkpoint_folder(generate_args: List[str]) -> Optional[Path]:
    """The folder to decode from: that of a ``--path`` holding ``:`` (see :func:`literal_generate_args`)."""
    for option, value in zip(generate_args, generate_args[1:]):
        if _checkpoint_fairseq_would_split(option, value):
            return Path(value).absolute().parent
    return None


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        sys.exit("usage: python -m gcaf_fairseq.recipes.decode --out DIR --subsets S [S ...] [--suffix +lm "
                 "--lm-role ROLE] -- FAIRSEQ_GENERATE_ARGS (DATA first)")
    cut = argv.index("--")
    parser = argparse.ArgumentParser(prog="python -m gcaf_fairseq.recipes.decode")
    parser.add_argument("--out", required=True)
    parser.add_argument("--subsets", nargs="+", required=True)
    parser.add_argument("--suffix", default="")
    parser.add_argument("--lm-role", help="the role of the KenLM model decoded with (slue-asr, slue-ner, "
                        "librispeech): written to each subset's lm.json")
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

    hashes: Dict[str, str] = {}
    for subset in args.subsets:
        out = out_root / f"{subset}{args.suffix}"
        out.mkdir(parents=True, exist_ok=True)
        parser = options.get_generation_parser()
        parser.add_argument("--arch", "-a", metavar="ARCH", default="wav2vec2")  # as fairseq_cli.generate.cli_main
        parsed = options.parse_args_and_arch(parser, generate_args + literal_generate_args([
            "--gen-subset", subset, "--results-path", str(out), "--decoding-output", str(out)]))
        generate_main(parsed)
        measured_file = out / f"{subset}.timing.json"
        try:
            measured = json.loads(measured_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            sys.exit(f"{measured_file}: the generator's timing was not written ({error}); every utterance of "
                     f"{subset} must be decoded with targets")
        utterances, _ = manifest_size(data / f"{subset}.tsv")
        write_timing(out, utterances=utterances, **measured)
        if args.lm_role:
            lm_record(out, args.lm_role, parsed, hashes)
        print(f"decoded {subset}: {utterances} utterances, {measured['audio_seconds']:.1f} s of audio, generation "
              f"loop {measured['decode_seconds']:.3f} s (real-time factor {measured['real_time_factor']:.4f}) on "
              f"{measured['device']} -> {out}", flush=True)


if __name__ == "__main__":
    main()
