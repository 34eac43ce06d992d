"""Pretrain a tiny wav2vec2 with fairseq's own recipe, for demos and tests on CPU.

The model (``config/pretraining/tiny_wav2vec2.yaml``: 2 layers, dim 64, 10 ms frames) is
trained by ``fairseq-hydra-train`` with fairseq's ``wav2vec2`` model, ``wav2vec`` criterion
and ``audio_pretraining`` task for a few dozen updates: seconds on two cores. Its
``checkpoint_last.pt`` serves as ``model.w2v_path`` of ``wav2vec_ctc`` fine-tuning.
"""

import json
from pathlib import Path

from gcaf_fairseq.data.atomic_files import write_text_atomically
from gcaf_fairseq.data.fingerprints import file_sha256
from gcaf_fairseq.recipes.processes import hydra_data, hydra_train_command, run_logged
from .fairseq_runs import config_dir_of

CONFIG_NAME = "tiny_wav2vec2"
CHECKPOINT_NAME = "checkpoint_last.pt"
# Written after a successful run: its presence with the same settings means "complete".
RUN_RECORD_NAME = "pretraining.json"
LOG_NAME = "pretraining.log"


def pretraining_command(data_dir: Path, out_dir: Path, max_update: int, seed: int, config_name: str = CONFIG_NAME) -> list:
    """The ``fairseq-hydra-train`` command line that pretrains into ``out_dir`` (Hydra's run
    folder too: through an alias when the path holds ``${``, :mod:`gcaf_fairseq.recipes.hydra_alias`)."""
    overrides = [*hydra_data(data_dir), f"optimization.max_update={max_update}", f"common.seed={seed}"]
    return hydra_train_command(config_dir_of("pretraining"), config_name, out_dir, None, overrides)


def pretrain_tiny_wav2vec2(data_dir, out_dir, max_update: int = 40, seed: int = 1, config_name: str = CONFIG_NAME) -> Path:
    """Pretrain the tiny wav2vec2 (or another config of ``config/pretraining``, e.g.
    ``small_wav2vec2``) on the ``train`` manifest of ``data_dir``.

    Args:
        data_dir: folder with a fairseq ``train.tsv`` (e.g. from
            :func:`gcaf_demo.corpus.synthesize_corpus`).
        out_dir: folder for the checkpoint, hydra's files and ``pretraining.log``.
        max_update: number of updates.
        seed: fairseq's ``common.seed``.
        config_name: the pretraining config, ``tiny_wav2vec2`` (default) or ``small_wav2vec2``.

    Returns:
        The path of ``out_dir/checkpoint_last.pt``. When ``out_dir`` already holds a
        checkpoint from a finished run with the same data, updates, seed and config, it is
        returned without training; an unfinished or different one is trained afresh.

    Training runs through :func:`gcaf_fairseq.recipes.processes.run_logged` (one thread unless the environment
    sets ``OMP_NUM_THREADS``); its output goes to ``out_dir/pretraining.log``, whose end is
    raised with a failure.
    """
    data_dir = Path(data_dir).absolute()
    out_dir = Path(out_dir).absolute()
    checkpoint = out_dir / CHECKPOINT_NAME
    run_record = out_dir / RUN_RECORD_NAME
    config_file = config_dir_of("pretraining") / f"{config_name}.yaml"
    if not config_file.is_file():
        raise FileNotFoundError(f"pretraining config not found: {config_file}")
    if not (data_dir / "train.tsv").is_file():
        raise FileNotFoundError(f"no train.tsv manifest in {data_dir}")
    settings = {
        "data_dir": str(data_dir),
        "max_update": max_update,
        "seed": seed,
        "config": config_name,
        "config_sha256": file_sha256(config_file),
    }
    try:
        if checkpoint.is_file() and json.loads(run_record.read_text()) == settings:
            return checkpoint
    except (OSError, ValueError):
        pass

    out_dir.mkdir(parents=True, exist_ok=True)
    run_record.unlink(missing_ok=True)
    # fairseq would resume from a leftover checkpoint_last.pt: start from scratch instead.
    checkpoint.unlink(missing_ok=True)
    run_logged(pretraining_command(data_dir, out_dir, max_update, seed, config_name), out_dir / LOG_NAME)
    if not checkpoint.is_file():
        raise RuntimeError(f"fairseq-hydra-train finished without writing {checkpoint}; see {out_dir / LOG_NAME}")
    write_text_atomically(run_record, json.dumps(settings, indent=2) + "\n")
    return checkpoint


# ---------------------------------------------------------------- the smoke-run wav2vec2
NOISE_CLIPS = 8
NOISE_SECONDS = 2


def write_noise_manifest(out_dir, clips: int = NOISE_CLIPS, seconds: float = NOISE_SECONDS, seed: int = 0) -> Path:
    """``out_dir/train.tsv`` and ``clip{k}.flac``: ``clips`` clips of white noise (16 kHz mono,
    16-bit), the same bytes for the same arguments. Speech without a speech synthesizer: enough
    for fairseq's pretraining to run, not to learn anything."""
    import numpy as np
    import soundfile

    from gcaf_fairseq.data.manifest import SAMPLE_RATE, write_manifest

    out_dir = Path(out_dir).absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    generator = np.random.default_rng(seed)
    rows = []
    for index in range(clips):
        samples = (generator.standard_normal(int(seconds * SAMPLE_RATE)) * 3000).astype(np.int16)
        soundfile.write(str(out_dir / f"clip{index}.flac"), samples, SAMPLE_RATE, subtype="PCM_16")
        rows.append((f"clip{index}.flac", len(samples)))
    write_manifest(out_dir / "train.tsv", out_dir, rows)
    return out_dir / "train.tsv"


def make_smoke_wav2vec2(out_dir, max_update: int = 2, seed: int = 1) -> Path:
    """A tiny wav2vec2 checkpoint for smoke runs, in seconds and without espeak-ng: the tiny
    config pretrained by fairseq for ``max_update`` updates on :func:`write_noise_manifest`'s
    clips (in ``out_dir/noise``). Returns ``out_dir/checkpoint_last.pt``, a fairseq wav2vec2
    checkpoint for ``model.w2v_path`` (the recipes' ``--w2v``); a finished one is reused."""
    out_dir = Path(out_dir)
    write_noise_manifest(out_dir / "noise")
    return pretrain_tiny_wav2vec2(out_dir / "noise", out_dir, max_update=max_update, seed=seed)
