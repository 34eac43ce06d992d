"""Context store: per-utterance context embeddings in one memory-mapped file.

A store maps utterance ids to a context embedding, float16, of one of two poolings:

- ``"cls"``: one vector per utterance, shape ``(1, dim)``;
- ``"sequence"``: a ragged sequence of vectors (e.g. the last hidden layer of a text
  encoder, one row per token), shape ``(rows, dim)``.

An utterance with zero rows, shape ``(0, dim)``, has no context (its text was empty):
this is the same as a missing context, and holds for both poolings.

File layout (all integers little endian, every section starts on an 8-byte boundary)::

    bytes 0..7     magic b"GCAFCTX1"
    bytes 8..15    uint64 header_offset
    bytes 16..     embeddings: float16, shape (total_rows, dim), row-major
    (pad to 8)     offsets: int64, shape (count + 1,); utterance k owns the embedding
                   rows offsets[k]:offsets[k + 1]
    (pad to 8)     header, from header_offset to the end of the file: UTF-8 JSON
                   {"format": "gcaf-context-store", "version": 1, "dim", "pooling",
                    "count", "total_rows", "embeddings_offset", "offsets_offset",
                    "ids": [...], "meta": {...}}

``meta`` is free-form JSON (encoder, text field, source file, creation time, number of
empty texts, ...). Ids are strings.

:class:`ContextStoreWriter` streams rows to a temporary file next to the target and
renames it onto the target when closed (:class:`gcaf_fairseq.data.atomic_files.AtomicFile`),
so a store is either complete or absent.
:class:`ContextStore` validates a file (layout, and that every value is finite) and
memory-maps it read-only.
"""

import json
import os
import struct
from typing import Optional

import numpy as np

from .atomic_files import AtomicFile

MAGIC = b"GCAFCTX1"
FORMAT_NAME = "gcaf-context-store"
FORMAT_VERSION = 1
POOLINGS = ("cls", "sequence")

EMBEDDINGS_OFFSET = 16  # right after the magic and the header offset
_EMBEDDING_DTYPE = np.dtype("<f2")
_OFFSET_DTYPE = np.dtype("<i8")
_HEADER_OFFSET_STRUCT = struct.Struct("<Q")
_F16_EXPONENT = np.uint16(0x7C00)  # all five exponent bits set: inf or NaN
_CHECK_CHUNK_VALUES = 1 << 18  # values per chunk of the finiteness check (512 KiB: cache-sized, fastest)


class ContextStoreError(ValueError):
    """A file that is not a valid context store (truncated, foreign, inconsistent)."""


def _align8(position: int) -> int:
    return (position + 7) // 8 * 8


