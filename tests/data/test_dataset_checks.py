"""Manifests, labels and audio checked once at the task's dataset load, with file:line errors
(gcaf_fairseq/data/dataset_checks.py), and utterances longer than --max-tokens named when
batches are made."""

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import make_task

from gcaf_fairseq.data.dataset_checks import DatasetInputError, receptive_field

LENGTHS = [4000, 4800, 3200, 6000]  # samples at 16 kHz
TEXTS = ["A B |", "B A |", "A A |", "B B |"]


def write_split(folder: Path, lengths=LENGTHS, texts=TEXTS, split="test") -> Path:
    """A data folder: audio/u{k}.flac (noise), {split}.tsv, {split}.ltr, dict.ltr.txt."""
    audio = folder / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for k, length in enumerate(lengths):
        soundfile.write(audio / f"u{k}.flac", (0.1 * rng.standard_normal(length)).astype(np.float32), 16000)
        rows.append(f"u{k}.flac\t{length}")
    (folder / f"{split}.tsv").write_text(f"{audio}\n" + "".join(row + "\n" for row in rows))
    (folder / f"{split}.ltr").write_text("".join(text + "\n" for text in texts))
    (folder / "dict.ltr.txt").write_text("| 10\nA 8\nB 6\n")
    return folder


def edit_lines(path: Path, change) -> None:
    lines = path.read_text().splitlines()
    change(lines)
    path.write_text("".join(line + "\n" for line in lines))


def load(data, **options):
    task = make_task(data, **options)
    task.load_dataset("test")
    return task


@pytest.fixture
def data(tmp_path) -> Path:
    return write_split(tmp_path / "data")


def test_a_good_split_loads(data):
    assert len(load(data).datasets["test"]) == 4


def test_a_manifest_without_its_root_line(data):
    edit_lines(data / "test.tsv", lambda lines: lines.pop(0))
    with pytest.raises(DatasetInputError, match=rf"{data}/test.tsv:1: the first line is an utterance row \('u0.flac\\t4000'\), not the audio root"):
        load(data)


def test_a_row_with_another_column_count(data):
    edit_lines(data / "test.tsv", lambda lines: lines.__setitem__(2, lines[2] + "\textra"))
    with pytest.raises(DatasetInputError, match=rf"{data}/test.tsv:3: expected 2 tab-separated columns .* found 3"):
        load(data)


@pytest.mark.parametrize("length", ["12x", "4.5", "-3", "0"])
def test_a_length_that_is_not_a_positive_integer(data, length):
    edit_lines(data / "test.tsv", lambda lines: lines.__setitem__(4, f"u3.flac\t{length}"))
    with pytest.raises(DatasetInputError, match=rf"{data}/test.tsv:5: the number of samples '{length}' is not a positive integer"):
        load(data)


@pytest.mark.parametrize("change, lines", [(lambda lines: lines.append("A |"), 5), (lambda lines: lines.pop(), 3)])
def test_a_label_file_with_more_or_fewer_lines(data, change, lines):
    edit_lines(data / "test.ltr", change)
    with pytest.raises(DatasetInputError, match=rf"{data}/test.ltr has {lines} lines but {data}/test.tsv has 4 utterance rows"):
        load(data)


def test_an_empty_label_line(data):
    edit_lines(data / "test.ltr", lambda lines: lines.__setitem__(1, "  "))
    with pytest.raises(DatasetInputError, match=rf"{data}/test.ltr:2: empty label \(utterance 'u1', {data}/test.tsv:3\)"):
        load(data)


def test_missing_audio_is_named_at_load_not_retried_with_sleeps(data):
    (data / "audio" / "u2.flac").unlink()
    with pytest.raises(DatasetInputError, match=rf"test.tsv:4: utterance 'u2': {data}/audio/u2.flac does not exist"):
        load(data)


def test_another_sample_rate(data):
    soundfile.write(data / "audio" / "u1.flac", np.zeros(LENGTHS[1], np.float32), 8000)
    with pytest.raises(DatasetInputError, match=r"test.tsv:3: utterance 'u1': .* is sampled at 8000 Hz, the task reads 16000 Hz"):
        load(data)


def test_stereo_is_an_error_unless_allowed(data, caplog):
    soundfile.write(data / "audio" / "u0.flac", np.zeros((LENGTHS[0], 2), np.float32), 16000)
    with pytest.raises(DatasetInputError, match=r"(?s)test.tsv:2: utterance 'u0': .* has 2 channels.*allow_stereo=true"):
        load(data)
    with caplog.at_level(logging.WARNING):
        task = load(data, allow_stereo=True)
    assert task.datasets["test"][0]["source"].dim() == 1  # fairseq averages the channels
    assert "1 multi-channel files" in caplog.text


