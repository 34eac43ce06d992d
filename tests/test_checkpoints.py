"""Training checkpoints (gcaf_fairseq.checkpoints.hooks): atomic writes and copies, a torn
checkpoint_last.pt named with the intact checkpoint to resume from, one training per save_dir,
and a finished run that a rerun leaves alone. The slow tests run real fairseq-hydra-train."""

import inspect
import os
import shutil
from pathlib import Path

import pytest
import torch
from conftest import record_fsyncs

import gcaf_fairseq.plugin  # noqa: F401  (installs the hooks under test)
from gcaf_fairseq.recipes.processes import hydra_train
from gcaf_fairseq.tables.train_log import read_training_log
from gcaf_fairseq.checkpoints import (
    LOCK_NAME,
    SaveDirInUseError,
    SaveDirLock,
    TornCheckpointError,
    check_restore_file,
    checkpoint_problem,
    hold_save_dir,
    install_checkpoint_hooks,
)

from fairseq import checkpoint_utils  # noqa: E402
from fairseq.file_io import PathManager  # noqa: E402


def _parameters(function):
    return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]


def test_hooks_keep_fairseq_signatures():
    for hooked in (checkpoint_utils.torch_persistent_save, PathManager.copy, checkpoint_utils.load_checkpoint):
        assert hooked.original is not hooked
        assert _parameters(hooked) == _parameters(hooked.original)
    install_checkpoint_hooks()  # idempotent: no hook around a hook
    assert not hasattr(checkpoint_utils.torch_persistent_save.original, "original")


def test_copy_interrupted_midway_keeps_the_old_target_and_leaves_no_partial_file(tmp_path, monkeypatch):
    best, last = tmp_path / "checkpoint_best.pt", tmp_path / "checkpoint_last.pt"
    best.write_bytes(os.urandom(1 << 20))
    last.write_bytes(b"the previous checkpoint_last.pt")

    def killed_during_copy(src, dst, **kwargs):  # half the bytes reach dst, then the kill
        with open(src, "rb") as source, open(dst, "wb") as target:
            target.write(source.read(1 << 19))
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(shutil, "copyfile", killed_during_copy)
        with pytest.raises(KeyboardInterrupt):
            PathManager.copy(str(best), str(last), overwrite=True)
    assert last.read_bytes() == b"the previous checkpoint_last.pt"
    assert sorted(os.listdir(tmp_path)) == ["checkpoint_best.pt", "checkpoint_last.pt"]

    fsyncs = record_fsyncs(monkeypatch)
    assert PathManager.copy(str(best), str(last), overwrite=True) == str(last)  # fairseq asserts it
    assert last.read_bytes() == best.read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["checkpoint_best.pt", "checkpoint_last.pt"]
    assert len(fsyncs) >= 2  # the file before the rename, the folder after it


def test_save_interrupted_midway_keeps_the_old_checkpoint_and_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "checkpoint_last.pt"
    torch.save({"num_updates": 1}, target)
    old_bytes = target.read_bytes()
    real_save = torch.save

    def killed_during_save(obj, stream, *args, **kwargs):
        stream.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(torch, "save", killed_during_save)
        with pytest.raises(KeyboardInterrupt):
            checkpoint_utils.torch_persistent_save({"num_updates": 2}, str(target))
    assert target.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["checkpoint_last.pt"]  # fairseq's own leaves checkpoint_last.pt.tmp

    fsyncs = record_fsyncs(monkeypatch)
    monkeypatch.setattr(torch, "save", real_save)
    checkpoint_utils.torch_persistent_save({"num_updates": 2}, str(target))
    assert torch.load(target) == {"num_updates": 2}
    assert os.listdir(tmp_path) == ["checkpoint_last.pt"]
    assert len(fsyncs) >= 2


def _checkpoint(path: Path, mtime: float, num_updates: int) -> Path:
    torch.save({"num_updates": num_updates}, path)
    os.utime(path, (mtime, mtime))
    return path


def test_a_torn_checkpoint_names_the_newest_intact_one(tmp_path):
    now = 1_700_000_000
    _checkpoint(tmp_path / "checkpoint_best.pt", now - 300, 1000)
    _checkpoint(tmp_path / "checkpoint_3_1500.pt", now - 100, 1500)
    newer_but_torn = _checkpoint(tmp_path / "checkpoint_3_2000.pt", now - 50, 2000)
    newer_but_torn.write_bytes(newer_but_torn.read_bytes()[:100])
    last = _checkpoint(tmp_path / "checkpoint_last.pt", now, 2000)
    assert checkpoint_problem(last) is None
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # a copy killed halfway
    assert "cut off" in checkpoint_problem(last)

    with pytest.raises(TornCheckpointError) as error:
        check_restore_file(last)
    message = str(error.value)
    assert message.startswith(f"{last} is cut off")
    assert f"The newest intact checkpoint in {tmp_path} is checkpoint_3_1500.pt" in message
    assert "others: checkpoint_best.pt" in message and "checkpoint_3_2000.pt" not in message
    assert f"cp {tmp_path / 'checkpoint_3_1500.pt'} {last}" in message
    assert f"checkpoint.restore_file={tmp_path / 'checkpoint_3_1500.pt'}" in message

    last.write_bytes(b"")  # killed before the first byte
    with pytest.raises(TornCheckpointError, match="is empty"):
        check_restore_file(last)


