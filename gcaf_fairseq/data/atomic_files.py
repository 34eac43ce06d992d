"""Atomic file writes: a reader never sees half a file.

Every file is written under a fresh temporary name in its folder, then renamed over the
target. The file gets the usual permissions (the umask's), which ``tempfile.mkstemp`` would
narrow to the owner alone.
"""

import os
import secrets
from pathlib import Path
from typing import Iterable


def temporary_sibling(path: Path) -> Path:
    """A fresh name in ``path``'s folder to write before renaming to ``path``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def write_bytes_atomically(path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, flushed to
    disk before the rename (a crash leaves the old file or the new one, never half)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(path)
    try:
        with open(temporary, "xb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomically(path, text: str) -> None:
    """:func:`write_bytes_atomically` for UTF-8 text."""
    write_bytes_atomically(path, text.encode("utf-8"))


def write_lines(path, lines: Iterable[str]) -> None:
    """Write one line per item (each ended by ``\\n``), atomically: the line files of
    fairseq (manifests, labels, dictionaries) and of our tools."""
    write_text_atomically(path, "".join(line + "\n" for line in lines))
