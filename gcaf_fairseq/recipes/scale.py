"""Published hyper-parameters, and the hardware settings that keep the published effective batch.

The published effective batch of a config is ``max_tokens x distributed_world_size x
update_freq`` as its yaml states them (fairseq's Libri-light configs: 3.2M tokens x 2 GPUs x 4;
SLUE's: 1 GPU, DATA.md). On ``G`` GPUs the recipes set ``distributed_world_size = G`` and
``update_freq = ceil(world x update_freq / G)`` (printed, with a warning when it cannot be
kept exactly); on a CPU one process with the whole product as ``update_freq``. A smoke run
(``--smoke``) uses one process and ``update_freq`` 1: it checks the plumbing, not results.

Sizes that follow from the inputs are read from them: the text encoder's ``hidden_size``
(``config.json``) becomes ``model.context_embed_dim``, and the wav2vec2 checkpoint's
``encoder_embed_dim`` (the frame size) is checked against the channel masking span.
"""

import json
import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Tuple

from ..resources import config_dir


def _load_yaml(path: Path) -> Dict[str, Any]:
    import yaml  # PyYAML (a dependency of hydra-core / omegaconf); imported only here

    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


@dataclass
class Hyperparameters:
    """What ``--dry-run`` prints for each config: the published values of its yaml."""

    config: str
    lr: float
    max_update: int
    mask_prob: float
    mask_channel_prob: float
    mask_channel_length: int
    layerdrop: float
    freeze_finetune_updates: int
    max_tokens: int
    world_size: int
    update_freq: int
    phase_ratio: Tuple[float, ...]  # the tri-stage schedule's warm-up, hold and decay fractions

    @property
    def effective_batch(self) -> int:
        return self.max_tokens * self.world_size * self.update_freq

    def describe(self) -> str:
        phases = ", ".join(f"{ratio:g}" for ratio in self.phase_ratio)
        return (f"{self.config}: lr {self.lr:g}, max_update {self.max_update}, phase_ratio [{phases}], "
                f"mask_prob {self.mask_prob:g}, "
                f"mask_channel_prob {self.mask_channel_prob:g} (length {self.mask_channel_length}), "
                f"layerdrop {self.layerdrop:g}, freeze_finetune_updates {self.freeze_finetune_updates}, "
                f"effective batch {self.max_tokens / 1e6:g}M samples x {self.world_size} GPU(s) x update_freq "
                f"{self.update_freq} = {self.effective_batch / 1e6:g}M samples")


