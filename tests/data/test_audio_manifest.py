"""Line files and fairseq audio manifests (gcaf_fairseq.data.atomic_files.write_lines,
gcaf_fairseq.data.audio)."""

import os

from gcaf_fairseq.data.atomic_files import write_lines
from gcaf_fairseq.data.audio import SAMPLE_RATE, write_manifest


def test_write_lines_ends_every_line_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "new" / "train.wrd"
    write_lines(path, iter(["HI YOU", "", "BYE"]))
    assert path.read_text() == "HI YOU\n\nBYE\n"
    write_lines(path, [])
    assert path.read_text() == ""
    assert os.listdir(path.parent) == ["train.wrd"]


def test_manifest_is_the_root_then_path_and_samples(tmp_path):
    write_manifest(tmp_path / "train.tsv", tmp_path / "audio", [("1/2/1-2-0000.flac", 16000), ("b.ogg", 7)])
    assert (tmp_path / "train.tsv").read_text() == f"{tmp_path / 'audio'}\n1/2/1-2-0000.flac\t16000\nb.ogg\t7\n"


def test_sample_rate_is_wav2vec2s():
    assert SAMPLE_RATE == 16000
