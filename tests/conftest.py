"""Session fixtures: a small synthesized corpus, a tiny pretrained wav2vec2, the smoke-run
models of gcaf-make-smoke-models, context stores from the real all-MiniLM-L6-v2, and helpers
that build the task and models in-process."""

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TEXT_DIM = 384  # all-MiniLM-L6-v2


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """5 chapters x 4 sentences: train 12, valid 4, test 4 utterances (4 is not a multiple
    of fairseq's required_batch_size_multiple=8, so a dropped tail batch would show)."""
    from gcaf_demo.corpus import synthesize_corpus

    out = tmp_path_factory.mktemp("corpus")
    synthesize_corpus(out, n_chapters=5, sentences_per_chapter=4, valid_chapters=1, test_chapters=1, seed=0, jobs=2)
    return out


@pytest.fixture(scope="session")
def w2v_checkpoint(corpus, tmp_path_factory) -> Path:
    from gcaf_demo.tiny_wav2vec2 import pretrain_tiny_wav2vec2

    return pretrain_tiny_wav2vec2(corpus, tmp_path_factory.mktemp("pretrain"), max_update=10)


@pytest.fixture(scope="session")
def smoke_models(tmp_path_factory) -> dict:
    """What ``gcaf-make-smoke-models`` makes and prints (``w2v``, ``llm``, ``text_encoder``,
    ``recipe_options``): the models of the documented smoke runs (docs/reproduction.md)."""
    from gcaf_demo.cli.make_smoke_models import make_smoke_models

    return make_smoke_models(tmp_path_factory.mktemp("smoke_models"))


@pytest.fixture(scope="session")
def context_dir(corpus, tmp_path_factory) -> Path:
    """``{split}.prev.cls`` for every split, and ``test.prev.seq`` (sequence pooling)."""
    from gcaf_fairseq.data.utterance_table import previous_texts, read_utterance_table
    from gcaf_demo.pipeline import demo_text_encoder, embed_previous_sentences
    from gcaf_fairseq.embedding.text_encoder import embed_texts

    out = tmp_path_factory.mktemp("context")
    embed_previous_sentences(corpus, out, demo_text_encoder())
    records, _ = previous_texts(read_utterance_table(corpus / "test.utterances.jsonl"))
    embed_texts([(r["id"], r["text"]) for r in records], str(demo_text_encoder()), "sequence", str(out / "test.prev.seq"), progress=False)
    return out


def record_fsyncs(monkeypatch) -> list:
    """From now on, the descriptors ``os.fsync`` is called with (it still syncs)."""
    calls = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda descriptor: (calls.append(descriptor), real_fsync(descriptor))[1])
    return calls


@pytest.fixture
def copy_of(tmp_path):
    """Copy a folder into this test's tmp_path, to damage it safely."""

    def copy(folder: Path, name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(folder, target)
        return target

    return copy


def make_task(data, **task_options):
    from omegaconf import OmegaConf

    import gcaf_fairseq.plugin  # noqa: F401  (the task builds models and criteria by their registered names)
    from gcaf_fairseq.tasks import AudioContextFinetuningConfig, AudioContextFinetuningTask

    options = {"labels": "ltr", **task_options}
    cfg = AudioContextFinetuningConfig(data=str(data), tpu=False, seed=1, **options)
    return AudioContextFinetuningTask(OmegaConf.structured(cfg))


def model_config(w2v_checkpoint, data, **context_options):
    """A resolved ``wav2vec2_context_ctc`` config (as fairseq-hydra-train would build it)."""
    from omegaconf import OmegaConf

    from gcaf_fairseq.models import Wav2Vec2ContextCtcConfig

    options = dict(context_embed_dim=TEXT_DIM)
    options.update(context_options)
    cfg = Wav2Vec2ContextCtcConfig(
        w2v_path=str(w2v_checkpoint), data=str(data), normalize=False, ddp_backend="pytorch_ddp",
        mask_channel_length=8, mask_channel_prob=0.25, **options,
    )
    cfg._name = "wav2vec2_context_ctc"
    return OmegaConf.structured(cfg)


def build(task, w2v_checkpoint, data, seed=1, **context_options):
    import torch

    torch.manual_seed(seed)
    return task.build_model(model_config(w2v_checkpoint, data, **context_options))