def published_hyperparameters(config_name: str) -> Hyperparameters:
    """The published settings of ``config/finetuning/{config_name}.yaml``."""
    path = config_dir() / "finetuning" / f"{config_name}.yaml"
    data = _load_yaml(path)
    try:
        model, optimization, dataset = data["model"], data["optimization"], data["dataset"]
        distributed = data.get("distributed_training", {})
        return Hyperparameters(
            config=config_name,
            lr=float(_first(optimization["lr"])),
            max_update=int(optimization["max_update"]),
            mask_prob=float(model["mask_prob"]),
            mask_channel_prob=float(model["mask_channel_prob"]),
            mask_channel_length=int(model.get("mask_channel_length", 10)),
            layerdrop=float(model["layerdrop"]),
            freeze_finetune_updates=int(model["freeze_finetune_updates"]),
            max_tokens=int(dataset["max_tokens"]),
            world_size=int(distributed.get("distributed_world_size", 1)),
            update_freq=int(_first(optimization.get("update_freq", [1]))),
            phase_ratio=tuple(float(ratio) for ratio in data["lr_scheduler"]["phase_ratio"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: cannot read the published hyper-parameters ({error!r}); the recipe needs "
                         "model.mask_prob/mask_channel_prob/layerdrop/freeze_finetune_updates, optimization.lr/"
                         "max_update, dataset.max_tokens, lr_scheduler.phase_ratio") from None


def smoke_setting(section: str, key: str) -> int:
    """``section.key`` of the ``+smoke=tiny`` overlay (an integer)."""
    return int(_load_yaml(config_dir() / "finetuning" / "smoke" / "tiny.yaml")[section][key])


def smoke_max_update() -> int:
    """``optimization.max_update`` of the ``+smoke=tiny`` overlay."""
    return smoke_setting("optimization", "max_update")


def detect_gpus() -> int:
    """GPUs visible to this process: ``CUDA_VISIBLE_DEVICES`` if set, else the lines of
    ``nvidia-smi -L`` (no torch import); 0 without either."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([item for item in visible.split(",") if item.strip() and item.strip() != "-1"])
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in listing.splitlines() if line.startswith("GPU "))


@dataclass
class Scale:
    """The hardware settings of one config's runs and why."""

    world_size: int
    update_freq: int
    overrides: List[str]
    note: str


def scale_for(published: Hyperparameters, gpus: int, cpu: bool, smoke: bool, precision: str) -> Scale:
    """World size, ``update_freq`` and precision overrides for ``gpus`` GPUs (0: CPU)."""
    product = published.world_size * published.update_freq
    hardware = ["+hardware=cpu"] if cpu or gpus == 0 else []
    if smoke:
        world, update_freq = 1, 1
        note = "smoke: 1 process, update_freq 1 (the published effective batch is not kept)"
    elif cpu or gpus == 0:
        world, update_freq = 1, product
        note = (f"CPU: 1 process x update_freq {product} keeps the published effective batch "
                f"({published.world_size} x {published.update_freq})")
    else:
        world = gpus
        update_freq = max(1, math.ceil(product / gpus))
        kept = world * update_freq == product
        note = (f"{gpus} GPU(s) x update_freq {update_freq} "
                + ("keeps" if kept else f"= {world * update_freq}, NOT exactly") +
                f" the published {published.world_size} x {published.update_freq} = {product}")
    overrides = hardware + [f"distributed_training.distributed_world_size={world}",
                            f"optimization.update_freq=[{update_freq}]"]
    if not (cpu or gpus == 0):
        overrides += {"fp16": ["common.fp16=true", "common.bf16=false"],
                      "bf16": ["common.fp16=false", "common.bf16=true"],
                      "fp32": ["common.fp16=false", "common.bf16=false"]}[precision]
    return Scale(world, update_freq, overrides, note)


def text_encoder_dim(encoder: Path) -> int:
    """``hidden_size`` of the text encoder's ``config.json`` (384 for MiniLM, 768 for BERT-base)."""
    path = Path(encoder) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{path}: cannot read the text encoder's config ({error.strerror}); --text-encoder must be "
                         "a local Hugging Face model folder") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: not JSON ({error.msg})") from None
    dim = config.get("hidden_size", config.get("dim", config.get("d_model")))
    if not isinstance(dim, int) or dim <= 0:
        raise ValueError(f"{path}: no positive integer hidden_size; cannot size model.context_embed_dim")
    return dim


def w2v_frame_dim(checkpoint: Path) -> int:
    """The wav2vec2 checkpoint's frame size (``encoder_embed_dim`` of its saved config).
    Imports torch (and fairseq's checkpoint classes onto torch's allowlist)."""
    import torch

    from ..checkpoints.safety import allow_fairseq_checkpoint_classes

    allow_fairseq_checkpoint_classes()
    state = torch.load(str(checkpoint), map_location="cpu", weights_only=True)
    config = state.get("cfg") or {}
    model = config.get("model") if hasattr(config, "get") else None
    if model is None and state.get("args") is not None:
        model = vars(state["args"])
    dim = model.get("encoder_embed_dim") if hasattr(model, "get") else None
    if dim is None:
        weight = state.get("model", {}).get("layer_norm.weight")
        dim = None if weight is None else int(weight.shape[0])
    if dim is None:
        raise ValueError(f"{checkpoint}: no encoder_embed_dim in the checkpoint's config; is it a wav2vec2 checkpoint?")
    return int(dim)
