"""The homophone corpus (gcaf-make-homophone-corpus): the identical-audio check, the chapter
layout and held-out split, the homophone targets, determinism and idempotence.

Known espeak-ng 1.51 facts the tests rely on: FLOUR/FLOWER are spoken with identical samples
by every voice used here, CARROT/CARAT by none, ROOT/ROUTE by en-gb-x-rp but not by en-us.
"""

import json
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from gcaf_demo.cli.make_homophone_corpus import main as make_corpus_main
from gcaf_demo import homophone_corpus
from gcaf_demo.homophone_corpus import (
    TOPIC_WORDS,
    Speaker,
    build_homophone_corpus,
    check_pairs,
    first_difference,
)

pytestmark = pytest.mark.needs_speech_tools

SMALL_CORPUS = dict(
    chapters_per_topic=3,
    sentences_per_chapter=4,
    valid_chapters_per_topic=1,
    test_chapters_per_topic=1,
    seed=2,
    jobs=2,
    voices=["en-gb-x-rp", "en-us"],
    speeds=[160],
    topics=["kitchen", "garden", "sailing", "market"],
)
SPLITS = ("train", "valid", "test")
FLOUR_FLOWER = (("flour", "kitchen"), ("flower", "garden"))
CARROT_CARAT = (("carrot", "garden"), ("carat", "market"))
ROOT_ROUTE = (("root", "garden"), ("route", "sailing"))
BRITISH, AMERICAN = Speaker(101, "en-gb-x-rp", 160), Speaker(102, "en-us", 160)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """4 topics x 3 chapters (train, valid, test) x 4 sentences, 2 speakers."""
    out_dir = tmp_path_factory.mktemp("homophones")
    return out_dir, build_homophone_corpus(out_dir, **SMALL_CORPUS)


def read_lines(path: Path) -> list:
    return path.read_text().splitlines()


def read_rows(path: Path) -> list:
    return [json.loads(line) for line in read_lines(path)]


def description(out_dir: Path) -> dict:
    return json.loads((out_dir / "homophones.json").read_text())


def test_first_difference_names_length_and_first_differing_sample():
    same = np.array([1, 2, 3], dtype=np.int16)
    assert first_difference(same, same.copy()) is None
    other = np.array([1, 5, 3], dtype=np.int16)
    assert first_difference(same, other) == "lengths 3 vs 3 samples, first differing sample 1"
    assert first_difference(same, same[:2]) == "lengths 3 vs 2 samples, identical for 2 samples"


def test_check_pairs_keeps_identical_audio_and_caches_per_voice(tmp_path, monkeypatch):
    cache = tmp_path / "checks.json"
    results = check_pairs([FLOUR_FLOWER, CARROT_CARAT, ROOT_ROUTE], [BRITISH, AMERICAN], tmp_path, 2, cache)
    assert results["FLOUR/FLOWER en-gb-x-rp 160"] is None
    assert results["FLOUR/FLOWER en-us 160"] is None
    assert results["ROOT/ROUTE en-gb-x-rp 160"] is None
    difference = r"lengths \d+ vs \d+ samples, (first differing sample|identical for) \d+.*"
    assert re.fullmatch(difference, results["ROOT/ROUTE en-us 160"])
    assert results["CARROT/CARAT en-gb-x-rp 160"] and results["CARROT/CARAT en-us 160"]
    assert [path.name for path in tmp_path.iterdir()] == ["checks.json"]  # scratch audio removed

    def no_synthesis(*args):
        raise AssertionError("a cached check was synthesized again")

    monkeypatch.setattr(homophone_corpus, "synthesize_all", no_synthesis)
    assert check_pairs([ROOT_ROUTE, FLOUR_FLOWER], [AMERICAN], tmp_path, 2, cache) == {
        "ROOT/ROUTE en-us 160": results["ROOT/ROUTE en-us 160"],
        "FLOUR/FLOWER en-us 160": None,
    }


def test_summary_reports_kept_and_dropped_pairs(corpus):
    out_dir, summary = corpus
    assert summary["kept_pairs"] == ["FLOUR/FLOWER", "SAIL/SALE", "LEEK/LEAK", "STEAK/STAKE", "PEAR/PAIR"]
    dropped = summary["dropped_pairs"]
    assert dropped["ROOT/ROUTE"] == "audio differs for en-us at 160"
    assert dropped["CARROT/CARAT"] == "audio differs for en-gb-x-rp at 160, en-us at 160"
    assert dropped["KNIGHT/NIGHT"] == "topic not in the corpus: castle, weather"
    assert set(summary["kept_pairs"]) | set(dropped) == {
        homophone_corpus.pair_key(pair) for pair in homophone_corpus.CANDIDATE_PAIRS
    }
    details = {record["pair"]: record for record in description(out_dir)["dropped_pairs"]}
    assert [(d["voice"], d["speed"]) for d in details["ROOT/ROUTE"]["differences"]] == [("en-us", 160)]
    assert [split["utterances"] for split in summary["splits"].values()] == [16, 16, 16]


