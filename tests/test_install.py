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


# The plugin's packages: they may import torch and fairseq. Every other package under
# gcaf_fairseq is a tool and must not (found by pkgutil, so a package added later is covered).
PLUGIN_PACKAGES = {"modules", "models", "criterions", "tasks", "data", "decoding", "checkpoints", "plugin"}
HEAVY = ("torch", "fairseq", "transformers")

# Run in a fresh interpreter that has imported nothing of gcaf_fairseq: it forks one child per
# import statement (fork: milliseconds; a new interpreter per module would take minutes on two
# cores), at most four at a time, and prints what each child had loaded after its import.
IMPORT_PROBE = r"""
import json, os, sys
statements = json.load(sys.stdin)
heavy = json.loads(sys.argv[1])
assert not [name for name in sys.modules if name.split(".")[0] in ["gcaf_fairseq", *heavy]]
import numpy  # noqa: F401  (used by most tools, neither torch nor fairseq: imported once, before the forks)

def child(statement, write):
    try:
        exec(statement, {})
        report = {"loaded": [name for name in heavy if name in sys.modules]}
    except BaseException as error:
        report = {"error": f"{type(error).__name__}: {error}"}
    os.write(write, json.dumps(report).encode())
    os._exit(0)

results, running = {}, {}
def reap():
    pid, _ = os.wait()
    statement, read = running.pop(pid)
    with os.fdopen(read) as stream:
        results[statement] = json.loads(stream.read() or '{"error": "the child died"}')

for statement in statements:
    while len(running) >= min(4, os.cpu_count() or 1):
        reap()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        child(statement, write)
    os.close(write)
    running[pid] = (statement, read)
while running:
    reap()
print(json.dumps(results))
"""


def tool_modules():
    """``gcaf_fairseq`` and every module of its tool packages (see :data:`PLUGIN_PACKAGES`)."""
    import pkgutil

    import gcaf_fairseq

    names = ["gcaf_fairseq"]
    for package in pkgutil.iter_modules(gcaf_fairseq.__path__, "gcaf_fairseq."):
        if package.name.rsplit(".", 1)[1] in PLUGIN_PACKAGES:
            continue
        names.append(package.name)
        if package.ispkg:
            path = [str(Path(gcaf_fairseq.__path__[0]) / package.name.rsplit(".", 1)[1])]
            names += [module.name for module in pkgutil.walk_packages(path, package.name + ".")]
    return names


def import_statements(module: str):
    """Both spellings: ``import a.b.c`` and ``from a.b import c``."""
    statements = [f"import {module}"]
    if "." in module:
        parent, name = module.rsplit(".", 1)
        statements.append(f"from {parent} import {name}")
    return statements


def test_tools_import_neither_torch_nor_fairseq_in_either_spelling():
    modules = tool_modules()
    for expected in ("gcaf_fairseq.prep.slue", "gcaf_fairseq.cli.score", "gcaf_fairseq.generation.backends.hf",
                     "gcaf_fairseq.resources", "gcaf_fairseq.recipes.decode", "gcaf_fairseq.tables.builder"):
        assert expected in modules  # the discovery finds nested modules of every tool package
    assert not [module for module in modules if module.split(".")[1:2] and module.split(".")[1] in PLUGIN_PACKAGES]
    statements = [statement for module in modules for statement in import_statements(module)]
    ran = subprocess.run([sys.executable, "-c", IMPORT_PROBE, json.dumps(HEAVY)], input=json.dumps(statements),
                         capture_output=True, text=True, cwd=REPOSITORY, check=True)
    results = json.loads(ran.stdout)
    assert set(results) == set(statements)
    failed = {statement: result for statement, result in results.items() if result != {"loaded": []}}
    assert not failed, "\n".join(f"{statement}: {result}" for statement, result in sorted(failed.items()))


REGISTERED = (
    "from fairseq.tasks import TASK_REGISTRY; from fairseq.models import MODEL_REGISTRY; "
    "from fairseq.criterions import CRITERION_REGISTRY; "
    "print('audio_context_finetuning' in TASK_REGISTRY, 'wav2vec2_context_ctc' in MODEL_REGISTRY, "
    "'wav2vec2_context_seq_cls' in MODEL_REGISTRY, 'ctc_context' in CRITERION_REGISTRY, "
    "'seq_cls_context' in CRITERION_REGISTRY)"
)


def _probe(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPOSITORY, check=True).stdout


def test_importing_the_plugin_registers_it_and_its_checkpoint_safety():
    probe = (
        "import gcaf_fairseq.plugin; " + REGISTERED + "; "
        "import torch, argparse; from fairseq import checkpoint_utils; from fairseq.data import Dictionary; "
        "safe = torch.serialization.get_safe_globals(); "
        "print(Dictionary in safe and argparse.Namespace in safe, "
        "getattr(checkpoint_utils.load_checkpoint, '_gcaf_checkpoint_hook', False))"
    )
    assert _probe(probe).split() == ["True"] * 7


def test_the_plugin_registers_after_fairseq_and_a_tool_were_imported():
    probe = (
        "import fairseq.tasks, gcaf_fairseq.scoring, gcaf_fairseq; " + REGISTERED + "; "
        "import gcaf_fairseq.plugin; import gcaf_fairseq.plugin; " + REGISTERED
    )
    assert _probe(probe).split() == ["False"] * 5 + ["True"] * 5  # the package alone registers nothing


def test_importing_the_package_loads_and_registers_nothing():
    probe = "import json, sys, gcaf_fairseq; print(json.dumps(sorted(m for m in sys.modules if m.startswith(('gcaf_fairseq', 'torch', 'fairseq')))))"
    assert json.loads(_probe(probe)) == ["gcaf_fairseq"]
    assert _probe("import gcaf_fairseq; print(gcaf_fairseq.__version__)").strip() == "0.1.0"


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
