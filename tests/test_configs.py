"""The hydra configs: the published hyper-parameters (docs/reproduction.md) of the Libri-light and SLUE
recipes, the CPU overlay and the smoke preset, and a real short fairseq-hydra-train of the
Libri-light config with both overlays."""

import pytest
import torch
from omegaconf import OmegaConf

from gcaf_fairseq.recipes.processes import hydra_train
from gcaf_fairseq.tables.train_log import read_training_log
from gcaf_fairseq.resources import config_dir

FINETUNING = config_dir() / "finetuning"


def load(name: str, *overlays: str):
    """``config/finetuning/NAME.yaml`` with ``+group=option`` overlays (``# @package _global_``:
    their keys sit at the root, as Hydra merges them), interpolations resolved."""
    cfg = OmegaConf.load(FINETUNING / f"{name}.yaml")
    for overlay in overlays:
        group, option = overlay.split("=")
        cfg = OmegaConf.merge(cfg, OmegaConf.load(FINETUNING / group / f"{option}.yaml"))
    return OmegaConf.to_container(cfg, resolve=True)


def effective_batch(cfg) -> int:
    """Audio samples per update: max_tokens x update_freq x world size."""
    return cfg["dataset"]["max_tokens"] * cfg["optimization"]["update_freq"][0] * cfg["distributed_training"]["distributed_world_size"]


# fairseq's examples/wav2vec/config/finetuning/base_{10m,1h,10h,100h}.yaml (docs/reproduction.md).
LIBRILIGHT = {
    "10m": dict(max_update=13000, lr=5e-5, mask_channel_prob=0.25, layerdrop=0.1, freeze=10000),
    "1h": dict(max_update=13000, lr=5e-5, mask_channel_prob=0.25, layerdrop=0.1, freeze=10000),
    "10h": dict(max_update=20000, lr=5e-5, mask_channel_prob=0.5, layerdrop=0.05, freeze=10000),
    "100h": dict(max_update=80000, lr=3e-5, mask_channel_prob=0.5, layerdrop=0.1, freeze=0),
}


@pytest.mark.parametrize("split", sorted(LIBRILIGHT))
def test_librilight_configs_carry_the_published_hyper_parameters(split):
    published = LIBRILIGHT[split]
    cfg = load(f"librilight_{split}")
    model, optimization, dataset = cfg["model"], cfg["optimization"], cfg["dataset"]
    assert optimization["max_update"] == published["max_update"]
    assert optimization["lr"] == [published["lr"]]
    assert effective_batch(cfg) == 3_200_000 * 4 * 2  # 2 GPUs x update_freq 4
    assert model["mask_prob"] == 0.65
    assert model["mask_channel_prob"] == published["mask_channel_prob"]
    assert model["mask_channel_length"] == 64
    assert model["layerdrop"] == published["layerdrop"]
    assert model["freeze_finetune_updates"] == published["freeze"]
    assert dataset.get("validate_after_updates", 0) == published["freeze"]
    assert cfg["lr_scheduler"] == {"_name": "tri_stage", "phase_ratio": [0.1, 0.4, 0.5], "final_lr_scale": 0.05}
    assert cfg["task"]["normalize"] is False
    assert cfg["checkpoint"]["best_checkpoint_metric"] == "wer"
    assert dataset["valid_subset"] == "dev_other"
    assert dataset["skip_invalid_size_inputs_valid_test"] is True  # as fairseq's configs


# SLUE-toolkit's baseline scripts and configs (docs/reproduction.md): updates, lr, max_tokens, freeze, layerdrop,
# and the tri-stage phase ratios of baselines/{asr,ner,sentiment}/configs/*_1gpu.yaml as the SLUE
# paper (2021-11) and the CA paper (ICASSP 2023) ran them.
SLUE = {
    "slue_voxceleb_asr": (80000, 2e-5, 2_800_000, 10000, 0.1, [0.1, 0.0, 0.9]),
    "slue_voxpopuli_asr": (80000, 2e-5, 2_800_000, 10000, 0.1, [0.1, 0.0, 0.9]),
    "slue_voxpopuli_ner": (20000, 5e-5, 3_200_000 * 8, 10000, 0.05, [0.1, 0.0, 0.9]),
    "slue_voxceleb_sentiment": (50000, 2e-5, 1_400_000, 2000, 0.1, [0.1, 0.0, 0.9]),
}


@pytest.mark.parametrize("name", sorted(SLUE))
def test_slue_configs_validate_every_1000_updates_after_the_freeze(name):
    max_update, lr, batch, freeze, layerdrop, phase_ratio = SLUE[name]
    cfg = load(name)
    dataset, model = cfg["dataset"], cfg["model"]
    assert cfg["optimization"]["max_update"] == max_update and cfg["optimization"]["lr"] == [lr]
    assert cfg["lr_scheduler"] == {"_name": "tri_stage", "phase_ratio": phase_ratio, "final_lr_scale": 0.05}
    assert effective_batch(cfg) == batch
    assert model["freeze_finetune_updates"] == freeze and model["layerdrop"] == layerdrop
    assert (model["mask_prob"], model["mask_length"], model["mask_channel_prob"], model["mask_channel_length"]) == (0.65, 10, 0.5, 64)
    assert dataset["validate_after_updates"] == freeze
    assert dataset["validate_interval_updates"] == 1000
    assert dataset["validate_interval"] >= 10000  # never per epoch
    assert cfg["checkpoint"]["save_interval_updates"] == 1000
    assert dataset["skip_invalid_size_inputs_valid_test"] is True
    assert (dataset["train_subset"], dataset["valid_subset"]) == ("fine-tune", "dev")
    # a smoke run moves validation with the freeze
    assert load(name, "smoke=tiny")["dataset"]["validate_after_updates"] == load(name, "smoke=tiny")["model"]["freeze_finetune_updates"]


