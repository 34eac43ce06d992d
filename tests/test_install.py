"""The package outside a checkout: a non-editable install finds its hydra configs and runs
the demo's fairseq steps; the tools stay light (no torch, no fairseq)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]


def _clean_environment(**extra):
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GCAF_CONFIG_DIR")}
    environment.update(extra)
    return environment


def test_pure_tools_import_neither_torch_nor_fairseq():
    probe = (
        "import sys, json; import gcaf_fairseq.scoring, gcaf_fairseq.prep, gcaf_fairseq.generation.rouge; "
        "import gcaf_fairseq.cli.score, gcaf_fairseq.cli.prepare_librispeech, gcaf_fairseq.cli.prepare_slue, "
        "gcaf_fairseq.cli.rouge, gcaf_fairseq.cli.build_lexicon, gcaf_fairseq.cli.merge_generations; "
        "print(json.dumps({m: m in sys.modules for m in ('torch', 'fairseq', 'transformers')}))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPOSITORY, check=True)
    assert json.loads(loaded.stdout) == {"torch": False, "fairseq": False, "transformers": False}


def test_importing_the_package_registers_the_plugin():
    probe = (
        "import gcaf_fairseq; from fairseq.tasks import TASK_REGISTRY; from fairseq.models import MODEL_REGISTRY; "
        "from fairseq.criterions import CRITERION_REGISTRY; "
        "print('audio_context_finetuning' in TASK_REGISTRY, 'wav2vec2_context_ctc' in MODEL_REGISTRY, "
        "'wav2vec2_context_seq_cls' in MODEL_REGISTRY, 'ctc_context' in CRITERION_REGISTRY, "
        "'seq_cls_context' in CRITERION_REGISTRY)"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPOSITORY, check=True)
    assert loaded.stdout.split() == ["True"] * 5


def test_register_after_a_tool_import_registers_the_plugin():
    probe = (
        "import gcaf_fairseq.scoring, gcaf_fairseq; gcaf_fairseq.register(); gcaf_fairseq.register(); "
        "from fairseq.tasks import TASK_REGISTRY; print('audio_context_finetuning' in TASK_REGISTRY)"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPOSITORY, check=True)
    assert loaded.stdout.split() == ["True"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """``pip install .`` (not editable) into a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(REPOSITORY)],
        check=True, capture_output=True, cwd=build, env=_clean_environment(TMPDIR=str(build)),
    )
    return target


@pytest.mark.slow
def test_a_non_editable_install_finds_its_configs_and_runs_the_demo_pretraining(installed, corpus, tmp_path):
    probe = (
        "import json, sys; import gcaf_fairseq.resources as r; import gcaf_demo.fairseq_runs as f; "
        "from gcaf_demo.tiny_wav2vec2 import pretrain_tiny_wav2vec2; "
        "checkpoint = pretrain_tiny_wav2vec2(sys.argv[1], sys.argv[2], max_update=2); "
        "print(json.dumps({'plugin': str(r.PLUGIN_DIR), 'config': str(r.config_dir()), "
        "'finetuning': str(f.config_dir_of('finetuning')), 'checkpoint': str(checkpoint)}))"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ran = subprocess.run(
        [sys.executable, "-c", probe, str(corpus), str(tmp_path / "pretrain")],
        capture_output=True, text=True, cwd=elsewhere, env=_clean_environment(PYTHONPATH=str(installed)),
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    found = json.loads(ran.stdout.strip().splitlines()[-1])
    assert found["plugin"] == str(installed / "gcaf_fairseq")
    assert found["config"] == str(installed / "gcaf_fairseq" / "config")
    assert (Path(found["finetuning"]) / "demo_tiny.yaml").is_file()
    assert Path(found["checkpoint"]).is_file()
    help_text = subprocess.run(
        [sys.executable, "-c", "from gcaf_demo.cli.demo import main; main(['--help'])"],
        capture_output=True, text=True, cwd=elsewhere, env=_clean_environment(PYTHONPATH=str(installed)), check=True,
    ).stdout
    assert "--corpus" in help_text
