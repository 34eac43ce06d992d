"""What a recipe step was made from: cheap, content-based fingerprints of files and folders
(pure Python).

- **Text, labels, stores, configs, generation files, run results**: the sha256 of the content.
- **Audio** (``.flac``, ``.wav``, ...): size and modification time; hashing every audio file
  of LibriSpeech would cost hours, and a replaced file changes either.
- **Model weights and other large files** (checkpoints, LLM and text-encoder folders): the
  sha256 of the content, computed once and cached under the recipe's folder, keyed by the
  file's path, size and modification time (a 26 GB LLM is read once, not at every rerun).
- **Folders** (a dataset's source tree, a model folder, the run folders the tables read): one
  entry per folder that holds files: the fingerprint of its audio and checkpoints (sizes and
  times together) and of each other file by name. A change then names the folder, and the file when it is not audio.
- **The audio of a manifest**: the sizes and times of every file a fairseq manifest lists
  (a training reads them; the manifest alone would not notice a replaced file of the same
  length).

:func:`describe_changes` says, in a line or two, what differs between two fingerprints.
"""

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

from ..data import fingerprints as _files
from ..data.atomic_files import write_text_atomically

AUDIO_SUFFIXES = {".flac", ".wav", ".ogg", ".opus", ".mp3", ".m4a", ".sph", ".aac"}
#: inside a folder (a run folder), files known by size and time: audio, and fairseq checkpoints
#: (hundreds of MB each, written whole by an atomic rename); named alone, a checkpoint is hashed
STAT_SUFFIXES_IN_FOLDERS = AUDIO_SUFFIXES | {".pt"}
#: names never fingerprinted: locks, temporaries, editor and OS litter
IGNORED_NAMES = (".lock", ".tmp", ".swp", ".DS_Store")


def _ignored(name: str) -> bool:
    return name.startswith(".") or name.endswith(IGNORED_NAMES) or ".tmp." in name


class HashCache:
    """sha256 of files by (path, size, modification time), kept in a JSON file."""

    def __init__(self, path: Optional[Path] = None):
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._entries: Dict[str, List[Any]] = {}
        self._dirty = False
        if self.path is not None and self.path.is_file():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
                self._entries = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                self._entries = {}  # a damaged cache is only slower

    def sha256(self, path: Path) -> str:
        stat = path.stat()
        key = str(path.absolute())
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == stat.st_size and entry[1] == stat.st_mtime_ns:
                return entry[2]
        digest = _files.file_sha256(path)
        with self._lock:
            self._entries[key] = [stat.st_size, stat.st_mtime_ns, digest]
            self._dirty = True
        return digest

    def save(self) -> None:
        with self._lock:
            if self.path is None or not self._dirty:
                return
            write_text_atomically(self.path, json.dumps(self._entries) + "\n")
            self._dirty = False


