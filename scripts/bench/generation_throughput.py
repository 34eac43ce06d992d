"""Batched against one-at-a-time generation throughput of the ``hf`` backend, in one run.

Builds a random-weight Llama (``tiny``: 2 layers, dim 64, for CPU; ``1b``: the
TinyLlama-1.1B shape, 22 layers, dim 2048, for a GPU) with a word-level tokenizer made
here, and generates for the same prompts through :class:`HFBackend` at batch size 1 and at
``--batch-size`` (left padding, length-sorted batches): a warm-up of each, then
``--repeats`` interleaved runs of both (who goes first alternating); rates are those of
the median run, the speedup the median of the paired ones. The tokenizer has no
end-of-sequence token, so every prompt gets exactly ``--max-new-tokens`` tokens and both
runs do the same work. Prints one JSON object with both rates and their ratio.

    .venv/bin/python scripts/bench/generation_throughput.py                 # tiny, CPU
    python scripts/bench/generation_throughput.py --size 1b --device cuda    # 1.1B, bf16
"""

import argparse
import json
import random
import statistics
import time

import torch

from gcaf_fairseq.embedding.text_encoder import resolve_device
from gcaf_fairseq.generation.backends import HFBackend
from gcaf_fairseq.generation.backends.hf import resolve_dtype
from gcaf_fairseq.generation.prompts import PROMPTS, build_user_message
from gcaf_fairseq.generation.templates import build_template

SIZES = {
    "tiny": dict(hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=4, vocab_size=2000),
    "1b": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
               num_key_value_heads=4, vocab_size=32000),
}


def word_tokenizer(vocabulary_size: int):
    """A word-level tokenizer over ``w0 w1 ...``, with padding and unknown tokens but no
    end of sequence (generation always runs to the token limit)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocabulary = {"<pad>": 0, "<unk>": 1}
    vocabulary.update({f"w{k}": k + 2 for k in range(vocabulary_size - 2)})
    word_level = Tokenizer(models.WordLevel(vocab=vocabulary, unk_token="<unk>"))
    word_level.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=word_level, pad_token="<pad>", unk_token="<unk>")


def timed_generation(backend, prompts, device) -> dict:
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    tokens = sum(c.completion_tokens for group in backend.iterate_completions(prompts) for _, c in group)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    return {
        "batch_size": backend.batch_size,
        "seconds": round(seconds, 3),
        "utterances_per_s": round(len(prompts) / seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1),
        "completion_tokens": tokens,
    }


def median_run(results: list) -> dict:
    """The run of median time among repeats (its own rates), with every repeat's seconds."""
    ordered = sorted(results, key=lambda result: result["seconds"])
    return {**ordered[len(ordered) // 2], "seconds_each": [result["seconds"] for result in results]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=tuple(SIZES), default=None, help="default: 1b on a GPU, tiny on CPU")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto", help="auto: bfloat16/float16 on GPU, float32 on CPU")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timed runs per mode (after one warm-up each)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    size = args.size or ("1b" if device.type == "cuda" else "tiny")
    dtype = resolve_dtype(args.dtype, device)

    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(args.seed)
    tokenizer = word_tokenizer(SIZES[size]["vocab_size"])
    config = LlamaConfig(
        max_position_embeddings=2048, bos_token_id=None, eos_token_id=None, pad_token_id=0, **SIZES[size]
    )
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    rng = random.Random(args.seed)
    vocabulary_size = SIZES[size]["vocab_size"]
    template = build_template("none", "hf")
    # utterance-like previous texts of 8..40 words behind the P4 prompt
    previous_texts = [
        " ".join(f"w{rng.randrange(vocabulary_size - 2)}" for _ in range(rng.randint(8, 40)))
        for _ in range(args.prompts)
    ]
    prompts = [template.render(build_user_message(PROMPTS["P4"], text)) for text in previous_texts]
    one_at_a_time = HFBackend(model, tokenizer, size, batch_size=1, max_new_tokens=args.max_new_tokens)
    batched = HFBackend(model, tokenizer, size, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens)
    backends = {"one_at_a_time": one_at_a_time, "batched": batched}
    for backend in backends.values():  # warm-up of both modes: kernels, allocator, caches
        timed_generation(backend, prompts[: args.batch_size], device)
    runs = {mode: [] for mode in backends}
    for repeat in range(args.repeats):  # interleaved, who goes first alternating
        order = list(backends) if repeat % 2 == 0 else list(backends)[::-1]
        for mode in order:
            runs[mode].append(timed_generation(backends[mode], prompts, device))
    single_result, batched_result = (median_run(runs[mode]) for mode in backends)
    speedups = sorted(b["tokens_per_s"] / s["tokens_per_s"] for s, b in zip(runs["one_at_a_time"], runs["batched"]))
    report = {
        "device": (
            torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
        ),
        "model": size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": str(dtype).replace("torch.", ""),
        "prompts": args.prompts,
        "max_new_tokens": args.max_new_tokens,
        "one_at_a_time": single_result,
        "batched": batched_result,
        "repeats": args.repeats,
        "speedup": round(statistics.median(speedups), 2),  # median of the paired (same repeat) speedups
        "speedup_range": [round(speedups[0], 2), round(speedups[-1], 2)],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