def test_every_split_has_every_topic_in_whole_chapters(corpus):
    out_dir, _ = corpus
    chapters = description(out_dir)["chapters"]
    for split in SPLITS:
        topics = sorted(chapter["topic"] for chapter in chapters if chapter["split"] == split)
        assert topics == sorted(SMALL_CORPUS["topics"])
        streams = {chapter["stream"] for chapter in chapters if chapter["split"] == split}
        assert {row["stream"] for row in read_rows(out_dir / f"{split}.utterances.jsonl")} == streams
    voices_by_topic = {}
    for chapter in chapters:
        voices_by_topic.setdefault(chapter["topic"], set()).add(chapter["voice"])
    assert all(len(voices) == 2 for voices in voices_by_topic.values()), "a topic is tied to one voice"


def test_targets_point_at_the_homophone_spelled_by_the_chapter_topic(corpus):
    out_dir, _ = corpus
    info = description(out_dir)
    topic_of_stream = {chapter["stream"]: chapter["topic"] for chapter in info["chapters"]}
    for split in SPLITS:
        words = [line.split() for line in read_lines(out_dir / f"{split}.wrd")]
        rows = read_rows(out_dir / f"{split}.homophones.jsonl")
        table = read_rows(out_dir / f"{split}.utterances.jsonl")
        assert [row["id"] for row in rows] == [row["id"] for row in table]
        for sentence, row, utterance in zip(words, rows, table):
            assert re.fullmatch(r"\d+-\d+-\d{4}", row["id"])
            assert row["kind"] == ("topic" if utterance["position"] % 2 == 0 else "neutral")
            topic_targets = info["topics"][topic_of_stream[utterance["stream"]]]
            for target in row["targets"]:
                assert sentence[target["word_index"]] == target["word"]
                assert topic_targets[target["word"]] == target["other"]
            if row["kind"] == "neutral":
                assert len(row["targets"]) == 1
                others = [word for index, word in enumerate(sentence) if index != row["targets"][0]["word_index"]]
                assert not {word.lower() for word in others} & TOPIC_WORDS
            else:
                assert len(row["targets"]) <= 1
                assert len({word.lower() for word in sentence} & TOPIC_WORDS) >= 3


def test_a_neutral_sentence_sounds_the_same_with_the_other_spelling(corpus, tmp_path):
    out_dir, _ = corpus
    row = next(row for row in read_rows(out_dir / "test.homophones.jsonl") if row["kind"] == "neutral")
    utterance = next(u for u in read_rows(out_dir / "test.utterances.jsonl") if u["id"] == row["id"])
    chapter = next(c for c in description(out_dir)["chapters"] if c["stream"] == utterance["stream"])
    words = utterance["text"].split()
    words[row["targets"][0]["word_index"]] = row["targets"][0]["other"]
    raw_wav, converted = tmp_path / "other.wav", tmp_path / "other.flac"
    speak = ["espeak-ng", "-v", chapter["voice"], "-s", str(chapter["speed"]), "-w", str(raw_wav)]
    subprocess.run(speak + [" ".join(words).lower()], check=True, capture_output=True)
    subprocess.run(["sox", "-D", "-q", str(raw_wav), "-r", "16000", "-c", "1", "-b", "16", str(converted)], check=True)
    corpus_samples, _ = soundfile.read(utterance["audio"], dtype="int16")
    other_samples, _ = soundfile.read(str(converted), dtype="int16")
    assert np.array_equal(corpus_samples, other_samples)


def test_manifests_labels_and_dictionary_agree(corpus):
    out_dir, summary = corpus
    dictionary = {line.split()[0] for line in read_lines(out_dir / "dict.ltr.txt")}
    for split in SPLITS:
        manifest = read_lines(out_dir / f"{split}.tsv")
        sentences = read_lines(out_dir / f"{split}.wrd")
        assert manifest[0] == str(out_dir / "audio")
        assert len(manifest) - 1 == len(sentences) == summary["splits"][split]["utterances"]
        assert [row["text"] for row in read_rows(out_dir / f"{split}.utterances.jsonl")] == sentences
        letters = read_lines(out_dir / f"{split}.ltr")
        assert letters == [" ".join(sentence.replace(" ", "|")) + " |" for sentence in sentences]
        assert set(" ".join(letters).split()) <= dictionary
        relative_path, num_samples = manifest[1].split("\t")
        assert soundfile.info(str(out_dir / "audio" / relative_path)).frames == int(num_samples)


