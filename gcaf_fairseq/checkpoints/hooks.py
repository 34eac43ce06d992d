"""Training checkpoints that survive a kill, a rerun and a second training.

fairseq writes a checkpoint with ``torch.save`` to ``NAME.pt.tmp`` and renames it (not flushed
to disk first), then *copies* it to the other names of that save (``checkpoint_best.pt``,
``checkpoint_last.pt``, ...) with ``shutil.copyfile`` straight over the target: a kill during
the copy leaves a torn ``checkpoint_last.pt``, and the next resume dies in ``torch.load`` with
a zip-archive error that says nothing of the intact checkpoints beside it. A rerun of a
finished command trains one more update and rewrites ``checkpoint_last.pt``; two trainings
into one ``save_dir`` interleave their checkpoints.

:func:`install_checkpoint_hooks` (run when :mod:`gcaf_fairseq.tasks` is imported, so in every
process that loads this plugin: ``fairseq-hydra-train`` imports it through ``common.user_dir``
before it builds anything) replaces three fairseq functions, each keeping its signature and its
behaviour except as said:

``fairseq.checkpoint_utils.torch_persistent_save``
    local files: ``torch.save`` (with fairseq's retries) into a fresh temporary file in the
    same folder, flushed and fsynced, then ``os.replace`` onto the target and the folder
    fsynced. Asynchronous writes and ioPath (remote) paths go to fairseq's own function.
``fairseq.file_io.PathManager.copy``
    without ioPath: the copy goes to a temporary file in the target's folder, is fsynced and
    then renamed onto the target (fairseq: ``shutil.copyfile`` onto the target). Returns
    the target path, as ``shutil.copyfile`` does. With ioPath installed: fairseq's own.
``fairseq.checkpoint_utils.load_checkpoint``
    training's one entry point (``fairseq_cli.train.main`` calls it once, after building the
    task, model and trainer, before any training step or checkpoint write), and the one place
    that knows both ``cfg.checkpoint.save_dir`` and the trainer with the restored state; so
    the run-level checks live here rather than in the task, whose ``setup_task`` and
    ``load_dataset`` see neither the save_dir nor the restored update count (and also run in
    ``fairseq-generate`` and ``gcaf-predict-labels``, where no checkpoint is written). Before
    fairseq's own function runs:

    1. the save_dir lock: rank 0 takes an exclusive ``fcntl.flock`` on ``SAVE_DIR/training.lock``
       (the pid inside) for the rest of the process, as the generation writer locks its file;
       a second training into the same folder stops with :class:`SaveDirInUseError`, naming
       the folder and the holder's pid. Temporary files that an interrupted save of ours
       left in the folder (``.checkpoint*.pt.*.tmp``) are removed once the lock is held.
    2. the restore file (``checkpoint_last.pt``, or ``checkpoint.restore_file``) is checked
       for a torn write: empty, or a zip archive (``torch.save``'s format) whose central
       directory is missing. A torn file stops with :class:`TornCheckpointError`, which names
       the newest intact checkpoint of its folder (by modification time) and the two ways to
       resume from it.

    After it: when the restored state has already reached ``optimization.max_update``,
    ``optimization.max_epoch`` or ``optimization.stop_time_hours``, the run is complete:
    fairseq would train one more update and rewrite ``checkpoint_last.pt``; instead a warning
    says so and the process ends with exit status 0 (:class:`TrainingComplete`, a
    ``SystemExit``) with every checkpoint untouched. In a hydra multirun (``-m``) in one
    process, that ends the sweep: run sweeps one process per run, as ``scripts/recipes/ca_sweep.py``
    does.
"""

import fcntl
import inspect
import logging
import math
import os
import re
import shutil
import time
import zipfile
from pathlib import Path
from typing import Dict, List, Optional

from ..data.atomic_files import atomic_path, open_atomically

logger = logging.getLogger(__name__)

LOCK_NAME = "training.lock"
ZIP_MAGIC = b"PK\x03\x04"
# what data.atomic_files names our temporary checkpoints (temporary_sibling): .NAME.pt.PID.HEX.tmp
_OUR_TEMPORARY = re.compile(r"^\.checkpoint.*\.pt\.\d+\.[0-9a-f]+\.tmp$")
_CHECKPOINT_NAME = re.compile(r"^checkpoint.*\.pt$")


class CheckpointError(RuntimeError):
    """A training cannot use its save_dir or its checkpoint as it is."""


class TornCheckpointError(CheckpointError):
    """A checkpoint file was cut off by an interrupted write or copy."""


class SaveDirInUseError(CheckpointError):
    """Another training holds the save_dir's lock."""


