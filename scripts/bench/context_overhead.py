"""Overhead of the context systems over A: parameters, training step time, decoding time.

Builds system A (``context_source=none``) and the context systems from the same random
wav2vec2 (no checkpoint needed): E (GCAF, text teacher), b (CA row (b): neighbour audio
injected) and B (CA row (c): context-aware, neighbours at training only), then times them
interleaved on identical batches in one run, so the ratios are free of machine drift:

    .venv/bin/python scripts/bench/context_overhead.py                        # tiny, CPU, A/E/b/B
    python scripts/bench/context_overhead.py --size base --device cuda --fp16  # wav2vec2 base

Training step = forward + CTC + context loss + backward + Adam step (the fairseq criterion
``ctc_context``); decoding = forward + greedy CTC (the fairseq-generate generator). Each
utterance has one neighbour of the same length (window (2, 0)); b decodes with it, B and E
without.
"""

import argparse
import json
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
from gcaf_fairseq.decoding.ctc_decoders import ViterbiDecoder
from gcaf_fairseq.decoding.ctc_generator import CtcGenerator
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
}


class _Task:
    """What the model and criterion read from a fairseq task."""

    def __init__(self, dictionary):
        self.target_dictionary = dictionary
        self.blank_symbol = "<s>"


def build_models(size: str, device, data_dir: str, systems):
    spec = SIZES[size]
    dictionary = Dictionary()
    for letter in LETTERS:
        dictionary.add_symbol(letter)
    root = OmegaConf.structured(FairseqConfig())
    with open_dict(root):
        root.task = OmegaConf.structured(AudioPretrainingConfig(data=data_dir))
        root.task._name = "audio_pretraining"
        root.model = OmegaConf.structured(Wav2Vec2Config(**spec["model"]))
        root.model._name = "wav2vec2"
    # Resolve ${common.*} now: inside the fine-tuning config the root would be another.
    root = OmegaConf.create(OmegaConf.to_container(root, resolve=True))
    models = {}
    for system in systems:
        context = SYSTEM_OPTIONS[system]
        cfg = Wav2Vec2ContextCtcConfig(
            w2v_args=root, data=data_dir, normalize=False, ddp_backend="pytorch_ddp",
            mask_channel_prob=0.25, mask_channel_length=spec["mask_channel_length"], layerdrop=0.0,
            context_embed_dim=spec["teacher_dim"], **context,
        )
        torch.manual_seed(0)
        models[system] = Wav2VecContextCtc.build_model(OmegaConf.structured(cfg), _Task(dictionary)).to(device)
    return models, dictionary, spec


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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--fp16", action="store_true", help="half precision (GPU)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per system and phase")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, help="utterances per batch (default: the size's)")
    parser.add_argument("--seconds", type=float, help="seconds per utterance (default: the size's)")
    parser.add_argument("--systems", default="A,E,b,B", help="systems to compare with A (default: %(default)s)")
    args = parser.parse_args()
    systems = ["A"] + [s for s in args.systems.split(",") if s and s != "A"]
    unknown = [s for s in systems if s not in SYSTEM_OPTIONS]
    if unknown:
        parser.error(f"unknown systems {unknown}; choose among {list(SYSTEM_OPTIONS)}")
    device = torch.device(args.device)
    dtype = torch.float16 if args.fp16 else torch.float32

    with tempfile.TemporaryDirectory() as data_dir:
        models, dictionary, spec = build_models(args.size, device, data_dir, systems)
    spec = {**spec, "batch": args.batch or spec["batch"], "seconds": args.seconds or spec["seconds"]}
    batch = make_batch(spec, dictionary, device, dtype)
    task = _Task(dictionary)
    criterion = CtcContextCriterion(OmegaConf.structured(CtcContextCriterionConfig(sentence_avg=True, zero_infinity=True)), task)
    generator = CtcGenerator(ViterbiDecoder(dictionary), dictionary)
    optimizers = {}
    for system, model in models.items():
        model.to(dtype)
        optimizers[system] = torch.optim.Adam(model.parameters(), lr=1e-5, eps=1e-4 if args.fp16 else 1e-8)

    def batch_for(system, training):
        if system in ("b", "B") and (training or system == "b"):
            return {**batch, "net_input": {**batch["net_input"], **batch["neighbours"]}}
        return batch

    def train_step(system):
        models[system].train()
        optimizers[system].zero_grad()
        loss, _, _ = criterion(models[system], batch_for(system, True))
        loss.backward()
        optimizers[system].step()

    def decode(system):
        models[system].eval()
        with torch.no_grad():
            generator.generate([models[system]], batch_for(system, False))

    order = list(models)
    times = {(system, phase): [] for system in models for phase in ("train", "decode")}
    for step in range(args.warmup + args.steps):
        for phase, function in (("train", train_step), ("decode", decode)):
            for system in (order if step % 2 == 0 else order[::-1]):  # interleaved, alternating order
                seconds = timed(lambda: function(system), device)
                if step >= args.warmup:
                    times[(system, phase)].append(seconds)

    parameters = {system: sum(p.numel() for p in model.parameters()) for system, model in models.items()}
    median = {key: statistics.median(values) for key, values in times.items()}
    report = {
        "size": args.size,
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "dtype": str(dtype).replace("torch.", ""),
        "batch": f"{spec['batch']} x {spec['seconds']} s",
        "steps": args.steps,
        "systems": {},
    }
    for system in models:
        report["systems"][system] = {
            "parameters": parameters[system],
            "parameter_overhead": parameters[system] - parameters["A"],
            "parameter_overhead_percent": round(100 * (parameters[system] - parameters["A"]) / parameters["A"], 3),
            "train_step_ms": round(1000 * median[(system, "train")], 2),
            "train_step_ratio_over_A": round(median[(system, "train")] / median[("A", "train")], 3),
            "decode_ms": round(1000 * median[(system, "decode")], 2),
            "decode_ratio_over_A": round(median[(system, "decode")] / median[("A", "decode")], 3),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
