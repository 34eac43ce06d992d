"""The synthetic demo corpus (espeak-ng + sox) and the tiny wav2vec2 pretrained on it."""

import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest
import soundfile

from gcaf_demo.corpus import main as corpus_main
from gcaf_demo.corpus import synthesize_corpus

# No skip when espeak-ng or sox is missing: scripts/setup_env.sh installs them, and a test
# that cannot synthesize speech must fail, not pass unnoticed.
pytestmark = pytest.mark.needs_speech_tools

SMALL_CORPUS = dict(n_chapters=4, sentences_per_chapter=3, valid_chapters=1, test_chapters=1, seed=3, jobs=2)
SPLITS = ("train", "valid", "test")
ROW_FIELDS = {"id", "stream", "position", "audio", "text", "prev_id", "next_id", "in_split"}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A 4-chapter corpus: its folder and the summary synthesize_corpus returned."""
    out_dir = tmp_path_factory.mktemp("corpus")
    return out_dir, synthesize_corpus(out_dir, **SMALL_CORPUS)


def read_lines(path: Path) -> list:
    return path.read_text().splitlines()


def read_rows(path: Path) -> list:
    return [json.loads(line) for line in read_lines(path)]


def test_summary_counts_splits_and_duration(corpus):
    out_dir, summary = corpus
    assert list(summary["splits"]) == list(SPLITS)
    assert [summary["splits"][split]["chapters"] for split in SPLITS] == [2, 1, 1]
    assert [summary["splits"][split]["utterances"] for split in SPLITS] == [6, 3, 3]
    assert summary["utterances"] == 12
    split_durations = [split_summary["duration_s"] for split_summary in summary["splits"].values()]
    assert summary["duration_s"] == pytest.approx(sum(split_durations), abs=0.01)
    assert summary["duration_s"] > 12  # about 2 s per sentence


def test_manifests_have_matching_lines_and_16k_mono_audio(corpus):
    out_dir, summary = corpus
    for split in SPLITS:
        manifest = read_lines(out_dir / f"{split}.tsv")
        count = summary["splits"][split]["utterances"]
        assert manifest[0] == str(out_dir / "audio")
        assert len(manifest) - 1 == count
        assert len(read_lines(out_dir / f"{split}.ltr")) == count
        assert len(read_lines(out_dir / f"{split}.wrd")) == count
        assert len(read_rows(out_dir / f"{split}.utterances.jsonl")) == count
        for line in manifest[1:]:
            relative_path, num_samples = line.split("\t")
            info = soundfile.info(str(Path(manifest[0]) / relative_path))
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert info.frames == int(num_samples)


def test_transcripts_are_librispeech_style_and_ltr_derives_from_wrd(corpus):
    out_dir, _ = corpus
    for split in SPLITS:
        words = read_lines(out_dir / f"{split}.wrd")
        letters = read_lines(out_dir / f"{split}.ltr")
        for sentence, letter_line in zip(words, letters):
            assert re.fullmatch(r"[A-Z']+( [A-Z']+)*", sentence)
            assert 5 <= len(sentence.split()) <= 12
            assert letter_line == " ".join(sentence.replace(" ", "|")) + " |"


def test_dictionary_counts_train_letters_and_covers_every_split(corpus):
    out_dir, _ = corpus
    entries = [line.split(" ") for line in read_lines(out_dir / "dict.ltr.txt")]
    counts = {symbol: int(count) for symbol, count in entries}
    assert [int(count) for _, count in entries] == sorted(counts.values(), reverse=True)
    train_counts = Counter(" ".join(read_lines(out_dir / "train.ltr")).split())
    assert {symbol: count for symbol, count in counts.items() if count} == dict(train_counts)
    for split in SPLITS:
        assert set(" ".join(read_lines(out_dir / f"{split}.ltr")).split()) <= set(counts)


def test_utterance_tables_link_consecutive_utterances_of_a_chapter(corpus):
    out_dir, _ = corpus
    streams_seen = set()
    for split in SPLITS:
        rows = read_rows(out_dir / f"{split}.utterances.jsonl")
        manifest = read_lines(out_dir / f"{split}.tsv")
        assert [row["text"] for row in rows] == read_lines(out_dir / f"{split}.wrd")
        manifest_paths = [f"{manifest[0]}/{line.split(chr(9))[0]}" for line in manifest[1:]]
        assert [row["audio"] for row in rows] == manifest_paths
        by_id = {row["id"]: row for row in rows}
        split_streams = {row["stream"] for row in rows}
        assert not split_streams & streams_seen, "a chapter is split across splits"
        streams_seen |= split_streams
        for row in rows:
            assert set(row) == ROW_FIELDS
            speaker, chapter, number = re.fullmatch(r"(\d+)-(\d+)-(\d{4})", row["id"]).groups()
            assert row["stream"] == f"{speaker}-{chapter}"
            assert row["position"] == int(number)
            assert row["in_split"] is True
            assert Path(row["audio"]).is_file()
            if row["position"] == 0:
                assert row["prev_id"] is None
            else:
                previous = by_id[row["prev_id"]]
                assert previous["stream"] == row["stream"]
                assert previous["position"] == row["position"] - 1
                assert previous["next_id"] == row["id"]
        last_rows = [row for row in rows if row["next_id"] is None]
        assert len(last_rows) == len(split_streams)


def test_consecutive_sentences_share_vocabulary(corpus):
    out_dir, _ = corpus
    function_words = {"THE", "AND", "WAS", "IN", "A", "THAT", "IT'S"}
    rows = read_rows(out_dir / "train.utterances.jsonl")
    for previous, current in zip(rows, rows[1:]):
        if current["prev_id"] == previous["id"]:
            shared = set(previous["text"].split()) & set(current["text"].split())
            assert shared - function_words, (previous["text"], current["text"])


def test_same_seed_gives_same_texts_and_audio_bytes(corpus, tmp_path):
    out_dir, _ = corpus
    again = tmp_path / "again"
    synthesize_corpus(again, **SMALL_CORPUS)
    for name in ["dict.ltr.txt"] + [f"{split}.{suffix}" for split in SPLITS for suffix in ("wrd", "ltr")]:
        assert (again / name).read_text() == (out_dir / name).read_text()
    first_audio = sorted((out_dir / "audio").rglob("*.flac"))
    assert [path.relative_to(out_dir) for path in first_audio] == sorted(
        path.relative_to(again) for path in (again / "audio").rglob("*.flac")
    )
    for path in first_audio:
        assert path.read_bytes() == (again / path.relative_to(out_dir)).read_bytes()

    other_seed = tmp_path / "other_seed"
    synthesize_corpus(other_seed, **{**SMALL_CORPUS, "seed": 4, "sentences_per_chapter": 1})
    assert (other_seed / "train.wrd").read_text() != (out_dir / "train.wrd").read_text()


def test_second_call_returns_the_existing_corpus_quickly(corpus):
    out_dir, summary = corpus
    some_audio = next((out_dir / "audio").rglob("*.flac"))
    modified = some_audio.stat().st_mtime_ns
    start = time.perf_counter()
    assert synthesize_corpus(out_dir, **SMALL_CORPUS) == summary
    assert time.perf_counter() - start < 0.5
    assert some_audio.stat().st_mtime_ns == modified


def test_command_line(tmp_path, capsys):
    corpus_main(
        ["--out", str(tmp_path), "--chapters", "3", "--sentences-per-chapter", "1"]
        + ["--valid-chapters", "1", "--test-chapters", "1", "--seed", "5"]
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["utterances"] == 3
    assert json.loads((tmp_path / "corpus.json").read_text())["summary"] == summary


@pytest.mark.slow
def test_tiny_wav2vec2_pretrains_into_a_loadable_checkpoint(corpus, tmp_path):
    from fairseq import checkpoint_utils

    from gcaf_demo.tiny_wav2vec2 import pretrain_tiny_wav2vec2

    out_dir, _ = corpus
    checkpoint = pretrain_tiny_wav2vec2(out_dir, tmp_path / "pretrain", max_update=6)
    assert checkpoint == tmp_path / "pretrain" / "checkpoint_last.pt"
    state = checkpoint_utils.load_checkpoint_to_cpu(str(checkpoint))
    assert state["cfg"]["model"]["_name"] == "wav2vec2"
    assert state["cfg"]["model"]["encoder_embed_dim"] == 64
    assert state["optimizer_history"][-1]["num_updates"] == 6

    modified = checkpoint.stat().st_mtime_ns
    assert pretrain_tiny_wav2vec2(out_dir, tmp_path / "pretrain", max_update=6) == checkpoint
    assert checkpoint.stat().st_mtime_ns == modified
