"""Where the plugin and its hydra configs are, however the package is installed.

``PLUGIN_DIR`` is what fairseq's ``--user-dir`` / ``common.user_dir`` takes. The hydra
configs live in the repository's top-level ``config/``; ``pip install .`` (not editable)
copies them into the installed package as ``gcaf_fairseq/config`` (see ``setup.py``), so
:func:`config_dir` looks there first and then beside the package (a checkout or an
editable install). Pure ``pathlib``: no torch, no fairseq.
"""

import os
from pathlib import Path

# this file is gcaf_fairseq/resources/__init__.py: the plugin folder is two levels up
PLUGIN_DIR = Path(__file__).resolve().parent.parent


def config_dir() -> Path:
    """The folder holding ``finetuning/`` and ``pretraining/`` (``GCAF_CONFIG_DIR`` wins)."""
    candidates = [PLUGIN_DIR / "config", PLUGIN_DIR.parent / "config"]
    if os.environ.get("GCAF_CONFIG_DIR"):
        candidates.insert(0, Path(os.environ["GCAF_CONFIG_DIR"]))
    for candidate in candidates:
        if (candidate / "finetuning").is_dir() and (candidate / "pretraining").is_dir():
            return candidate
    raise FileNotFoundError(
        "gcaf-fairseq's hydra configs (config/finetuning, config/pretraining) were found in none of "
        f"{', '.join(str(c) for c in candidates)}: reinstall the package (pip install .), or set "
        "GCAF_CONFIG_DIR to a checkout's config/ folder"
    )
