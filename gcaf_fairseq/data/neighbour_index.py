"""The neighbour index ``{split}.neighbours.npz``: what audio context needs from the utterance
table, compact, read in a fraction of the table's time. Pure Python and numpy.

The utterance table (:mod:`gcaf_fairseq.data.utterance_table`) stays the source of truth;
the index is derived from it and sits next to it: ``X.utterances.jsonl`` ->
``X.neighbours.npz`` (any other table name ``T`` -> ``T.neighbours.npz``). Preparation
writes it (``gcaf-prepare-librispeech``, ``gcaf-prepare-slue``, the demo corpora); for a
table without one, or with a stale one, the task builds it once on first use (atomically,
next to the table; where that folder is read-only it works from the table in memory and
says so). ``python -m gcaf_fairseq.data.neighbour_index TABLE...`` builds it ahead.

Format: an uncompressed numpy ``.npz`` (``allow_pickle=False``) of these arrays, one row
per table row, in table order:

================ ============ ==========================================================
``header``       uint8        UTF-8 JSON: ``format`` ("gcaf-neighbour-index"), ``version``
                              (1), ``rows``, ``table`` (the table's file name),
                              ``table_fingerprint`` (``size``, ``sha256`` of its bytes),
                              ``folders`` (the audio folders, as written in
                              the table: relative to the table's folder, or absolute),
                              ``dangling`` (``[row, "prev_id"|"next_id", id]`` for each
                              link to an id without a row)
``ids``          uint8        the ids, UTF-8, joined by ``\\n``
``names``        uint8        the audio file names (no folder), UTF-8, concatenated
``name_offsets`` int64        ``rows + 1`` offsets into ``names``
``folder``       int32        each row's audio folder (index into ``folders``)
``prev``         int32        the row of ``prev_id``; -1: null (stream edge); -2: an id
                              without a row (named in ``dangling``)
``next``         int32        the same for ``next_id``
``num_samples``  int64        the audio's length in samples, -1 where unknown (an index
                              built from the table alone does not open the audio)
``in_split``     bool         the table's ``in_split``
================ ============ ==========================================================

An index is *fresh* when its ``table_fingerprint`` matches the table: same size and same
``sha256`` (about 0.1 s per 80 MB; no modification times, so that a rerun of preparation
writes the same bytes and a copied table keeps its index). A stale index is rebuilt, never
used. The file is deterministic: the same table gives the same bytes.

:meth:`NeighbourIndex.neighbours` finds every utterance's window neighbours: links are
followed on the int arrays, and the audio files are checked by one directory scan
(``os.scandir``) per folder that holds a needed neighbour, not one ``stat`` per file.
"""

import io
import json
import logging
import os
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .atomic_files import write_bytes_atomically
from .fingerprints import file_sha256

logger = logging.getLogger(__name__)

INDEX_FORMAT = "gcaf-neighbour-index"
INDEX_VERSION = 1
TABLE_SUFFIX = ".utterances.jsonl"
INDEX_SUFFIX = ".neighbours.npz"
EDGE, DANGLING = -1, -2  # prev/next codes: null link (stream edge), link to an id without a row
_LINKS = ("prev_id", "next_id")


def window_neighbour_offsets(window: int, offset: int) -> List[int]:
    """The CA window's neighbours, relative to the segment: ``offset .. offset + window - 1``
    without 0 ((2, 0) -> [1], (2, -1) -> [-1], (3, -1) -> [-1, 1])."""
    return [relative for relative in range(offset, offset + window) if relative != 0]


def neighbour_index_path(table_path) -> Path:
    """Where the index of ``table_path`` lives: ``X.utterances.jsonl`` -> ``X.neighbours.npz``,
    any other name ``T`` -> ``T.neighbours.npz``, in the table's folder."""
    table_path = Path(table_path)
    name = table_path.name
    stem = name[: -len(TABLE_SUFFIX)] if name.endswith(TABLE_SUFFIX) and len(name) > len(TABLE_SUFFIX) else name
    return table_path.with_name(stem + INDEX_SUFFIX)


def table_fingerprint(table_path, digest: bool = True) -> dict:
    """``size`` of the table, and its ``sha256`` when ``digest``."""
    fingerprint = {"size": os.stat(table_path).st_size}
    if digest:
        fingerprint["sha256"] = file_sha256(table_path)
    return fingerprint


def _stamp(table_path) -> tuple:
    """Size and modification time: to see a table change while it is read."""
    status = os.stat(table_path)
    return status.st_size, status.st_mtime_ns