class TrainingComplete(SystemExit):
    """The restored state has reached its stopping condition: nothing to train (exit status 0)."""

    def __init__(self, message: str):
        super().__init__(0)
        self.message = message


# ---------------------------------------------------------------------------------------------
# atomic writes (gcaf_fairseq.data.atomic_files: temporary file, fsync, rename, fsync the folder)


def _atomic_torch_persistent_save(obj, filename, async_write: bool = False):
    from fairseq import checkpoint_utils
    from fairseq.file_io import PathManager

    original = _atomic_torch_persistent_save.original
    if async_write or not PathManager.supports_rename(filename):
        return original(obj, filename, async_write=async_write)

    with open_atomically(filename) as stream:
        checkpoint_utils._torch_persistent_save(obj, stream)  # fairseq's, with its retries


def _atomic_copy(src_path: str, dst_path: str, overwrite: bool = False) -> bool:
    from fairseq import file_io

    if file_io.IOPathManager:
        return _atomic_copy.original(src_path, dst_path, overwrite=overwrite)
    if os.path.exists(dst_path) and os.path.samefile(src_path, dst_path):
        raise shutil.SameFileError(f"{src_path!r} and {dst_path!r} are the same file")
    with atomic_path(dst_path) as temporary:
        shutil.copyfile(src_path, temporary)
    return dst_path  # what fairseq's shutil.copyfile returned (its callers assert it)


# ---------------------------------------------------------------------------------------------
# torn checkpoints


