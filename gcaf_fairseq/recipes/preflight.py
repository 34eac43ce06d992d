"""What a recipe checks before stage 1, so that it fails in its first second with one line
rather than after hours of training (pure Python):

- :func:`missing_paths`: every path the command line gives exists and is of the right kind
  (``--w2v`` and ``--lm`` files, ``--text-encoder`` and ``--llm`` folders, the dataset
  folders), whether or not the stages chosen read it: a mistyped ``--lm`` is named now, not
  used silently or found missing at stage 5;
- :class:`OutLock`: one recipe at a time per ``--out`` (an exclusive ``fcntl.flock`` on
  ``OUT/.recipe/lock`` with the holder's pid inside, held until the recipe ends; the kernel
  drops it when the process dies, so a killed recipe leaves no stale lock), as training
  locks its ``save_dir``; taking it also proves ``--out`` writable.
"""

import errno
import fcntl
import os
from pathlib import Path
from typing import List, Optional

from .hydra_alias import needs_alias

LOCK = Path(".recipe") / "lock"


class PreflightError(ValueError):
    """The recipe cannot start: the message is one line naming the option, the path and what to do."""


def _problem(option: str, path: Optional[Path], kind: str) -> Optional[str]:
    if path is None:
        return None
    if kind == "file" and not path.is_file():
        return f"{option} {path}: " + ("a folder, not a file" if path.is_dir() else "no such file")
    if kind == "folder" and not path.is_dir():
        return f"{option} {path}: " + ("a file, not a folder" if path.exists() else "no such folder")
    return None


def missing_paths(options) -> List[str]:
    """One line per path of ``options`` (:class:`~gcaf_fairseq.recipes.options.RecipeOptions`)
    that does not exist or is not of the kind its option takes."""
    checks = [("--w2v", options.w2v, "file"), ("--text-encoder", options.text_encoder, "folder"),
              ("--lm", options.lm, "file"), ("--lexicon", options.lexicon, "file")]
    for size, source in sorted(options.llms.items()):
        if source.model_dir:
            option = "--llm" if size == "13B" else f"--llm {size}="
            checks.append((option, Path(source.model_dir), "folder"))
    for name, root in sorted(options.datasets.items()):
        option = f"--{name}" if options.benchmark == "librilight" else f"--slue-{name}"
        checks.append((option, root, "folder"))
    problems = [problem for option, path, kind in checks if (problem := _problem(option, path, kind))]
    encoder = options.text_encoder
    if encoder is not None and encoder.is_dir() and not (encoder / "config.json").is_file():
        problems.append(f"--text-encoder {encoder}: no config.json (a Hugging Face model folder is needed)")
    if options.slurm and needs_alias(options.out):
        problems.append(f"--out {options.out}: a path holding '${{' cannot go to SLURM (Hydra resolves the job "
                        "folder as an interpolation on the node); choose an --out without '${'")
    return problems


def check_paths(options) -> None:
    """:class:`PreflightError` listing :func:`missing_paths`, if any."""
    problems = missing_paths(options)
    if problems:
        raise PreflightError("; ".join(problems))


class OutLock:
    """Exclusive use of a recipe's ``--out`` (see the module docstring); a context manager."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.path = self.out / LOCK
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._descriptor: Optional[int] = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            reason = error.strerror or str(error)
            if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                reason += ": give an --out you can write to"
            raise PreflightError(f"--out {self.out}: cannot write there ({reason})") from None
        try:
            fcntl.flock(self._descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._descriptor, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(self._descriptor)
            raise PreflightError(f"--out {self.out} is in use by another recipe run (pid {holder}, lock {self.path}): "
                                 "wait for it to finish or stop it, or give another --out") from None
        os.ftruncate(self._descriptor, 0)
        os.pwrite(self._descriptor, f"{os.getpid()}\n".encode("ascii"), 0)

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None

    def __enter__(self) -> "OutLock":
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()
