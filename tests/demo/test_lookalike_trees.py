"""The look-alike SLUE release folders (gcaf_demo.lookalike_trees.build_slue_releases): dev and
test differ row by row in text and audio, so a test built on them sees a dev/test mix-up."""

import csv
import itertools

import numpy as np
import soundfile

from gcaf_demo.lookalike_trees import build_slue_releases, split_offsets

PHRASES = ("the cat sat", "a bird sang", "we walked home", "rain fell today", "good morning")


def tone(number: int) -> np.ndarray:
    """Utterance ``number``'s audio: 0.3 s of a tone of its own pitch."""
    time = np.arange(4800) / 16000
    return (8000 * np.sin(2 * np.pi * (200 + 40 * number) * time)).astype(np.int16)


def read_tsv(path) -> list:
    with open(path, newline="") as rows:
        return list(csv.DictReader(rows, delimiter="\t"))


def test_dev_and_test_differ_row_by_row_in_text_and_audio(tmp_path):
    releases = build_slue_releases(tmp_path, tone, PHRASES)
    for dataset, column in (("voxceleb", "normalized_text"), ("voxpopuli", "normalized_text")):
        splits = {split: read_tsv(releases[dataset] / f"slue-{dataset}_{split}.tsv") for split in ("fine-tune", "dev", "test")}
        assert [len(rows) for rows in splits.values()] == [5, 3, 3]
        for dev_row, test_row in zip(splits["dev"], splits["test"]):
            assert dev_row[column] != test_row[column]
            if dataset == "voxceleb":
                audio = [soundfile.read(str(releases[dataset] / f"{split}_raw" / f"{row['id']}.flac"), dtype="int16")[0]
                         for split, row in (("dev", dev_row), ("test", test_row))]
            else:
                audio = [soundfile.read(str(releases[dataset] / split / f"{row['id']}.ogg"), dtype="int16")[0]
                         for split, row in (("dev", dev_row), ("test", test_row))]
            assert len(audio[0]) != len(audio[1]) or not np.allclose(audio[0], audio[1], atol=2000)
        texts = {split: [row[column] for row in rows] for split, rows in splits.items()}
        assert texts["dev"] != texts["test"] and texts["dev"] != texts["fine-tune"][:3]


def test_a_voxceleb_clip_is_its_own_utterances_audio(tmp_path):
    releases = build_slue_releases(tmp_path, tone, PHRASES)
    offsets = split_offsets({"fine-tune": 5, "dev": 3, "test": 3}, len(PHRASES))
    for split in ("dev", "test"):
        for index, row in enumerate(read_tsv(releases["voxceleb"] / f"slue-voxceleb_{split}.tsv")):
            raw, _ = soundfile.read(str(releases["voxceleb"] / f"{split}_raw" / f"{row['id']}.flac"), dtype="int16")
            number = offsets[split] + index
            assert row["normalized_text"] == PHRASES[number % len(PHRASES)]
            assert np.array_equal(raw[: int(float(row["end_second"]) * 16000)], tone(number))


def test_split_offsets_never_start_two_splits_on_one_phrase_when_there_are_enough():
    for sizes in itertools.product((1, 3, 5, 7), repeat=3):
        for phrase_count in (3, 4, 5, 10):
            offsets = split_offsets(dict(zip(("fine-tune", "dev", "test"), sizes)), phrase_count)
            starts = list(offsets.values())
            assert len({start % phrase_count for start in starts}) == 3, (sizes, phrase_count, offsets)
            assert all(later >= earlier + size for earlier, later, size in zip(starts, starts[1:], sizes))