def checkpoint_problem(path) -> Optional[str]:
    """What makes ``path`` a torn checkpoint, or None where it looks whole. Reads the start
    and the zip central directory only (milliseconds, whatever the size). Files in torch's
    legacy (non-zip) format are not judged."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as stream:
            magic = stream.read(len(ZIP_MAGIC))
    except OSError as error:
        return f"cannot be read ({error.strerror})"
    if size == 0:
        return "is empty"
    if magic != ZIP_MAGIC:
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as error:
        return f"is cut off ({size} bytes; its zip archive has no complete central directory: {error})"
    if not any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
        return "is a zip archive without the data.pkl of a torch checkpoint"
    return None


def intact_checkpoints(folder, exclude=()) -> List[Path]:
    """The ``checkpoint*.pt`` files of ``folder`` that :func:`checkpoint_problem` passes,
    newest (last modified) first."""
    excluded = {os.path.abspath(path) for path in exclude}
    candidates = []
    for entry in os.scandir(folder):
        if entry.is_file() and _CHECKPOINT_NAME.match(entry.name) and os.path.abspath(entry.path) not in excluded:
            candidates.append((entry.stat().st_mtime, entry.name, Path(entry.path)))
    candidates.sort(key=lambda item: (-item[0], item[1]))
    return [path for _, _, path in candidates if checkpoint_problem(path) is None]


def check_restore_file(path) -> None:
    """Raise :class:`TornCheckpointError` if the checkpoint at ``path`` (which exists) is torn,
    naming the newest intact checkpoint beside it and how to resume from it."""
    problem = checkpoint_problem(path)
    if problem is None:
        return
    path = Path(path)
    folder = path.parent
    intact = intact_checkpoints(folder, exclude=[path])
    message = f"{path} {problem}: a write or copy of it was interrupted, and training cannot resume from it."
    if intact:
        newest = intact[0]
        written = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(newest.stat().st_mtime))
        message += (
            f" The newest intact checkpoint in {folder} is {newest.name} (written {written})"
            + (f"; others: {', '.join(p.name for p in intact[1:4])}" + (", ..." if len(intact) > 4 else "") if len(intact) > 1 else "")
            + f". To resume from it, copy it over the torn file (cp {newest} {path}) or pass "
            f"checkpoint.restore_file={newest}; to start over, delete {path}."
        )
    else:
        message += f" {folder} holds no intact checkpoint: delete {path} to start training from the beginning."
    raise TornCheckpointError(message)


# ---------------------------------------------------------------------------------------------
# one training per save_dir

_held_locks: Dict[str, int] = {}  # real path of a lock file -> descriptor held by this process


class SaveDirLock:
    """An exclusive ``fcntl.flock`` on ``SAVE_DIR/training.lock``, with this process's pid
    written inside for whoever is refused. Released by :meth:`release` or when the process
    ends (a killed training never leaves a stale lock)."""

    def __init__(self, save_dir):
        self.save_dir = os.fspath(save_dir)
        os.makedirs(self.save_dir, exist_ok=True)
        self.path = os.path.join(self.save_dir, LOCK_NAME)
        self._descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._descriptor, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(self._descriptor)
            raise SaveDirInUseError(
                f"checkpoint.save_dir {self.save_dir} is in use by another training (pid {holder}, lock "
                f"{self.path}): two trainings into one folder would overwrite each other's checkpoints. "
                "Wait for it to finish (or stop it), or give this run another checkpoint.save_dir."
            ) from None
        except BaseException:
            os.close(self._descriptor)
            raise
        os.ftruncate(self._descriptor, 0)
        os.pwrite(self._descriptor, f"{os.getpid()}\n".encode("ascii"), 0)

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)  # releases the lock
            self._descriptor = None

    def __enter__(self) -> "SaveDirLock":
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()


def hold_save_dir(save_dir) -> None:
    """Take ``save_dir``'s lock for the rest of this process (once; later calls for the same
    folder return at once), then remove temporary checkpoint files that an interrupted save
    left there: with the lock held, nobody else is writing them."""
    key = os.path.realpath(os.path.join(save_dir, LOCK_NAME))
    if key in _held_locks:
        return
    lock = SaveDirLock(save_dir)
    _held_locks[key] = lock._descriptor
    for entry in os.scandir(save_dir):
        if _OUR_TEMPORARY.match(entry.name):
            logger.warning("%s: removing a temporary file left by an interrupted checkpoint save", entry.path)
            os.unlink(entry.path)


# ---------------------------------------------------------------------------------------------
# the load_checkpoint hook


def _restore_path(cfg, trainer) -> Optional[str]:
    """The checkpoint fairseq's load_checkpoint will restore, where it is a file that exists
    (its own resolution of ``restore_file``, suffix included)."""
    suffix = trainer.checkpoint_suffix
    if cfg.restore_file == "checkpoint_last.pt":
        path = os.path.join(cfg.save_dir, f"checkpoint_last{suffix}.pt")
    else:
        path = cfg.restore_file.replace(".pt", suffix + ".pt")
    return path if os.path.isfile(path) else None


def completion_reason(trainer, epoch_itr) -> Optional[str]:
    """Why training from this restored state would stop at once (fairseq's own stopping
    conditions), or None."""
    optimization = trainer.cfg.optimization
    num_updates = trainer.get_num_updates()
    max_update = optimization.max_update or math.inf
    if num_updates >= max_update:
        return f"it is at {num_updates} updates and optimization.max_update={optimization.max_update}"
    max_epoch = optimization.max_epoch or math.inf
    if epoch_itr.next_epoch_idx > max_epoch:
        return f"it has finished epoch {epoch_itr.next_epoch_idx - 1} and optimization.max_epoch={optimization.max_epoch}"
    hours = trainer.cumulative_training_time() / 3600
    if optimization.stop_time_hours > 0 and hours > optimization.stop_time_hours:
        return f"it has trained {hours:.2f} hours and optimization.stop_time_hours={optimization.stop_time_hours}"
    return None


def _checked_load_checkpoint(cfg, trainer, **passthrough_args):
    from fairseq.distributed import utils as distributed_utils

    if distributed_utils.is_master(trainer.cfg.distributed_training) and not cfg.no_save:
        hold_save_dir(cfg.save_dir)
    restore_path = _restore_path(cfg, trainer)
    if restore_path is not None:
        check_restore_file(restore_path)
    extra_state, epoch_itr = _checked_load_checkpoint.original(cfg, trainer, **passthrough_args)
    if extra_state is not None:
        reason = completion_reason(trainer, epoch_itr)
        if reason is not None:
            message = (
                f"training in {cfg.save_dir} is complete: {restore_path or 'the restored checkpoint'} says {reason}. "
                "Nothing to do; no checkpoint was changed. To train further, raise optimization.max_update "
                "(or max_epoch); to train again from the start, give another checkpoint.save_dir."
            )
            logger.warning(message)
            raise TrainingComplete(message)
    return extra_state, epoch_itr


# ---------------------------------------------------------------------------------------------
# installation


def _replace(owner, name: str, replacement, wrap_static: bool = False) -> None:
    current = inspect.getattr_static(owner, name)
    current_function = current.__func__ if isinstance(current, staticmethod) else current
    if getattr(current_function, "_gcaf_checkpoint_hook", False):
        return  # installed already
    replacement.original = current_function
    replacement._gcaf_checkpoint_hook = True
    setattr(owner, name, staticmethod(replacement) if wrap_static else replacement)


def install_checkpoint_hooks() -> None:
    """Replace fairseq's checkpoint save, copy and load functions with the ones described in
    this module's docstring. Idempotent."""
    from fairseq import checkpoint_utils, file_io

    _replace(checkpoint_utils, "torch_persistent_save", _atomic_torch_persistent_save)
    _replace(file_io.PathManager, "copy", _atomic_copy, wrap_static=True)
    _replace(checkpoint_utils, "load_checkpoint", _checked_load_checkpoint)