def test_audio_shorter_than_the_receptive_field_names_the_utterance(data, caplog):
    soundfile.write(data / "audio" / "u3.flac", np.zeros(300, np.float32), 16000)
    edit_lines(data / "test.tsv", lambda lines: lines.__setitem__(4, "u3.flac\t300"))
    with pytest.raises(DatasetInputError, match=r"test.tsv:5: utterance 'u3' has 300 samples, fewer than the feature extractor's receptive field of 400"):
        load(data)
    # fairseq's min_sample_size skips it (with its label line): counted and logged, not silent.
    with caplog.at_level(logging.WARNING):
        task = load(data, min_sample_size=400)
    assert len(task.datasets["test"]) == 3
    assert "fairseq skips 1 of 4 utterances" in caplog.text and "u3 (line 5, 300 samples)" in caplog.text


def test_a_length_the_audio_does_not_have(data):
    edit_lines(data / "test.tsv", lambda lines: lines.__setitem__(2, "u1.flac\t9999"))
    with pytest.raises(DatasetInputError, match=r"test.tsv:3: utterance 'u1': .* has 4800 samples, the manifest says 9999"):
        load(data)


def test_duplicate_ids_are_an_error_unless_allowed(data, caplog):
    edit_lines(data / "test.tsv", lambda lines: lines.append(lines[1]))
    edit_lines(data / "test.ltr", lambda lines: lines.append(lines[0]))
    with pytest.raises(DatasetInputError, match=r"test.tsv:6: utterance 'u0' repeats line 2: utterance ids must be unique"):
        load(data)
    with caplog.at_level(logging.WARNING):
        assert len(load(data, allow_duplicate_ids=True).datasets["test"]) == 5
    assert "1 rows of" in caplog.text and "repeat an utterance id" in caplog.text


def test_every_problem_is_listed_with_what_to_do(data):
    (data / "audio" / "u2.flac").unlink()
    soundfile.write(data / "audio" / "u0.flac", np.zeros((LENGTHS[0], 2), np.float32), 16000)
    edit_lines(data / "test.ltr", lambda lines: lines.__setitem__(3, ""))
    with pytest.raises(DatasetInputError) as error:
        load(data)
    message = str(error.value)
    assert "3 problem(s) (1 empty label, 1 missing, 1 stereo)" in message
    assert "What to do:" in message and "sox in.flac -c 1 out.flac" in message


def test_longer_than_max_tokens_is_named_or_skipped_counted(data, caplog):
    task = load(data)
    dataset = task.datasets["test"]
    with pytest.raises(DatasetInputError, match=r"1 utterances of .*test.tsv are longer than --max-tokens=5000 samples .*u3 \(.*test.tsv:5, 6000 samples\).*at least 6000"):
        task.get_batch_iterator(dataset, max_tokens=5000)
    with caplog.at_level(logging.WARNING):
        batches = task.get_batch_iterator(dataset, max_tokens=5000, ignore_invalid_inputs=True).next_epoch_itr(shuffle=False)
        seen = sorted(i for batch in batches for i in batch["id"].tolist())
    assert seen == [0, 1, 2] and "skipping 1 utterances longer than max_tokens=5000" in caplog.text
    # fairseq's trainer folds max_tokens into max_positions itself: the same outcome.
    batches = task.get_batch_iterator(dataset, max_tokens=5000, max_positions=(5000, 5000), ignore_invalid_inputs=True)
    assert sorted(i for batch in batches.next_epoch_itr(shuffle=False) for i in batch["id"].tolist()) == [0, 1, 2]


def test_receptive_field_from_the_model_config():
    from omegaconf import OmegaConf

    assert receptive_field(None) == 400
    wav2vec2 = "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] + [(512,2,2)]"
    assert receptive_field(OmegaConf.create({"w2v_args": {"model": {"conv_feature_layers": wav2vec2}}})) == 400
    tiny = "[(32, 10, 5), (32, 3, 2), (32, 3, 2), (32, 3, 2), (32, 2, 2), (32, 2, 2)]"
    assert receptive_field(OmegaConf.create({"w2v_args": {"model": {"conv_feature_layers": tiny}}})) == 200


def test_a_passed_check_is_remembered_until_the_manifest_or_an_audio_folder_changes(data, monkeypatch):
    from gcaf_fairseq.data import dataset_checks

    reads = []
    real_header = dataset_checks._read_header
    monkeypatch.setattr(dataset_checks, "_read_header", lambda path: reads.append(path) or real_header(path))
    load(data)
    assert len(reads) == 4 and (data / ".test.tsv.audio-checked.json").exists()
    load(data)
    assert len(reads) == 4  # unchanged manifest and folders: no header read again
    (data / "audio" / "u2.flac").unlink()  # the folder's modification time changes
    with pytest.raises(DatasetInputError, match=r"utterance 'u2': .*u2.flac does not exist"):
        load(data)
    assert len(reads) == 8


def test_a_failed_check_is_not_remembered(data):
    (data / "audio" / "u1.flac").unlink()
    for _ in range(2):
        with pytest.raises(DatasetInputError, match="u1.flac does not exist"):
            load(data)
    assert not (data / ".test.tsv.audio-checked.json").exists()