class ContextStoreWriter:
    """Writes a context store, streaming embedding rows to disk.

    Use as a context manager::

        with ContextStoreWriter(path, dim=384, pooling="cls", meta={...}) as writer:
            writer.add("utt1", vector)          # (dim,) or (1, dim)
            writer.add("utt2", np.zeros((0, 384)))  # no context

    Rows go to a temporary file in the same folder (:class:`AtomicFile`); :meth:`close` appends
    the offsets and the header, fsyncs and renames the temporary file onto ``path``. If the
    ``with`` block raises, the temporary file is removed and ``path`` is left untouched.
    Memory holds only the ids and the row counts, never the embeddings.

    ``meta`` (JSON-serialisable dict) may be updated through :attr:`meta` until
    :meth:`close`, e.g. with counts only known at the end.
    """

    def __init__(self, path: str, dim: int, pooling: str, meta: Optional[dict] = None):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if int(dim) < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        self.path = os.fspath(path)
        self.dim = int(dim)
        self.pooling = pooling
        self.meta = dict(meta or {})
        json.dumps(self.meta)  # fail now, not after all rows are written
        self._ids: list = []
        self._id_set: set = set()
        self._row_counts: list = []
        self._output: Optional[AtomicFile] = AtomicFile(self.path)
        self._file = self._output.stream
        self._file.write(MAGIC + _HEADER_OFFSET_STRUCT.pack(0))

    def __enter__(self) -> "ContextStoreWriter":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, utterance_id: str, embedding) -> None:
        """Appends the context of one utterance.

        ``embedding``: array-like of shape ``(rows, dim)``, or ``(dim,)`` for a single
        vector; ``(0, dim)`` means no context. ``cls`` stores take at most one row.
        Values are stored as float16 and must be finite there.
        """
        if self._file is None:
            raise ValueError(f"context store writer for {self.path} is closed")
        if not isinstance(utterance_id, str):
            raise TypeError(f"utterance id must be a str, got {type(utterance_id).__name__}: {utterance_id!r}")
        if utterance_id in self._id_set:
            raise ValueError(f"duplicate utterance id {utterance_id!r} in context store {self.path}")
        rows = np.asarray(embedding)
        if rows.ndim == 1:
            rows = rows.reshape(1, -1)
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise ValueError(
                f"embedding of {utterance_id!r} has shape {tuple(np.shape(embedding))}, "
                f"expected (rows, {self.dim}) or ({self.dim},)"
            )
        if self.pooling == "cls" and rows.shape[0] > 1:
            raise ValueError(
                f"embedding of {utterance_id!r} has {rows.shape[0]} rows; a 'cls' store takes 0 or 1 row"
            )
        if not np.isfinite(rows).all():
            raise ValueError(f"embedding of {utterance_id!r} has non-finite values (NaN or inf)")
        with np.errstate(over="ignore"):  # overflow is reported just below
            rows_f16 = rows.astype(_EMBEDDING_DTYPE)
        if not np.isfinite(rows_f16).all():
            raise ValueError(f"embedding of {utterance_id!r} has values beyond the float16 range (|x| > 65504)")
        self._file.write(np.ascontiguousarray(rows_f16).tobytes())
        self._ids.append(utterance_id)
        self._id_set.add(utterance_id)
        self._row_counts.append(rows.shape[0])

    def close(self) -> None:
        """Writes offsets and header, fsyncs and renames the temporary file onto ``path``."""
        if self._file is None:
            return
        offsets = np.zeros(len(self._row_counts) + 1, dtype=_OFFSET_DTYPE)
        np.cumsum(self._row_counts, out=offsets[1:])
        total_rows = int(offsets[-1])
        offsets_offset = _align8(EMBEDDINGS_OFFSET + total_rows * self.dim * _EMBEDDING_DTYPE.itemsize)
        header_offset = offsets_offset + offsets.nbytes
        header = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "dim": self.dim,
            "pooling": self.pooling,
            "count": len(self._ids),
            "total_rows": total_rows,
            "embeddings_offset": EMBEDDINGS_OFFSET,
            "offsets_offset": offsets_offset,
            "ids": self._ids,
            "meta": self.meta,
        }
        try:
            header_bytes = json.dumps(header, ensure_ascii=False).encode("utf-8")
            self._file.write(b"\0" * (offsets_offset - self._file.tell()))
            self._file.write(offsets.tobytes())
            self._file.write(header_bytes)
            self._file.seek(len(MAGIC))
            self._file.write(_HEADER_OFFSET_STRUCT.pack(header_offset))
        except BaseException:
            self.abort()
            raise
        output, self._output, self._file = self._output, None, None
        output.commit()

    def abort(self) -> None:
        """Discards everything written: removes the temporary file, leaves ``path`` untouched."""
        if self._output is not None:
            self._output.abort()
            self._output, self._file = None, None


def _file_identity(path: str) -> tuple:
    """Size and modification time: whether a pickled store still describes the file."""
    status = os.stat(path)
    return (status.st_size, status.st_mtime_ns)