@dataclass
class NeighbourLookup:
    """For each utterance of a split (dataset order), its window neighbours.

    ``rows[u, slot]`` is the index row of utterance ``u``'s neighbour at the window's
    ``slot``-th relative position, -1 where there is none (stream edge, or missing).
    """

    rows: np.ndarray  # (utterances, slots) int32
    index: "NeighbourIndex"
    missing: List[str] = field(default_factory=list)  # "ID: why" for neighbours that should exist but do not
    edge_slots: int = 0  # window slots beyond the start or end of a stream (no neighbour there)

    def __len__(self) -> int:
        return len(self.rows)

    def paths_of(self, utterance: int) -> List[str]:
        """The audio paths of utterance ``utterance``'s neighbours, in window order."""
        return [self.index.audio_path(int(row)) for row in self.rows[utterance] if row >= 0]

    def num_samples_of(self, utterance: int) -> List[int]:
        """Their lengths in samples (-1: unknown), in the same order."""
        return [int(self.index.num_samples[row]) for row in self.rows[utterance] if row >= 0]

    @property
    def paths(self) -> List[List[str]]:
        """Every utterance's :meth:`paths_of` (a list per utterance; for tests and small splits)."""
        return [self.paths_of(utterance) for utterance in range(len(self.rows))]

    def counts(self) -> Dict[str, int]:
        with_some = int((self.rows >= 0).any(axis=1).sum()) if self.rows.size else 0
        return {
            "utterances": len(self.rows),
            "with_neighbours": with_some,
            "without_neighbours": len(self.rows) - with_some,
            "edge_slots": self.edge_slots,
            "missing": len(self.missing),
        }