def test_a_torn_checkpoint_without_an_intact_one_says_to_start_over(tmp_path):
    last = tmp_path / "checkpoint_last.pt"
    torch.save({"num_updates": 3}, last)
    last.write_bytes(last.read_bytes()[:-30])
    with pytest.raises(TornCheckpointError, match=f"holds no intact checkpoint: delete {last}"):
        check_restore_file(last)


def test_save_dir_lock_refuses_a_second_holder_naming_the_folder_and_pid(tmp_path):
    with SaveDirLock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text() == f"{os.getpid()}\n"
        with pytest.raises(SaveDirInUseError, match=rf"save_dir {tmp_path} is in use by another training \(pid {os.getpid()}"):
            SaveDirLock(tmp_path)
    SaveDirLock(tmp_path).release()  # released: free again


def test_holding_a_save_dir_removes_what_an_interrupted_save_left(tmp_path):
    stale = tmp_path / ".checkpoint_last.pt.4242.0badc0de.tmp"
    stale.write_bytes(b"half")
    kept = tmp_path / "notes.tmp"
    kept.write_text("not ours")
    hold_save_dir(tmp_path)
    assert not stale.exists() and kept.exists()


# ---------------------------------------------------------------------------------------------
# real fairseq-hydra-train runs of the tiny model (a few updates each)

UPDATES = 3


def _train(save_dir, corpus, w2v_checkpoint, max_update=UPDATES, extra=()):
    return hydra_train(
        "demo_tiny", save_dir,
        [f"task.data={corpus}", f"model.w2v_path={w2v_checkpoint}", f"optimization.max_update={max_update}", *extra],
        system="A",
    )


def _checkpoint_files(save_dir: Path) -> dict:
    return {path.name: (path.stat().st_mtime_ns, path.read_bytes()) for path in sorted(save_dir.glob("*.pt"))}


@pytest.fixture(scope="module")
def finished_run(corpus, w2v_checkpoint, tmp_path_factory):
    save_dir = tmp_path_factory.mktemp("finished") / "run"
    _train(save_dir, corpus, w2v_checkpoint)
    assert read_training_log(save_dir / "train.log").num_updates == UPDATES
    return save_dir


@pytest.mark.slow
def test_rerunning_a_finished_training_says_so_and_changes_no_checkpoint(finished_run, corpus, w2v_checkpoint, tmp_path):
    save_dir = tmp_path / "run"
    shutil.copytree(finished_run, save_dir)
    before = _checkpoint_files(save_dir)
    assert set(before) == {"checkpoint_best.pt", "checkpoint_last.pt"}
    earlier = (save_dir / "train.log").read_text()
    _train(save_dir, corpus, w2v_checkpoint)  # the same command again: exit status 0
    log = (save_dir / "train.log").read_text()[len(earlier):]  # the rerun's own lines (the log is appended)
    assert f"training in {save_dir} is complete" in log
    assert f"it is at {UPDATES} updates and optimization.max_update={UPDATES}" in log
    assert _checkpoint_files(save_dir) == before  # same bytes, same modification times
    assert '"train_num_updates"' not in log  # no update trained


@pytest.mark.slow
def test_a_torn_checkpoint_last_names_the_intact_checkpoint_and_its_advice_resumes(finished_run, corpus, w2v_checkpoint, tmp_path):
    save_dir = tmp_path / "run"
    shutil.copytree(finished_run, save_dir)
    last, best = save_dir / "checkpoint_last.pt", save_dir / "checkpoint_best.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # a kill during fairseq's copy
    with pytest.raises(RuntimeError) as error:
        _train(save_dir, corpus, w2v_checkpoint, max_update=UPDATES + 2)
    message = str(error.value)
    assert "TornCheckpointError" in message and f"{last} is cut off" in message
    assert f"The newest intact checkpoint in {save_dir} is checkpoint_best.pt" in message
    assert f"checkpoint.restore_file={best}" in message
    # The advice works: resume from the intact checkpoint; fairseq's next save replaces the torn file.
    _train(save_dir, corpus, w2v_checkpoint, max_update=UPDATES + 2, extra=[f"checkpoint.restore_file={best}"])
    assert read_training_log(save_dir / "train.log").num_updates == UPDATES + 2
    assert checkpoint_problem(last) is None
    assert torch.load(last, weights_only=False)["optimizer_history"][-1]["num_updates"] == UPDATES + 2


@pytest.mark.slow
def test_a_second_training_into_a_held_save_dir_is_refused(corpus, w2v_checkpoint, tmp_path):
    save_dir = tmp_path / "run"
    with SaveDirLock(save_dir):  # this process stands for the first training: the same lock
        with pytest.raises(RuntimeError) as error:
            _train(save_dir, corpus, w2v_checkpoint)
    message = str(error.value)
    assert f"SaveDirInUseError: checkpoint.save_dir {save_dir} is in use by another training (pid {os.getpid()}" in message
    assert not list(save_dir.glob("*.pt"))  # it stopped before writing anything