class ContextStore:
    """Read-only, memory-mapped view of a context store written by :class:`ContextStoreWriter`.

    ``get(id)`` / ``get_by_index(k)`` return float16 views of shape ``(rows, dim)`` into
    the mapped file (``rows`` may be 0: no context). ``lengths`` holds the row count of
    every utterance, shape ``(count,)``.

    Opening checks the layout and, with ``check_values`` (the default), that every stored
    value is finite: the writer never stores NaN or inf, so one there means a corrupt file,
    and the error names the utterance and the store. The check reads the embeddings once,
    in chunks, testing the float16 exponent bits (0.02-0.05 s for 100,000 x 768, warm cache).

    The id -> index map is built on the first lookup by id (:meth:`index`, ``in``), not at
    open. A store pickled into data loader workers travels as its path and layout: a worker
    maps the same file without parsing the JSON header or checking the values again (the
    file's size and modification time must be unchanged; otherwise it is opened afresh),
    and parses the ids and meta only if it asks for them.
    """

    def __init__(self, path: str, check_values: bool = True):
        self.path = os.fspath(path)
        header = self._read_header()
        self._identity = _file_identity(self.path)
        self._map(header["dim"], header["pooling"], header["count"], header["total_rows"], header["offsets_offset"])
        self._ids: Optional[list] = header["ids"]
        self._meta: Optional[dict] = header["meta"]
        if self.offsets[0] != 0 or self.offsets[-1] != self.total_rows or (self.lengths < 0).any():
            raise ContextStoreError(f"{self.path}: context store offsets are inconsistent with total_rows")
        if self.pooling == "cls" and (self.lengths > 1).any():
            raise ContextStoreError(f"{self.path}: 'cls' context store has an utterance with more than one row")
        if check_values:
            self.check_values()

    def _map(self, dim: int, pooling: str, count: int, total_rows: int, offsets_offset: int) -> None:
        self.dim, self.pooling, self.count, self.total_rows = dim, pooling, count, total_rows
        self._offsets_offset = offsets_offset
        self._index_of_id: Optional[dict] = None
        self.offsets = np.memmap(self.path, dtype=_OFFSET_DTYPE, mode="r", offset=offsets_offset, shape=(count + 1,))
        self.lengths = np.diff(self.offsets)
        if total_rows:
            self.embeddings = np.memmap(
                self.path, dtype=_EMBEDDING_DTYPE, mode="r", offset=EMBEDDINGS_OFFSET, shape=(total_rows, dim)
            )
        else:  # numpy cannot map zero bytes
            self.embeddings = np.zeros((0, dim), dtype=_EMBEDDING_DTYPE)

    @classmethod
    def open(cls, path: str, check_values: bool = True) -> "ContextStore":
        return cls(path, check_values=check_values)

    def check_values(self) -> None:
        """Raise :class:`ContextStoreError` naming the first utterance whose context holds
        a non-finite value (NaN or inf: float16 exponent bits all set)."""
        if not self.total_rows:
            return
        bits = self.embeddings.view(np.uint16)
        chunk = max(1, _CHECK_CHUNK_VALUES // self.dim)
        for start in range(0, self.total_rows, chunk):
            non_finite = (bits[start : start + chunk] & _F16_EXPONENT) == _F16_EXPONENT
            if non_finite.any():
                row = start + int(np.argmax(non_finite.any(axis=1)))
                k = int(np.searchsorted(self.offsets, row, side="right")) - 1
                raise ContextStoreError(
                    f"{self.path}: the context of utterance {self.ids[k]!r} (index {k}, embedding row {row}) "
                    "holds non-finite values (NaN or inf), which the writer never stores: the file is "
                    "corrupt. Rebuild the store (gcaf-embed-context)"
                )

    @property
    def ids(self) -> list:
        """Utterance ids, in store order."""
        if self._ids is None:
            self._load_header_lists()
        return self._ids

    @property
    def meta(self) -> dict:
        """The free-form ``meta`` of the header."""
        if self._meta is None:
            self._load_header_lists()
        return self._meta

    def _load_header_lists(self) -> None:
        header = self._read_header()
        self._ids, self._meta = header["ids"], header["meta"]

    def __getstate__(self) -> dict:
        # Pickle (e.g. into data loader workers) by path: the mapping is reopened, not copied,
        # and the layout comes along so that the header need not be parsed again.
        layout = (self._identity, self.dim, self.pooling, self.count, self.total_rows, self._offsets_offset)
        return {"path": self.path, "layout": layout}

    def __setstate__(self, state: dict) -> None:
        self.path = state["path"]
        layout = state.get("layout")
        if layout is None or layout[0] != _file_identity(self.path):  # an older pickle, or the file changed
            self.__init__(self.path)
            return
        self._identity = layout[0]
        self._map(*layout[1:])
        self._ids = self._meta = None

    def _read_header(self) -> dict:
        try:
            file_size = os.path.getsize(self.path)
        except OSError as error:
            raise FileNotFoundError(f"context store {self.path} cannot be read: {error}") from error
        with open(self.path, "rb") as store_file:
            prefix = store_file.read(EMBEDDINGS_OFFSET)
            if len(prefix) < EMBEDDINGS_OFFSET or prefix[: len(MAGIC)] != MAGIC:
                raise ContextStoreError(
                    f"{self.path} is not a context store (missing magic {MAGIC!r}; truncated or foreign file)"
                )
            (header_offset,) = _HEADER_OFFSET_STRUCT.unpack(prefix[len(MAGIC) :])
            if not EMBEDDINGS_OFFSET <= header_offset < file_size:
                raise ContextStoreError(
                    f"{self.path}: header offset {header_offset} is outside the file of {file_size} bytes "
                    "(truncated or unfinished file)"
                )
            store_file.seek(header_offset)
            header_bytes = store_file.read()
        try:
            header = json.loads(header_bytes.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ContextStoreError(f"{self.path}: context store header is not valid JSON (truncated file?)") from error
        if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
            raise ContextStoreError(f"{self.path}: header does not describe a {FORMAT_NAME}")
        if header.get("version") != FORMAT_VERSION:
            raise ContextStoreError(
                f"{self.path}: context store version {header.get('version')!r} is not supported "
                f"(this code reads version {FORMAT_VERSION})"
            )
        if header.get("pooling") not in POOLINGS:
            raise ContextStoreError(f"{self.path}: unknown pooling {header.get('pooling')!r}")
        count, dim, total_rows = header.get("count"), header.get("dim"), header.get("total_rows")
        if not all(isinstance(value, int) and value >= 0 for value in (count, dim, total_rows)) or dim == 0:
            raise ContextStoreError(f"{self.path}: header has invalid count/dim/total_rows")
        if not isinstance(header.get("ids"), list) or len(header["ids"]) != count:
            raise ContextStoreError(f"{self.path}: header lists {len(header.get('ids') or [])} ids for count {count}")
        embeddings_end = EMBEDDINGS_OFFSET + total_rows * dim * _EMBEDDING_DTYPE.itemsize
        offsets_offset = header.get("offsets_offset")
        if (
            header.get("embeddings_offset") != EMBEDDINGS_OFFSET
            or offsets_offset != _align8(embeddings_end)
            or offsets_offset + (count + 1) * _OFFSET_DTYPE.itemsize > header_offset
        ):
            raise ContextStoreError(
                f"{self.path}: section offsets do not match count={count}, dim={dim}, total_rows={total_rows}"
            )
        return header

    def __len__(self) -> int:
        return self.count

    def _index_map(self) -> dict:
        if self._index_of_id is None:
            index_of_id = {utterance_id: k for k, utterance_id in enumerate(self.ids)}
            if len(index_of_id) != self.count:
                raise ContextStoreError(f"{self.path}: context store has duplicate ids")
            self._index_of_id = index_of_id
        return self._index_of_id

    def __contains__(self, utterance_id) -> bool:
        return utterance_id in self._index_map()

    def __repr__(self) -> str:
        return (
            f"ContextStore({self.path!r}, count={len(self)}, dim={self.dim}, "
            f"pooling={self.pooling!r}, total_rows={self.total_rows})"
        )

    def index(self, utterance_id: str) -> int:
        """Position of ``utterance_id`` in :attr:`ids`."""
        try:
            return self._index_map()[utterance_id]
        except KeyError:
            raise KeyError(f"utterance id {utterance_id!r} is not in context store {self.path}") from None

    def get_by_index(self, k: int) -> np.ndarray:
        """Context of the k-th utterance: float16 view, shape ``(rows, dim)``."""
        if not 0 <= k < self.count:
            raise IndexError(f"index {k} out of range for context store {self.path} of {self.count} utterances")
        return self.embeddings[self.offsets[k] : self.offsets[k + 1]]

    def get(self, utterance_id: str) -> np.ndarray:
        """Context of ``utterance_id``: float16 view, shape ``(rows, dim)``."""
        return self.get_by_index(self.index(utterance_id))