@dataclass
class NeighbourIndex:
    """A table's neighbour structure (see the module docstring for the file format)."""

    table: str  # the table's path, as given (messages name it)
    ids: List[str]
    prev: np.ndarray
    next: np.ndarray
    folders: List[str]
    folder: np.ndarray
    names: bytes
    name_offsets: np.ndarray
    num_samples: np.ndarray
    in_split: np.ndarray
    dangling: Dict[Tuple[int, str], str]
    fingerprint: dict = field(default_factory=dict)

    @property
    def root(self) -> str:
        """The folder relative audio paths start from: the table's."""
        return os.path.dirname(os.path.abspath(self.table))

    def __len__(self) -> int:
        return len(self.ids)

    def name(self, row: int) -> str:
        return self.names[self.name_offsets[row] : self.name_offsets[row + 1]].decode("utf-8")

    def audio_path(self, row: int) -> str:
        """Row ``row``'s audio file: the table's ``audio``, relative ones joined to :attr:`root`."""
        return os.path.join(self.root, self.folders[self.folder[row]], self.name(row))

    @classmethod
    def from_rows(cls, rows: Sequence[dict], table_path, num_samples: Optional[Mapping[str, int]] = None, fingerprint=None):
        """The index of table rows (``id``, ``audio``, ``prev_id``, ``next_id``, ``in_split``);
        ``num_samples``: audio lengths by id, where known."""
        ids = [row["id"] for row in rows]
        row_of = {utterance_id: number for number, utterance_id in enumerate(ids)}
        if len(row_of) != len(ids):
            repeated = sorted({i for i in ids if ids.count(i) > 1}) if len(ids) < 10_000 else "(several)"
            raise ValueError(f"{table_path}: ids must be unique; repeated: {repeated}")
        links = {name: np.full(len(rows), EDGE, dtype=np.int32) for name in _LINKS}
        dangling = {}
        folders, folder_of, folder = [], {}, np.zeros(len(rows), dtype=np.int32)
        names, lengths = [], np.full(len(rows), -1, dtype=np.int64)
        for number, row in enumerate(rows):
            if "\n" in row["id"]:
                raise ValueError(f"{table_path}: id {row['id']!r} holds a line break")
            for name in _LINKS:
                target = row[name]
                if target is not None:
                    found = row_of.get(target)
                    if found is None:
                        dangling[(number, name)] = target
                    links[name][number] = DANGLING if found is None else found
            audio_folder, audio_name = os.path.split(row["audio"])
            if audio_folder not in folder_of:
                folder_of[audio_folder] = len(folders)
                folders.append(audio_folder)
            folder[number] = folder_of[audio_folder]
            names.append(audio_name.encode("utf-8"))
            if num_samples is not None and row["id"] in num_samples:
                lengths[number] = int(num_samples[row["id"]])
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(n) for n in names], out=offsets[1:])
        return cls(
            table=str(table_path), ids=ids, prev=links["prev_id"], next=links["next_id"], folders=folders,
            folder=folder, names=b"".join(names), name_offsets=offsets, num_samples=lengths,
            in_split=np.array([bool(row["in_split"]) for row in rows], dtype=bool), dangling=dangling,
            fingerprint=dict(fingerprint or {}),
        )

    # -- the file ---------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        header = {
            "format": INDEX_FORMAT,
            "version": INDEX_VERSION,
            "rows": len(self.ids),
            "table": os.path.basename(self.table),
            "table_fingerprint": self.fingerprint,
            "folders": self.folders,
            "dangling": [[row, name, target] for (row, name), target in sorted(self.dangling.items())],
        }
        arrays = dict(
            header=np.frombuffer(json.dumps(header, ensure_ascii=False).encode("utf-8"), dtype=np.uint8),
            ids=np.frombuffer("\n".join(self.ids).encode("utf-8"), dtype=np.uint8),
            names=np.frombuffer(self.names, dtype=np.uint8),
            name_offsets=self.name_offsets,
            folder=self.folder,
            prev=self.prev,
            next=self.next,
            num_samples=self.num_samples,
            in_split=self.in_split,
        )
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # np.savez's layout, fixed dates
            for name, array in arrays.items():
                with archive.open(zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0)), "w") as member:
                    np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
        return buffer.getvalue()

    @classmethod
    def read(cls, path, table_path=None) -> "NeighbourIndex":
        """Read an index file; ``table_path``: the table it stands for (default: the one
        named in its header, in its folder). Errors name the file."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as arrays:
                data = {name: arrays[name] for name in arrays.files}
        except (OSError, ValueError, EOFError) as error:
            raise ValueError(f"{path}: not a readable neighbour index ({error}); delete it to rebuild it from the table") from error
        try:
            header = json.loads(data["header"].tobytes().decode("utf-8"))
        except (KeyError, ValueError) as error:
            raise ValueError(f"{path}: no neighbour index header; delete it to rebuild it from the table") from error
        if header.get("format") != INDEX_FORMAT or header.get("version") != INDEX_VERSION:
            raise ValueError(
                f"{path}: format {header.get('format')!r} version {header.get('version')!r}, expected "
                f"{INDEX_FORMAT!r} version {INDEX_VERSION}; delete it to rebuild it from the table"
            )
        rows = header["rows"]
        ids = data["ids"].tobytes().decode("utf-8").split("\n") if rows else []
        sizes = {name: len(data[name]) for name in ("folder", "prev", "next", "num_samples", "in_split")}
        if len(ids) != rows or any(size != rows for size in sizes.values()) or len(data["name_offsets"]) != rows + 1:
            raise ValueError(f"{path}: arrays do not match its {rows} rows; delete it to rebuild it from the table")
        return cls(
            table=str(table_path) if table_path is not None else str(path.with_name(header["table"])),
            ids=ids, prev=data["prev"], next=data["next"], folders=list(header["folders"]), folder=data["folder"],
            names=data["names"].tobytes(), name_offsets=data["name_offsets"], num_samples=data["num_samples"],
            in_split=data["in_split"], dangling={(row, name): target for row, name, target in header["dangling"]},
            fingerprint=header["table_fingerprint"],
        )

    def is_fresh_for(self, table_path) -> bool:
        """Whether this index was built from the table as it is now (see the module docstring)."""
        try:
            now = table_fingerprint(table_path, digest=False)
        except OSError:
            return False
        if now["size"] != self.fingerprint.get("size"):
            return False
        return self.fingerprint.get("sha256") == file_sha256(table_path)

    # -- neighbours -------------------------------------------------------------------------

    def neighbours(self, utterance_ids: Sequence[str], relative_positions: Sequence[int], check_files: bool = True) -> NeighbourLookup:
        """Follow ``prev_id`` / ``next_id`` from each utterance to the window's positions.

        A null link is a stream edge (no neighbour, counted); a link to an id without a row,
        an utterance absent from the table, or (``check_files``) an audio file that does not
        exist is *missing*, one message per utterance and slot (the task's
        ``context_missing`` decides). Relative audio paths are relative to the table's folder.
        """
        row_of = dict(zip(self.ids, range(len(self.ids))))
        utterances = np.fromiter((row_of.get(i, -1) for i in utterance_ids), dtype=np.int64, count=len(utterance_ids))
        problems = []  # (utterance, slot, message), sorted at the end: dataset order, then window order
        for utterance in np.flatnonzero(utterances < 0):
            problems.append((int(utterance), -1, f"{utterance_ids[utterance]}: not in {self.table}"))
        found = np.full((len(utterances), len(relative_positions)), -1, dtype=np.int32)
        edge_slots = 0
        for slot, relative in enumerate(relative_positions):
            name = "prev_id" if relative < 0 else "next_id"
            link = self.prev if relative < 0 else self.next
            current, alive = utterances.copy(), utterances >= 0
            for _ in range(abs(relative)):
                following = np.where(alive, link[np.where(alive, current, 0)], EDGE)
                edge_slots += int((alive & (following == EDGE)).sum())
                for utterance in np.flatnonzero(alive & (following == DANGLING)):
                    target = self.dangling[(int(current[utterance]), name)]
                    problems.append((int(utterance), slot, f"{utterance_ids[utterance]}: its neighbour {target} has no row in {self.table}"))
                alive &= following >= 0
                current = following
            found[alive, slot] = current[alive]
        if check_files:
            needed = np.unique(found[found >= 0])
            exists = np.ones(len(self.ids), dtype=bool)
            exists[needed] = self.files_exist(needed)
            for utterance, slot in zip(*np.nonzero((found >= 0) & ~exists[np.maximum(found, 0)])):
                row = int(found[utterance, slot])
                problems.append((int(utterance), int(slot), (
                    f"{utterance_ids[utterance]}: the audio of its neighbour {self.ids[row]} "
                    f"({self.audio_path(row)}) does not exist"
                )))
                found[utterance, slot] = -1
        problems.sort(key=lambda problem: problem[:2])
        return NeighbourLookup(found, self, [message for *_, message in problems], edge_slots)

    def files_exist(self, rows: np.ndarray) -> np.ndarray:
        """Whether each row's audio file exists (as ``os.path.exists``): one ``os.scandir``
        per folder, a ``stat`` only for symbolic links (to see through them)."""
        exists = np.zeros(len(rows), dtype=bool)
        folders = self.folder[rows]
        for folder_index in np.unique(folders):
            where = np.flatnonzero(folders == folder_index)
            directory = os.path.join(self.root, self.folders[folder_index])
            try:
                with os.scandir(directory or ".") as entries:
                    present = {entry.name: entry for entry in entries}
            except (FileNotFoundError, NotADirectoryError):
                continue  # every file of a folder that is not there is missing
            except OSError as error:
                raise OSError(f"cannot list {directory}, the folder of neighbours' audio in {self.table}: {error}") from error
            for position in where:
                entry = present.get(self.name(int(rows[position])))
                exists[position] = entry is not None and (not entry.is_symlink() or os.path.exists(entry.path))
        return exists


def build_neighbour_index(table_path, rows: Optional[Sequence[dict]] = None, num_samples: Optional[Mapping[str, int]] = None) -> NeighbourIndex:
    """The index of the table at ``table_path`` (its ``rows`` when already in memory)."""
    fingerprint = table_fingerprint(table_path)
    if rows is None:
        from .utterance_table import read_utterance_table

        rows = read_utterance_table(table_path)
    return NeighbourIndex.from_rows(rows, table_path, num_samples, fingerprint)


def write_neighbour_index(table_path, rows: Optional[Sequence[dict]] = None, num_samples: Optional[Mapping[str, int]] = None) -> Path:
    """Build the index of the table at ``table_path`` (already written; ``rows``: its rows,
    when in memory; ``num_samples``: audio lengths by id, where known) and write it
    atomically next to the table. Returns the index's path."""
    index = build_neighbour_index(table_path, rows, num_samples)
    path = neighbour_index_path(table_path)
    write_bytes_atomically(path, index.to_bytes())
    return path