def corpus_files(out_dir: Path) -> dict:
    """Every file's bytes, with the corpus folder's path written as a placeholder. The
    neighbour indexes are left out: each is a cache keyed by its table's sha256, which holds
    the folder's path; they are checked to be fresh for their tables instead."""
    from gcaf_fairseq.data.neighbour_index import NeighbourIndex

    for index in out_dir.glob("*.neighbours.npz"):
        table = out_dir / index.name.replace(".neighbours.npz", ".utterances.jsonl")
        assert NeighbourIndex.read(index, table).is_fresh_for(table)
    return {
        str(path.relative_to(out_dir)): path.read_bytes().replace(str(out_dir).encode(), b"<OUT>")
        for path in sorted(out_dir.rglob("*"))
        if path.is_file() and not path.name.endswith(".neighbours.npz")
    }


def test_same_seed_gives_the_same_bytes(corpus, tmp_path):
    out_dir, _ = corpus
    build_homophone_corpus(tmp_path / "again", **SMALL_CORPUS)
    assert corpus_files(tmp_path / "again") == corpus_files(out_dir)


def test_other_seed_gives_other_texts(corpus, tmp_path):
    out_dir, _ = corpus
    other = tmp_path / "other"
    build_homophone_corpus(other, **{**SMALL_CORPUS, "seed": 3, "chapters_per_topic": 2, "valid_chapters_per_topic": 0,
                                     "sentences_per_chapter": 2})
    assert (other / "train.wrd").read_text() != (out_dir / "train.wrd").read_text()
    assert not (other / "valid.wrd").exists()


def test_second_call_returns_the_existing_corpus_quickly(corpus, capsys):
    out_dir, summary = corpus
    some_audio = next((out_dir / "audio").rglob("*.flac"))
    modified = some_audio.stat().st_mtime_ns
    start = time.perf_counter()
    assert build_homophone_corpus(out_dir, **SMALL_CORPUS) == summary
    assert time.perf_counter() - start < 0.5
    options = ["--chapters-per-topic", "3", "--sentences-per-chapter", "4", "--seed", "2"]
    options += ["--voices", "en-gb-x-rp,en-us", "--speeds", "160", "--topics", "kitchen,garden,sailing,market"]
    make_corpus_main(["--out", str(out_dir)] + options)
    captured = capsys.readouterr()
    assert json.loads(captured.out) == summary
    assert "dropped ROOT/ROUTE: audio differs for en-us at 160" in captured.err.splitlines()
    assert some_audio.stat().st_mtime_ns == modified


def test_bad_parameters_are_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown topic"):
        build_homophone_corpus(tmp_path, topics=["kitchen", "space"])
    with pytest.raises(ValueError, match="at least one train chapter"):
        build_homophone_corpus(tmp_path, chapters_per_topic=2, valid_chapters_per_topic=1, test_chapters_per_topic=1)
    # CHORD/CORD is the only music/sailing pair, and en-us tells them apart.
    with pytest.raises(SystemExit) as exit_info:
        make_corpus_main(["--out", str(tmp_path), "--topics", "music,sailing", "--voices", "en-us", "--speeds", "160"])
    assert exit_info.value.code == 2
    assert "no homophone pair is left for topic(s) ['music', 'sailing']" in capsys.readouterr().err


def test_chosen_pairs_set_the_topics_and_every_neutral_target(tmp_path):
    options = {**SMALL_CORPUS, "topics": None, "pairs": ["flour/flower", "SALE/SAIL"], "chapters_per_topic": 2,
               "valid_chapters_per_topic": 0}
    summary = build_homophone_corpus(tmp_path / "two_pairs", **options)
    assert summary["kept_pairs"] == ["FLOUR/FLOWER", "SAIL/SALE"] and summary["dropped_pairs"] == {}
    chapters = description(tmp_path / "two_pairs")["chapters"]
    assert sorted({chapter["topic"] for chapter in chapters}) == ["garden", "kitchen", "market", "sailing"]
    topic_word = {"kitchen": "FLOUR", "garden": "FLOWER", "sailing": "SAIL", "market": "SALE"}
    topic_of_stream = {chapter["stream"]: chapter["topic"] for chapter in chapters}
    for split in ("train", "test"):
        for row, utterance in zip(read_rows(tmp_path / "two_pairs" / f"{split}.homophones.jsonl"),
                                  read_rows(tmp_path / "two_pairs" / f"{split}.utterances.jsonl")):
            for target in row["targets"]:  # each topic has one homophone: its own
                assert target["word"] == topic_word[topic_of_stream[utterance["stream"]]]
    with pytest.raises(ValueError, match=r"unknown homophone pair\(s\) \['FLOUR/SAIL'\]"):
        build_homophone_corpus(tmp_path / "bad", **{**options, "pairs": ["FLOUR/SAIL"]})
