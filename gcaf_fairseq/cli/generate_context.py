"""``gcaf-generate-context``: prompt an LLM with each utterance's previous text (GCAF 2.2.1).

Examples::

    # a local model, batched on the GPU when there is one
    gcaf-generate-context --utterances dev-other.utterances.jsonl --prompt P4 \\
        --backend hf --model /models/StableBeluga-13B --template stablebeluga --out dev-other.P4.jsonl

    # shard 2 of 8 against a served model (vLLM, TGI, llama.cpp server)
    gcaf-generate-context --utterances train.utterances.jsonl --prompt P4 --shard 2/8 \\
        --backend openai --base-url http://llm-host:8000/v1 --model stabilityai/StableBeluga-13B \\
        --out train.P4.shard2.jsonl

Rerunning the same command resumes (finished utterances are skipped); records whose input
changed since (an edited utterance table) stop it, unless ``--redo-changed`` asks to
generate them again. The summary is
printed on stdout as one JSON line. See :mod:`gcaf_fairseq.generation.generation_file`
for the output format and :mod:`gcaf_fairseq.generation.runner` for the inputs.
"""

import argparse
import json
from typing import List, Optional

from .console import setup_logging
from ..generation.backends import DTYPE_NAMES, BackendError, OpenAIBackend, load_hf_backend
from ..generation.prompts import PROMPTS
from ..generation.runner import run_generation
from ..generation.templates import TEMPLATE_NAMES, build_template


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gcaf-generate-context",
        description="Prompts an LLM with the previous utterance's text for every utterance of a split "
        "and appends the generations to a resumable JSON-lines file.",
    )
    parser.add_argument("--utterances", required=True, help="the split's utterance table {split}.utterances.jsonl")
    parser.add_argument(
        "--prompt", required=True,
        help=f"{', '.join(PROMPTS)} (GCAF Table 1, verbatim) or a custom prompt text; the previous text follows "
        "it after one space, or replaces a literal {text} in a custom prompt",
    )
    parser.add_argument(
        "--out", required=True, help="generation file to create or resume (its header: OUT.header.json)"
    )
    parser.add_argument(
        "--backend", required=True, choices=("hf", "openai"), help="a local transformers model or a served model"
    )
    parser.add_argument(
        "--model", required=True, help="hf: a LOCAL model folder (never downloaded); openai: the served model's name"
    )
    parser.add_argument(
        "--template", default="auto", choices=TEMPLATE_NAMES,
        help="auto: the tokenizer's chat template (hf) or the server's (openai); stablebeluga, llama2: built in; "
        "none: the raw user message (default: %(default)s)",
    )
    parser.add_argument(
        "--system", default=None,
        help="system message (default: the StableBeluga model card's for stablebeluga, none otherwise)",
    )
    parser.add_argument(
        "--max-new-tokens", type=int, default=256, help="new-token limit of greedy decoding (default: %(default)s)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=None,
        help="hf: prompts per batch (default 16); openai: completions per flush (default 4 x concurrency)",
    )
    parser.add_argument(
        "--shard", default=None, help="K/N: process only shard K of N (1 <= K <= N), chosen by a hash of the id"
    )
    parser.add_argument(
        "--previous-text-from", default=None, metavar="FILE",
        help='JSON lines {"id": ..., "text": ...} (e.g. decoded hypotheses) used as the previous texts '
        "instead of the table's ground truth",
    )
    parser.add_argument(
        "--redo-changed", action="store_true",
        help="when resuming, generate again the records whose input (previous utterance or its text) has changed "
        "since they were made, dropping their old records; without it such records are an error",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    hf = parser.add_argument_group("hf backend")
    hf.add_argument("--device", default="auto", help="auto (cuda when there is one, the default), cpu, cuda:1, ...")
    hf.add_argument(
        "--dtype", default="auto", choices=DTYPE_NAMES,
        help="auto (the default): bfloat16 (else float16) on GPU, float32 on CPU",
    )
    hf.add_argument("--trust-remote-code", action="store_true", help="allow model code shipped in the model folder")
    server = parser.add_argument_group("openai backend")
    server.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1")
    server.add_argument("--api-key", default=None, help="API key (default: $OPENAI_API_KEY, else 'EMPTY')")
    server.add_argument("--concurrency", type=int, default=8, help="requests in flight at most (default: %(default)s)")
    server.add_argument(
        "--timeout", type=float, default=300.0,
        help="deadline of each request attempt in seconds, from sending it to the complete response (a slow or "
        "trickling server is cut off and retried) (default: %(default)s)",
    )
    server.add_argument("--max-retries", type=int, default=5, help="retries of a failed request (default: %(default)s)")
    server.add_argument(
        "--retry-backoff", type=float, default=1.0,
        help="seconds before the first retry, doubled each time (default: %(default)s)",
    )
    return parser


def make_backend_and_template(args):
    if args.backend == "openai":
        if not args.base_url:
            raise ValueError("--backend openai needs --base-url")
        template = build_template(args.template, "openai", args.system)
        backend = OpenAIBackend(
            args.base_url, args.model, api_key=args.api_key, max_new_tokens=args.max_new_tokens,
            concurrency=args.concurrency, batch_size=args.batch_size, timeout=args.timeout,
            max_retries=args.max_retries, retry_backoff=args.retry_backoff,
        )
        return backend, template
    if args.template not in ("auto", "tokenizer"):
        build_template(args.template, "hf", args.system)  # a wrong choice fails before the model loads
    backend = load_hf_backend(
        args.model, batch_size=args.batch_size or 16, max_new_tokens=args.max_new_tokens,
        device=args.device, dtype=args.dtype, trust_remote_code=args.trust_remote_code,
    )
    return backend, build_template(args.template, "hf", args.system, backend.tokenizer)


def main(argv: Optional[List[str]] = None) -> None:
    setup_logging()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        backend, template = make_backend_and_template(args)
        summary = run_generation(
            args.utterances, args.out, args.prompt, template, backend,
            shard=args.shard, previous_text_from=args.previous_text_from, progress=not args.no_progress,
            redo_changed=args.redo_changed,
        )
    except BackendError as error:
        parser.exit(
            1,
            f"{parser.prog}: error: {error}\n"
            "The records written so far are kept: rerun the same command to resume.\n",
        )
    except (OSError, ValueError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