def load_neighbour_index(table_path) -> NeighbourIndex:
    """The index of the table at ``table_path``: the one next to it when fresh; else built
    from the table and written next to it (atomically), for the next process. Where that
    folder is not writable, the index built in memory is used (logged)."""
    path = neighbour_index_path(table_path)
    if path.exists():
        try:
            index = NeighbourIndex.read(path, table_path)
        except ValueError as error:
            logger.warning(f"{error}: rebuilding it")
        else:
            if index.is_fresh_for(table_path):
                return index
            logger.info(f"{path} is older than {table_path} (fingerprint differs): rebuilding it")
    before = _stamp(table_path)
    index = build_neighbour_index(table_path)
    if _stamp(table_path) != before:
        logger.warning(f"{table_path} changed while its neighbour index was built: not saving the index")
        return index
    try:
        write_bytes_atomically(path, index.to_bytes())
        logger.info(f"wrote the neighbour index {path} ({len(index)} rows)")
    except OSError as error:
        logger.warning(f"cannot write the neighbour index {path} ({error}); using the table in memory")
    return index


def main(argv=None) -> int:
    """``python -m gcaf_fairseq.data.neighbour_index TABLE...``: (re)build the index of each table."""
    import argparse

    parser = argparse.ArgumentParser(description="Write X.neighbours.npz next to each utterance table X.utterances.jsonl.")
    parser.add_argument("tables", nargs="+", help="utterance tables ({split}.utterances.jsonl)")
    args = parser.parse_args(argv)
    for table in args.tables:
        if not os.path.isfile(table):
            parser.error(f"{table}: no such utterance table")
        print(write_neighbour_index(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