def test_slue_ner_schedule_is_slue_toolkits_w2v2_ner_1gpu_before_its_pr_29():
    """SLUE-toolkit's baselines/ner/e2e_scripts/ft-w2v2-base.sh runs --config-name w2v2_ner_1gpu with no
    schedule override; that config held phase_ratio [0.1, 0.0, 0.9] from its first commit (5891382,
    2021-11-09) until PR #29 (f24b221, 2023-01-04, "fix phase_ratio") made it [0.1, 0.4, 0.5]. The SLUE
    paper's NER baseline, CA's row (a) and GCAF's A/B NER cells (copies of CA's) predate the change."""
    assert load("slue_voxpopuli_ner")["lr_scheduler"]["phase_ratio"] == [0.1, 0.0, 0.9]


def test_slue_sentiment_classifier_dropout_is_slue_toolkits():
    assert load("slue_voxceleb_sentiment")["model"]["classifier_dropout"] == 0.2  # ft-w2v2-base-senti.sh


@pytest.mark.parametrize("name", ["librilight_10m", "librilight_1h", "librilight_10h", "librilight_100h", "slue_voxceleb_asr",
                                  "slue_voxceleb_sentiment", "slue_voxpopuli_asr", "slue_voxpopuli_ner"])
def test_cpu_overlay_and_smoke_preset_fix_what_fails_at_small_scale(name):
    published = load(name)
    assert published["common"]["fp16"] is True  # fails on a CPU
    cfg = load(name, "hardware=cpu", "smoke=tiny")
    assert cfg["common"]["fp16"] is False and cfg["common"]["cpu"] is True
    assert cfg["distributed_training"]["distributed_world_size"] == 1
    model, dataset = cfg["model"], cfg["dataset"]
    assert cfg["optimization"]["max_update"] <= 20
    # The encoder unfreezes, validation starts and a checkpoint is saved within the run.
    assert model["freeze_finetune_updates"] < cfg["optimization"]["max_update"]
    assert dataset["validate_after_updates"] <= model["freeze_finetune_updates"]
    assert 0 < dataset["validate_interval_updates"] < cfg["optimization"]["max_update"]
    assert 0 < cfg["checkpoint"]["save_interval_updates"] < cfg["optimization"]["max_update"]
    # channel masking fits a 64-dim model: at least one span of length <= 64 / 2
    assert model["mask_channel_length"] <= 32 and model["mask_channel_prob"] * 64 / model["mask_channel_length"] >= 1
    # everything else stays the published config's
    for key in ("lr", "update_freq"):
        assert cfg["optimization"][key] == published["optimization"][key]
    assert cfg["lr_scheduler"] == published["lr_scheduler"] and cfg["task"] == published["task"]


@pytest.mark.slow
def test_librilight_config_with_cpu_overlay_and_smoke_preset_trains_validates_and_saves_best(corpus, w2v_checkpoint, tmp_path):
    """The Libri-light command of docs/systems.md ("Training"), made small by two flags: a tiny
    wav2vec2 (64 dims) on CPU trains, unfreezes its encoder, validates and writes
    checkpoint_best.pt. System B, so the neighbours' audio goes through the same path."""
    save_dir = tmp_path / "B"
    hydra_train("librilight_1h", save_dir, [
        "+hardware=cpu", "+smoke=tiny",
        f"task.data={corpus}", f"model.w2v_path={w2v_checkpoint}", "dataset.valid_subset=valid",
        f"task.utterance_table='{corpus}/{{split}}.utterances.jsonl'",
    ], system="B")
    report = read_training_log(save_dir / "train.log")
    assert report.num_updates == 20
    assert len(report.valid) == 2 and "wer" in report.valid[-1]  # at updates 10 and 20
    assert (save_dir / "checkpoint_best.pt").exists()
    config = (save_dir / "train.log").read_text()
    assert "'fp16': False" in config and "'distributed_world_size': 1" in config
    # The transformer was fine-tuned after the 5 frozen updates (the published 10k would keep it
    # equal to the pretrained one).
    pretrained = torch.load(w2v_checkpoint, map_location="cpu", weights_only=False)["model"]
    finetuned = torch.load(save_dir / "checkpoint_best.pt", map_location="cpu", weights_only=False)["model"]
    key = "encoder.layers.0.fc1.weight"
    assert not torch.equal(pretrained[key], finetuned[f"w2v_encoder.w2v_model.{key}"])


@pytest.mark.slow
def test_slue_validation_starts_when_the_freeze_ends_through_fairseq(corpus, w2v_checkpoint, tmp_path):
    """validate_after_updates follows model.freeze_finetune_updates (an interpolation, as in
    SLUE-toolkit's yaml) through fairseq-hydra-train: with a freeze of 4 and validation every
    2 updates, the first validation is at update 4."""
    save_dir = tmp_path / "slue"
    hydra_train("slue_voxceleb_asr", save_dir, [
        "+hardware=cpu", f"task.data={corpus}", f"model.w2v_path={w2v_checkpoint}",
        "dataset.train_subset=train", "dataset.valid_subset=valid", "dataset.num_workers=0", "common.log_interval=1",
        "optimization.max_update=8", "model.freeze_finetune_updates=4", "model.mask_channel_length=8",
        "dataset.validate_interval_updates=2", "checkpoint.save_interval_updates=2",
    ])
    report = read_training_log(save_dir / "train.log")
    assert report.num_updates == 8
    assert [int(v["num_updates"]) for v in report.valid] == [4, 6, 8]