def _stat_text(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _file(path: Path, cache: HashCache) -> str:
    if path.suffix.lower() in AUDIO_SUFFIXES:
        return "audio " + _stat_text(path)
    return "sha256 " + cache.sha256(path)


def _folder(path: Path, cache: HashCache) -> Dict[str, Any]:
    """``{relative folder: {"audio": digest, "audio_files": n, "files": {name: fingerprint}}}``."""
    entries: Dict[str, Any] = {}
    for folder, subfolders, files in os.walk(path):
        subfolders[:] = sorted(name for name in subfolders if not _ignored(name))
        audio = hashlib.sha256()
        audio_files, others = 0, {}
        for name in sorted(files):
            if _ignored(name):
                continue
            file_path = Path(folder) / name
            if file_path.suffix.lower() in STAT_SUFFIXES_IN_FOLDERS:
                audio.update(f"{name}\t{_stat_text(file_path)}\n".encode())
                audio_files += 1
            else:
                others[name] = cache.sha256(file_path)[:16]
        if audio_files or others:
            entry: Dict[str, Any] = {"files": others}
            if audio_files:
                entry.update(audio=audio.hexdigest()[:16], audio_files=audio_files)
            entries[os.path.relpath(folder, path)] = entry
    return entries


def manifest_audio(manifest: Path) -> Dict[str, Any]:
    """Sizes and times of every file a fairseq manifest lists (one digest, and the count)."""
    lines = Path(manifest).read_text(encoding="utf-8").splitlines()
    root = Path(lines[0].strip()) if lines else Path(".")
    digest = hashlib.sha256()
    count = 0
    for line in lines[1:]:
        if not line.strip():
            continue
        relative = line.split("\t", 1)[0]
        file_path = root / relative
        try:
            state = _stat_text(file_path)
        except OSError:
            state = "missing"
        digest.update(f"{relative}\t{state}\n".encode())
        count += 1
    return {"manifest_audio": digest.hexdigest(), "files": count}


def fingerprint(path: Path, cache: HashCache, kind: str = "auto") -> Any:
    """The fingerprint of ``path`` (``kind``: ``auto`` -- a file or a folder by what is
    there -- or ``manifest-audio`` for the audio a manifest lists); ``"missing"`` when it
    does not exist."""
    path = Path(path)
    if kind == "manifest-audio":
        return manifest_audio(path) if path.is_file() else "missing"
    if path.is_dir():
        return {"folder": _folder(path, cache)}
    if path.is_file():
        return _file(path, cache)
    return "missing"


def fingerprints(inputs: Iterable[Tuple[Path, str]], cache: HashCache) -> Dict[str, Any]:
    """``{"path" (or "manifest-audio:path"): fingerprint}`` of every input."""
    result: Dict[str, Any] = {}
    for path, kind in inputs:
        key = str(path) if kind == "auto" else f"{kind}:{path}"
        result[key] = fingerprint(path, cache, kind)
    return result


def _describe_one(key: str, old: Any, new: Any) -> str:
    if old == "missing":
        return f"{key} appeared"
    if new == "missing":
        return f"{key} is gone"
    if isinstance(old, dict) and isinstance(new, dict) and "folder" in old and "folder" in new:
        old_folders, new_folders = old["folder"], new["folder"]
        changes = []
        for name in sorted(set(old_folders) | set(new_folders)):
            before, after = old_folders.get(name), new_folders.get(name)
            where = key if name == "." else f"{key}/{name}"
            if before is None:
                changes.append(f"{where} added")
            elif after is None:
                changes.append(f"{where} removed")
            elif before != after:
                changed = sorted(file for file in set(before["files"]) | set(after["files"])
                                 if before["files"].get(file) != after["files"].get(file))
                if before.get("audio") != after.get("audio"):
                    changed.append(f"audio or checkpoints ({before.get('audio_files', 0)} -> {after.get('audio_files', 0)} files, "
                                   "sizes or times)")
                changes.append(f"{where}: {', '.join(changed)}")
        shown = changes[:3] + ([f"... {len(changes) - 3} more"] if len(changes) > 3 else [])
        return "; ".join(shown) if shown else f"{key} changed"
    if isinstance(old, dict) and "manifest_audio" in old:
        return f"the audio listed in {key.split(':', 1)[1]} changed (a file replaced, resized or touched)"
    if isinstance(old, str) and old.startswith("audio "):
        return f"{key} changed (size or time)"
    return f"{key} changed (content)"


def describe_changes(old: Dict[str, Any], new: Dict[str, Any]) -> List[str]:
    """What differs between two :func:`fingerprints` results, one line per input."""
    lines = []
    for key in sorted(set(old) | set(new)):
        if key not in old:
            lines.append(f"new input {key}")
        elif key not in new:
            lines.append(f"input {key} no longer used")
        elif old[key] != new[key]:
            lines.append(_describe_one(key, old[key], new[key]))
    return lines


def describe_settings(old: Dict[str, Any], new: Dict[str, Any]) -> List[str]:
    """What differs between two settings dictionaries (``argv`` compared item by item)."""
    lines = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if isinstance(before, list) and isinstance(after, list):
            removed = [item for item in before if item not in after]
            added = [item for item in after if item not in before]
            if removed or added:
                lines.append(f"{key}: " + ", ".join([f"-{item}" for item in removed] + [f"+{item}" for item in added]))
            else:
                lines.append(f"{key}: same items, other order")
        else:
            lines.append(f"{key}: {before!r} -> {after!r}")
    return lines
