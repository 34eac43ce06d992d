"""``python -m gcaf_fairseq.recipes.hydra_alias ALIAS FOLDER -- COMMAND...``: point the symbolic
link ``ALIAS`` at ``FOLDER`` (made if needed), then become ``COMMAND`` (``exec``).

Hydra records its run folder in ``hydra.runtime.output_dir`` as a plain string, which
OmegaConf reads as an interpolation whenever it holds ``${``: an ``--out`` such as
``/data/${oc.env:USER}/out`` would send Hydra's own files (``.hydra/``, its log) to another
folder, whatever the quoting of ``hydra.run.dir``. A training whose folder holds ``${`` is
therefore given Hydra a run folder without it (:func:`hydra_run_dir`: a link in the system's
temporary folder, named by a digest of the folder's path, so the command line stays the same
from run to run), and this module makes the link just before fairseq-hydra-train starts.
Pure Python.
"""

import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import List, Optional


def needs_alias(folder) -> bool:
    """Whether Hydra would resolve part of ``folder``'s path as an interpolation."""
    return "${" in str(folder)


def hydra_run_dir(folder) -> Path:
    """The run folder to give Hydra for a training in ``folder``: ``folder`` itself, or an alias
    without ``${`` when its path holds one (a link in the temporary folder, stable per path)."""
    folder = Path(folder)
    if not needs_alias(folder):
        return folder
    digest = hashlib.sha256(str(folder).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    alias = Path(tempfile.gettempdir()) / f"gcaf-hydra-{digest}"
    if needs_alias(alias):
        raise ValueError(f"the temporary folder {tempfile.gettempdir()} holds '${{': set TMPDIR to a folder "
                         "without it (Hydra would resolve it as an interpolation)")
    return alias


def alias_command(folder, command: List[str]) -> List[str]:
    """``command`` (a fairseq-hydra-train command line whose ``hydra.run.dir`` is
    :func:`hydra_run_dir`), run through this module when the alias is needed."""
    if not needs_alias(folder):
        return list(command)
    return [sys.executable, "-m", "gcaf_fairseq.recipes.hydra_alias",
            str(hydra_run_dir(folder)), str(folder), "--", *command]


def link(alias: Path, folder: Path) -> None:
    """Point ``alias`` at ``folder`` (made if needed), replacing an older link atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    if alias.is_symlink() and os.readlink(alias) == str(folder):
        return
    if alias.exists() and not alias.is_symlink():
        raise FileExistsError(f"{alias} exists and is not a link: remove it (it is the Hydra alias of {folder})")
    temporary = alias.with_name(f"{alias.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    os.symlink(folder, temporary)
    os.replace(temporary, alias)


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 4 or argv[2] != "--":
        sys.exit("usage: python -m gcaf_fairseq.recipes.hydra_alias ALIAS FOLDER -- COMMAND...")
    alias, folder, command = Path(argv[0]), Path(argv[1]), argv[3:]
    link(alias, folder)
    sys.stdout.flush()
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
