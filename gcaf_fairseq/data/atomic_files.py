"""Atomic file writes: a reader never sees half a file, and a kill or a crash leaves the old
file or the new one. The one home of this for the package (prepared data, context stores,
tables, checkpoints).

Every file is written under a fresh temporary name in its folder (:func:`temporary_sibling`:
``.NAME.PID.HEX.tmp``), flushed and fsynced, renamed over the target, and the folder is fsynced
so that the rename itself survives a crash. A failure or a kill before the rename removes the
temporary file (a kill -9 leaves it, under its recognisable name) and leaves the target as it
was. The file gets the usual permissions (the umask's), which ``tempfile.mkstemp`` would narrow
to the owner alone. Pure Python.

Four ways in, by how the writer produces the file:

- the whole content at once: :func:`write_bytes_atomically`, :func:`write_text_atomically`,
  :func:`write_lines`;
- a stream written over time (the context store, ``torch.save``): :func:`open_atomically`,
  a context manager or an :class:`AtomicFile` with ``commit()`` / ``abort()``;
- a tool that writes to a path it is given (``shutil.copyfile``, ``soundfile.write``):
  :func:`atomic_path`;
- a symbolic link: :func:`write_symlink_atomically`.
"""

import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator


def temporary_sibling(path) -> Path:
    """A fresh name in ``path``'s folder to write before renaming to ``path``:
    ``.NAME.PID.HEX.tmp``."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def fsync_folder(folder) -> None:
    """Make a rename in ``folder`` durable, where the platform allows it (best effort: some
    file systems refuse to fsync a folder)."""
    try:
        descriptor = os.open(os.fspath(folder), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _fsync_file(path) -> None:
    descriptor = os.open(os.fspath(path), os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def atomic_path(path, durable: bool = True) -> Iterator[Path]:
    """Give the ``with`` block a temporary path in ``path``'s folder to create; when the block
    ends normally, rename it onto ``path``; when it raises, remove it and leave ``path`` as it was.

    ``durable``: fsync the file before the rename and the folder after it. Without it the
    rename is still atomic for readers, but a power cut may leave an empty file: for outputs
    that their writer checks and redoes anyway (a cut audio clip), where an fsync per file
    would cost more than it saves."""
    path = Path(path)
    temporary = temporary_sibling(path)
    try:
        yield temporary
        if durable:
            _fsync_file(temporary)
        os.replace(temporary, path)
    except BaseException:
        if temporary.is_symlink() or temporary.exists():
            temporary.unlink()
        raise
    if durable:
        fsync_folder(path.parent)


class AtomicFile:
    """A binary file written under a temporary name: :meth:`commit` makes it ``path``,
    :meth:`abort` discards it. As a context manager it gives ``stream`` and commits when the
    block ends normally, aborts when it raises.

    ``stream`` is an ordinary file object open for writing (``seek`` and ``tell`` work)."""

    def __init__(self, path):
        self.path = Path(path)
        self.temporary = temporary_sibling(self.path)
        self.stream: BinaryIO = open(self.temporary, "xb")

    def commit(self) -> None:
        """Flush, fsync and close the stream, rename it onto ``path``, fsync the folder.
        On a failure the temporary file is removed and the error raised."""
        if self.stream.closed:
            raise ValueError(f"{self.path}: this atomic write is already committed or aborted")
        try:
            self.stream.flush()
            os.fsync(self.stream.fileno())
            self.stream.close()
            os.replace(self.temporary, self.path)
        except BaseException:
            self.abort()
            raise
        fsync_folder(self.path.parent)

    def abort(self) -> None:
        """Close the stream and remove the temporary file; ``path`` is left as it was."""
        self.stream.close()
        self.temporary.unlink(missing_ok=True)

    def __enter__(self) -> BinaryIO:
        return self.stream

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def open_atomically(path) -> AtomicFile:
    """An :class:`AtomicFile` for ``path`` (binary): ``with open_atomically(path) as stream: ...``."""
    return AtomicFile(path)


def write_bytes_atomically(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably (the folder is created if needed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_atomically(path) as stream:
        stream.write(data)


def write_text_atomically(path, text: str) -> None:
    """:func:`write_bytes_atomically` for UTF-8 text."""
    write_bytes_atomically(path, text.encode("utf-8"))


def write_lines(path, lines: Iterable[str]) -> None:
    """Write one line per item (each ended by ``\\n``), atomically: the line files of
    fairseq (manifests, labels, dictionaries) and of our tools."""
    write_text_atomically(path, "".join(line + "\n" for line in lines))


def write_symlink_atomically(link, target: str) -> None:
    """Make ``link`` a symbolic link to ``target`` (relative to the link's folder), replacing
    whatever ``link`` was in one rename (the folder is created if needed)."""
    link = Path(link)
    link.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(link, durable=False) as temporary:  # a link has no content to fsync
        os.symlink(target, temporary)
