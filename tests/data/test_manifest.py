"""fairseq audio manifests, their one home (gcaf_fairseq.data.manifest): writer, reader with
file:line errors, utterance ids, size; and line files (gcaf_fairseq.data.atomic_files.write_lines)."""

import os

import numpy as np
import pytest

from gcaf_fairseq.data.atomic_files import write_lines
from gcaf_fairseq.data.manifest import (
    SAMPLE_RATE,
    ManifestError,
    ManifestRow,
    manifest_size,
    read_manifest,
    utterance_id_of,
    write_manifest,
)


def test_write_lines_ends_every_line_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "new" / "train.wrd"
    write_lines(path, iter(["HI YOU", "", "BYE"]))
    assert path.read_text() == "HI YOU\n\nBYE\n"
    write_lines(path, [])
    assert path.read_text() == ""
    assert os.listdir(path.parent) == ["train.wrd"]


def test_manifest_is_the_root_then_path_and_samples(tmp_path):
    write_manifest(tmp_path / "train.tsv", tmp_path / "audio", [("1/2/1-2-0000.flac", 16000), ("b.ogg", np.int64(7))])
    assert (tmp_path / "train.tsv").read_text() == f"{tmp_path / 'audio'}\n1/2/1-2-0000.flac\t16000\nb.ogg\t7\n"


def test_the_reader_gives_the_root_and_rows_with_their_lines_and_ids(tmp_path):
    write_manifest(tmp_path / "dev.tsv", "/data/audio", [("19/198/19-198-0001.flac", 32000), ("/abs/x.y.ogg", 8000)])
    root, rows = read_manifest(tmp_path / "dev.tsv")
    assert root == "/data/audio"
    assert rows == [ManifestRow(2, "19/198/19-198-0001.flac", 32000), ManifestRow(3, "/abs/x.y.ogg", 8000)]
    assert [row.utterance_id for row in rows] == ["19-198-0001", "x.y"]
    assert utterance_id_of("a/b/id10012_0AXjxNXiEzo_00001.flac") == "id10012_0AXjxNXiEzo_00001"
    assert manifest_size(tmp_path / "dev.tsv") == (2, 40000 / SAMPLE_RATE)


@pytest.mark.parametrize("text, message", [
    ("", r" is empty: a manifest starts with the audio root folder"),
    ("a.flac\t400\n", r":1: the first line is an utterance row"),
    ("/root\na.flac\t400\nb.flac\n", r":3: expected 2 tab-separated columns .* found 1"),
    ("/root\na.flac\t0\n", r":2: the number of samples '0' is not a positive integer"),
    ("/root\na.flac\t1.5\n", r":2: the number of samples '1.5' is not a positive integer"),
])
def test_the_reader_names_the_file_and_line_of_a_malformed_manifest(tmp_path, text, message):
    path = tmp_path / "train.tsv"
    path.write_text(text)
    with pytest.raises(ManifestError, match=rf"{path}{message}"):
        read_manifest(path)


def test_a_missing_or_non_utf8_manifest_is_named(tmp_path):
    with pytest.raises(ManifestError, match=rf"manifest {tmp_path / 'gone.tsv'} does not exist"):
        manifest_size(tmp_path / "gone.tsv")
    (tmp_path / "latin.tsv").write_bytes(b"/root\n\xe9t\xe9.flac\t400\n")
    with pytest.raises(ManifestError, match=rf"{tmp_path / 'latin.tsv'}: not UTF-8 text"):
        read_manifest(tmp_path / "latin.tsv")


@pytest.mark.parametrize("entry, message", [
    (("a\tb.flac", 400), r"row 2: audio path 'a\\tb.flac' is empty or holds a tab or line break"),
    (("b.flac", 0), r"row 2 \(b.flac\): the number of samples 0 is not a positive integer"),
    (("b.flac", 400.0), r"row 2 \(b.flac\): the number of samples 400.0 is not a positive integer"),
    (("b.flac", True), r"the number of samples True is not a positive integer"),
])
def test_the_writer_refuses_rows_the_reader_would_refuse_and_writes_nothing(tmp_path, entry, message):
    path = tmp_path / "train.tsv"
    with pytest.raises(ManifestError, match=message):
        write_manifest(path, "/root", [("a.flac", 400), entry])
    assert not path.exists()


def test_the_manifest_home_needs_neither_torch_nor_fairseq():
    import subprocess
    import sys

    code = "import sys, gcaf_fairseq.data.manifest; print([m for m in ('torch', 'fairseq') if m in sys.modules])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
