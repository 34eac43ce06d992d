"""What the stage modules share: how a package tool is started, and the small in-process
actions of the runner's steps (pure Python)."""

import json
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List

from ...data.atomic_files import write_text_atomically
from ...tables.runs import write_run_file, write_skipped
from ..runner import Changes


def python_tool(module: str) -> List[str]:
    """A package tool (:mod:`gcaf_fairseq.cli`) run with this interpreter (works without the
    console scripts on PATH)."""
    return [sys.executable, "-m", f"gcaf_fairseq.cli.{module}"]


def write_json(path: Path, data: dict) -> Callable[[], None]:
    def write() -> None:
        text = json.dumps(data, indent=2) + "\n"
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            write_text_atomically(path, text)
    return write


def write_run_json(folder: Path, coordinates: Dict[str, Any]) -> Callable[[], None]:
    """``run.json`` (the run-folder contract), validated as it is written."""
    def write() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        write_run_file(folder, coordinates)
    return write


def skip_run(folder: Path, coordinates: Dict[str, Any], reason: str) -> Callable[[], None]:
    def write() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "run.json", coordinates)()
        write_skipped(folder, reason)
    return write


def skip_decoding(folder: Path, reason: str) -> Callable[[], None]:
    def write() -> None:
        folder.mkdir(parents=True, exist_ok=True)
        write_skipped(folder, reason)
    return write


def make_folder(folder: Path) -> Callable[[], None]:
    def make() -> None:
        folder.mkdir(parents=True, exist_ok=True)
    return make


def empty_folder(folder: Path) -> Callable[[Changes], None]:
    """A discard that empties ``folder`` (a run folder or a decoding folder made from other
    inputs): no checkpoint, log or result of the old run is left to be resumed or read."""
    def discard(changes: Changes) -> None:
        if folder.is_dir():
            for child in folder.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                elif not child.name.endswith(".lock"):  # a save_dir lock is held by its owner
                    child.unlink()
    return discard
