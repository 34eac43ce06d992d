"""Atomic writes, their one home (gcaf_fairseq.data.atomic_files): the target holds the old
content or the new one, never part of one, and no temporary file is left behind."""

import os

import pytest
from conftest import record_fsyncs

from gcaf_fairseq.data import atomic_files
from gcaf_fairseq.data.atomic_files import (
    atomic_path,
    open_atomically,
    temporary_sibling,
    write_bytes_atomically,
    write_symlink_atomically,
)


def test_temporary_names_are_hidden_siblings_that_differ(tmp_path):
    first, second = temporary_sibling(tmp_path / "a.pt"), temporary_sibling(tmp_path / "a.pt")
    assert first.parent == tmp_path and first.name.startswith(".a.pt.") and first.name.endswith(".tmp")
    assert first != second


def test_a_stream_is_committed_durably_or_discarded(tmp_path, monkeypatch):
    target = tmp_path / "store.ctx"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with open_atomically(target) as stream:
            stream.write(b"half of the new")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["store.ctx"]

    fsyncs = record_fsyncs(monkeypatch)
    output = open_atomically(target)
    output.stream.write(b"new, written over time")
    output.stream.seek(0)
    output.stream.write(b"NEW")
    assert target.read_bytes() == b"old"  # nothing shows before the commit
    output.commit()
    assert target.read_bytes() == b"NEW, written over time" and os.listdir(tmp_path) == ["store.ctx"]
    assert len(fsyncs) == 2  # the file before the rename, the folder after it
    with pytest.raises(ValueError, match="already committed"):
        output.commit()


def test_a_path_writer_that_fails_leaves_the_target_and_no_temporary_file(tmp_path):
    target = tmp_path / "clip.flac"
    target.write_bytes(b"old clip")
    with pytest.raises(OSError):
        with atomic_path(target) as temporary:
            temporary.write_bytes(b"part of a clip")
            raise OSError("disk full")
    assert target.read_bytes() == b"old clip" and os.listdir(tmp_path) == ["clip.flac"]
    with atomic_path(target) as temporary:
        temporary.write_bytes(b"new clip")
    assert target.read_bytes() == b"new clip" and os.listdir(tmp_path) == ["clip.flac"]


def test_not_durable_skips_the_fsyncs(tmp_path, monkeypatch):
    fsyncs = record_fsyncs(monkeypatch)
    with atomic_path(tmp_path / "clip.flac", durable=False) as temporary:
        temporary.write_bytes(b"clip")
    assert fsyncs == [] and (tmp_path / "clip.flac").read_bytes() == b"clip"


def test_files_get_the_umask_permissions(tmp_path):
    old_umask = os.umask(0o022)
    try:
        write_bytes_atomically(tmp_path / "new" / "a.txt", b"x")
    finally:
        os.umask(old_umask)
    assert (tmp_path / "new" / "a.txt").stat().st_mode & 0o777 == 0o644


def test_a_link_replaces_whatever_was_there(tmp_path):
    link = tmp_path / "e2e_ner" / "dev.tsv"
    write_symlink_atomically(link, "../a.tsv")
    assert os.readlink(link) == "../a.tsv"
    link.unlink()
    link.write_text("a file")
    write_symlink_atomically(link, "../dev.tsv")
    assert os.readlink(link) == "../dev.tsv" and sorted(os.listdir(link.parent)) == ["dev.tsv"]


def test_a_folder_fsync_the_file_system_refuses_is_not_an_error(tmp_path, monkeypatch):
    def refuse(descriptor):
        raise OSError(22, "Invalid argument")

    monkeypatch.setattr(os, "fsync", refuse)
    atomic_files.fsync_folder(tmp_path)  # best effort
    with pytest.raises(OSError):  # a file's fsync that fails is an error: its bytes may not be on disk
        write_bytes_atomically(tmp_path / "a.txt", b"x")
    assert os.listdir(tmp_path) == []
