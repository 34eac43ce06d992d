"""Atomic file writes: a reader never sees half a file.

Every file is written under a fresh temporary name in its folder, then renamed over the
target. The file gets the usual permissions (the umask's), which ``tempfile.mkstemp`` would
narrow to the owner alone.
"""

import os
import secrets
from pathlib import Path


def temporary_sibling(path: Path) -> Path:
    """A fresh name in ``path``'s folder to write before renaming to ``path``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def write_text_atomically(path, text: str) -> None:
    """Write ``text`` to ``path`` (UTF-8) through a temporary file in the same folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(path)
    try:
        with open(temporary, "x", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
