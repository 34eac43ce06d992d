"""gcaf-prepare-librispeech on look-alike Libri-light / LibriSpeech trees (espeak-ng audio)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile

from gcaf_fairseq.cli.prepare_librispeech import main as prepare_librispeech_main
from gcaf_fairseq.data.utterance_table import UTTERANCE_FIELDS, read_utterance_table
from gcaf_fairseq.prep import PrepareError, prepare_librispeech
from gcaf_demo.lookalike_trees import write_librispeech_chapter
from speech_clips import clip, needs_speech_tools, speech_clips  # noqa: F401  (session fixture)

pytestmark = needs_speech_tools

FAIRSEQ_DICT_LTR = (
    "| 94802\nE 51860\nT 38431\nA 33152\nO 31495\nN 28855\nI 28794\nH 27187\nS 26071\nR 23546\n"
    "D 18289\nL 16308\nU 12400\nM 10685\nW 10317\nC 9844\nF 9062\nG 8924\nY 8226\nP 6890\nB 6339\n"
    "V 3936\nK 3456\n' 1023\nX 636\nJ 598\nQ 437\nZ 213\n"
)
NUMBER_WORDS = ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX")
SPEAKER_WORDS = {19: "ANNA'S", 103: "BOB"}


def text_of(speaker: int, number: int) -> str:
    return f"{SPEAKER_WORDS[speaker]} LINE {NUMBER_WORDS[number]}"


def write_chapter(root: Path, speaker: int, chapter: int, numbers, speech_clips, sample_rate=16000, channels=1) -> Path:
    """A LibriSpeech chapter folder with utterances ``numbers``; returns the folder."""
    return write_librispeech_chapter(root, speaker, chapter, numbers, lambda number: clip(speech_clips, number),
                                     text_of, sample_rate=sample_rate, channels=channels)


@pytest.fixture
def trees(tmp_path, speech_clips):
    """A Libri-light ``1h`` folder (folds 0 and 1) and the LibriSpeech train sets it comes from."""
    fold0 = tmp_path / "librispeech_finetuning" / "1h" / "0"
    write_chapter(fold0 / "clean", 103, 1240, [1, 2, 4], speech_clips)
    write_chapter(fold0 / "other", 19, 198, [0, 3], speech_clips)
    fold1 = tmp_path / "librispeech_finetuning" / "1h" / "1"
    write_chapter(fold1 / "clean", 103, 1240, [6], speech_clips)
    librispeech = tmp_path / "LibriSpeech"
    write_chapter(librispeech / "train-clean-100", 103, 1240, range(7), speech_clips)
    write_chapter(librispeech / "train-other-500", 19, 198, range(5), speech_clips)
    return {
        "fold0": fold0,
        "1h": fold0.parent,
        "context_roots": [librispeech / "train-clean-100", librispeech / "train-other-500"],
        "tmp": tmp_path,
    }


def frames_of(speech_clips, number: int) -> int:
    return len(clip(speech_clips, number))


def read_lines(path: Path) -> list:
    return path.read_text().splitlines()


def expected_row(utterance_id, folder: Path, in_split, prev_number, next_number) -> dict:
    speaker, chapter, number = (int(part) for part in utterance_id.split("-"))
    stream = f"{speaker}-{chapter}"
    return {
        "id": utterance_id,
        "stream": stream,
        "position": number,
        "audio": str(folder / f"{utterance_id}.flac"),
        "text": text_of(speaker, number),
        "prev_id": None if prev_number is None else f"{stream}-{prev_number:04d}",
        "next_id": None if next_number is None else f"{stream}-{next_number:04d}",
        "in_split": in_split,
    }


def test_libri_light_fold_with_context_roots(trees, speech_clips):
    fold0, out = trees["fold0"], trees["tmp"] / "out"
    report = prepare_librispeech(fold0, out, "train_10m", context_roots=trees["context_roots"], jobs=2, progress=False)

    # Chapters in numeric order (19 before 103), paths relative to the fold.
    assert read_lines(out / "train_10m.tsv") == [
        str(fold0),
        f"other/19/198/19-198-0000.flac\t{frames_of(speech_clips, 0)}",
        f"other/19/198/19-198-0003.flac\t{frames_of(speech_clips, 3)}",
        f"clean/103/1240/103-1240-0001.flac\t{frames_of(speech_clips, 1)}",
        f"clean/103/1240/103-1240-0002.flac\t{frames_of(speech_clips, 2)}",
        f"clean/103/1240/103-1240-0004.flac\t{frames_of(speech_clips, 4)}",
    ]
    assert read_lines(out / "train_10m.wrd") == [
        "ANNA'S LINE ZERO", "ANNA'S LINE THREE", "BOB LINE ONE", "BOB LINE TWO", "BOB LINE FOUR",
    ]
    assert read_lines(out / "train_10m.ltr") == [
        "A N N A ' S | L I N E | Z E R O |",
        "A N N A ' S | L I N E | T H R E E |",
        "B O B | L I N E | O N E |",
        "B O B | L I N E | T W O |",
        "B O B | L I N E | F O U R |",
    ]
    assert (out / "dict.ltr.txt").read_text() == FAIRSEQ_DICT_LTR

    ls19 = trees["context_roots"][1] / "19" / "198"
    ls103 = trees["context_roots"][0] / "103" / "1240"
    in19, in103 = fold0 / "other" / "19" / "198", fold0 / "clean" / "103" / "1240"
    assert read_utterance_table(out / "train_10m.utterances.jsonl") == [
        expected_row("19-198-0000", in19, True, None, 1),
        expected_row("19-198-0001", ls19, False, 0, 2),
        expected_row("19-198-0002", ls19, False, 1, 3),
        expected_row("19-198-0003", in19, True, 2, 4),
        expected_row("19-198-0004", ls19, False, 3, None),
        expected_row("103-1240-0000", ls103, False, None, 1),
        expected_row("103-1240-0001", in103, True, 0, 2),
        expected_row("103-1240-0002", in103, True, 1, 3),
        expected_row("103-1240-0003", ls103, False, 2, 4),
        expected_row("103-1240-0004", in103, True, 3, 5),
        expected_row("103-1240-0005", ls103, False, 4, None),
    ]
    first_line = json.loads(read_lines(out / "train_10m.utterances.jsonl")[0])
    assert tuple(first_line) == UTTERANCE_FIELDS

    expected_report = {
        "split": "train_10m",
        "utterances": 5,
        "chapters": 2,
        "duration_s": round(sum(frames_of(speech_clips, n) for n in (0, 3, 1, 2, 4)) / 16000, 3),
        "context_rows": 6,
        "prev": {"in_split": 1, "context_root": 3, "chapter_start": 1, "not_found": 0},
        "next": {"in_split": 1, "context_root": 4, "chapter_end": 0, "not_found": 0},
    }
    assert report == expected_report
    assert json.loads((out / "train_10m.coverage.json").read_text()) == expected_report


def test_without_context_roots_neighbours_outside_the_fold_are_not_found(trees):
    out = trees["tmp"] / "out"
    report = prepare_librispeech(trees["fold0"], out, "train", jobs=1, progress=False)
    rows = read_utterance_table(out / "train.utterances.jsonl")
    assert [(row["id"], row["prev_id"], row["next_id"]) for row in rows] == [
        ("19-198-0000", None, None),
        ("19-198-0003", None, None),
        ("103-1240-0001", None, "103-1240-0002"),
        ("103-1240-0002", "103-1240-0001", None),
        ("103-1240-0004", None, None),
    ]
    assert all(row["in_split"] for row in rows)
    assert report["context_rows"] == 0
    assert report["prev"] == {"in_split": 1, "context_root": 0, "chapter_start": 1, "not_found": 3}
    assert report["next"] == {"in_split": 1, "context_root": 0, "chapter_end": 0, "not_found": 4}


def test_whole_1h_folder_takes_every_fold(trees, speech_clips):
    one_hour, out = trees["1h"], trees["tmp"] / "out"
    report = prepare_librispeech(one_hour, out, "train_1h", context_roots=trees["context_roots"], jobs=2, progress=False)
    manifest = read_lines(out / "train_1h.tsv")
    assert manifest[0] == str(one_hour)
    assert [line.split("\t")[0] for line in manifest[1:]] == [
        "0/other/19/198/19-198-0000.flac",
        "0/other/19/198/19-198-0003.flac",
        "0/clean/103/1240/103-1240-0001.flac",
        "0/clean/103/1240/103-1240-0002.flac",
        "0/clean/103/1240/103-1240-0004.flac",
        "1/clean/103/1240/103-1240-0006.flac",
    ]
    rows = {row["id"]: row for row in read_utterance_table(out / "train_1h.utterances.jsonl")}
    # 0005 lies between the folds: listed once, from the context root, linking both.
    assert rows["103-1240-0005"]["in_split"] is False
    assert (rows["103-1240-0004"]["next_id"], rows["103-1240-0006"]["prev_id"]) == ("103-1240-0005", "103-1240-0005")
    assert rows["103-1240-0006"]["next_id"] is None
    assert report["next"] == {"in_split": 1, "context_root": 4, "chapter_end": 1, "not_found": 0}


def test_librispeech_split_chapter_ends_known_from_a_context_root(tmp_path, speech_clips):
    dev = tmp_path / "LibriSpeech" / "dev-clean"
    write_chapter(dev, 19, 198, range(3), speech_clips)
    report = prepare_librispeech(dev, tmp_path / "out", "dev_clean", context_roots=[dev], jobs=2, progress=False)
    assert report["prev"] == {"in_split": 2, "context_root": 0, "chapter_start": 1, "not_found": 0}
    assert report["next"] == {"in_split": 2, "context_root": 0, "chapter_end": 1, "not_found": 0}
    assert report["context_rows"] == 0
    assert read_lines(tmp_path / "out" / "dev_clean.tsv")[1] == f"19/198/19-198-0000.flac\t{frames_of(speech_clips, 0)}"


def test_rerun_rewrites_identical_files_and_leaves_no_temporary_files(trees):
    out = trees["tmp"] / "out"
    arguments = dict(context_roots=trees["context_roots"], jobs=2, progress=False)
    prepare_librispeech(trees["fold0"], out, "train", **arguments)
    first = {path.name: path.read_bytes() for path in out.iterdir()}
    prepare_librispeech(trees["fold0"], out, "train", **arguments)
    assert {path.name: path.read_bytes() for path in out.iterdir()} == first
    assert sorted(first) == [
        "dict.ltr.txt", "train.coverage.json", "train.ltr", "train.neighbours.npz", "train.tsv", "train.utterances.jsonl",
        "train.wrd",
    ]
    umask = os.umask(0)
    os.umask(umask)
    assert {path.stat().st_mode & 0o777 for path in out.iterdir()} == {0o666 & ~umask}


def test_cli_prints_the_coverage_report(trees, capsys):
    out = trees["tmp"] / "out"
    prepare_librispeech_main(
        [str(trees["fold0"]), "--out", str(out), "--name", "train", "--context-root", *map(str, trees["context_roots"]),
         "--jobs", "2", "--no-progress"]
    )
    assert json.loads(capsys.readouterr().out) == json.loads((out / "train.coverage.json").read_text())


def test_cli_error_names_the_file_and_exits_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as exit_info:
        prepare_librispeech_main([str(tmp_path / "empty"), "--out", str(tmp_path / "out"), "--name", "x", "--no-progress"])
    assert exit_info.value.code == 2
    assert "no SPEAKER-CHAPTER.trans.txt" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def prepare_fails(source, *expected_parts, **options):
    with pytest.raises(PrepareError) as error_info:
        prepare_librispeech(source, source.parent / "out", "split", jobs=1, progress=False, **options)
    for part in expected_parts:
        assert part in str(error_info.value)
    assert not (source.parent / "out").exists()
    return str(error_info.value)


def test_missing_audio_names_the_transcript_line(tmp_path, speech_clips):
    folder = write_chapter(tmp_path / "src", 19, 198, [0, 1], speech_clips)
    (folder / "19-198-0001.flac").unlink()
    prepare_fails(tmp_path / "src", f"{folder / '19-198.trans.txt'}:2", "19-198-0001.flac is missing")


def test_audio_without_a_transcript_line(tmp_path, speech_clips):
    folder = write_chapter(tmp_path / "src", 19, 198, [0], speech_clips)
    soundfile.write(str(folder / "19-198-0007.flac"), clip(speech_clips, 0), 16000)
    prepare_fails(tmp_path / "src", str(folder / "19-198.trans.txt"), "no line for 19-198-0007.flac")


@pytest.mark.parametrize(
    "line, message",
    [
        ("19-198-00x1 HELLO", "'19-198-00x1' is not an utterance id"),
        ("20-198-0001 HELLO", "does not belong to chapter 19-198"),
        ("19-198-0001", "has no words"),
        ("19-198-0001 Hello THERE", "outside the LibriSpeech letters"),
    ],
)
def test_malformed_transcript_lines(tmp_path, speech_clips, line, message):
    folder = write_chapter(tmp_path / "src", 19, 198, [0], speech_clips)
    transcript = folder / "19-198.trans.txt"
    transcript.write_text(transcript.read_text() + line + "\n")
    soundfile.write(str(folder / "19-198-0001.flac"), clip(speech_clips, 1), 16000)
    prepare_fails(tmp_path / "src", f"{transcript}:2", message)


@pytest.mark.parametrize(
    "sample_rate, channels, found", [(22050, 1, "22050 Hz, 1 channel(s)"), (16000, 2, "16000 Hz, 2 channel(s)")]
)
def test_audio_must_be_16k_mono(tmp_path, speech_clips, sample_rate, channels, found):
    folder = write_chapter(tmp_path / "src", 19, 198, [0], speech_clips, sample_rate=sample_rate, channels=channels)
    prepare_fails(
        tmp_path / "src", str(folder / "19-198-0000.flac"), f"{folder / '19-198.trans.txt'}:1", found, "16 kHz mono"
    )


def test_duplicate_ids_across_folds(tmp_path, speech_clips):
    write_chapter(tmp_path / "1h" / "0" / "clean", 19, 198, [0], speech_clips)
    write_chapter(tmp_path / "1h" / "1" / "clean", 19, 198, [0], speech_clips)
    message = prepare_fails(tmp_path / "1h", "19-198-0000 is also listed at")
    assert "1h/0/clean/19/198/19-198.trans.txt:1" in message and "1h/1/clean/19/198/19-198.trans.txt:1" in message


def test_missing_audio_of_a_context_neighbour(tmp_path, speech_clips):
    write_chapter(tmp_path / "src", 19, 198, [1], speech_clips)
    root = tmp_path / "train-clean-100"
    context_folder = write_chapter(root, 19, 198, range(3), speech_clips)
    (context_folder / "19-198-0002.flac").unlink()
    prepare_fails(
        tmp_path / "src", f"{context_folder / '19-198.trans.txt'}:3", "context neighbour is missing", context_roots=[root]
    )


def test_source_and_context_root_must_be_folders(tmp_path, speech_clips):
    with pytest.raises(PrepareError, match="is not a folder"):
        prepare_librispeech(tmp_path / "absent", tmp_path / "out", "x", progress=False)
    write_chapter(tmp_path / "src", 19, 198, [0], speech_clips)
    with pytest.raises(PrepareError, match="context root .* is not a folder"):
        prepare_librispeech(tmp_path / "src", tmp_path / "out", "x", context_roots=[tmp_path / "absent"], progress=False)


# --------------------------------------------------------------------------- nothing left out, lengths checked


def zero_streaminfo_total(path: Path) -> None:
    """Set a FLAC's STREAMINFO total-samples field to 0 ("unknown"), as a streaming encoder
    leaves it; libsndfile then reports 2**63 - 1 frames."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC"
    data[21] &= 0xF0  # STREAMINFO starts at byte 8; its 36-bit total spans bytes 13 (low nibble) to 17
    data[22:26] = b"\0\0\0\0"
    path.write_bytes(bytes(data))


def test_a_folder_of_flacs_without_a_transcript_is_an_error(tmp_path, speech_clips):
    write_chapter(tmp_path / "src", 19, 198, [0], speech_clips)
    orphan = write_chapter(tmp_path / "src", 103, 1240, [0, 1], speech_clips)
    (orphan / "103-1240.trans.txt").unlink()
    prepare_fails(
        tmp_path / "src", f"{orphan}: 2 FLAC file(s) (103-1240-0000.flac, 103-1240-0001.flac)",
        "no SPEAKER-CHAPTER.trans.txt", "add the chapter's transcript, or move the audio out",
    )


def test_a_transcript_named_in_another_case_is_an_error(tmp_path, speech_clips):
    write_chapter(tmp_path / "src", 19, 198, [0], speech_clips)
    folder = write_chapter(tmp_path / "src", 103, 1240, [0], speech_clips)
    (folder / "103-1240.trans.txt").rename(folder / "103-1240.TRANS.txt")
    prepare_fails(tmp_path / "src", str(folder / "103-1240.TRANS.txt"), "rename it to 103-1240.trans.txt")


@pytest.mark.parametrize("verify_audio", [True, False])
def test_audio_of_unknown_or_zero_length_is_an_error(tmp_path, speech_clips, verify_audio):
    folder = write_chapter(tmp_path / "src", 19, 198, [0, 1], speech_clips)
    zero_streaminfo_total(folder / "19-198-0000.flac")
    soundfile.write(str(folder / "19-198-0001.flac"), np.zeros(0, dtype=np.int16), 16000, format="WAV")
    message = prepare_fails(
        tmp_path / "src", f"{folder / '19-198-0000.flac'}: the audio header does not tell the length",
        f"{folder / '19-198-0001.flac'}: the audio header gives a length of 0 samples",
        f"{folder / '19-198.trans.txt'}:1", f"{folder / '19-198.trans.txt'}:2", "re-encode it",
        verify_audio=verify_audio,
    )
    assert "9223372036854775807" in message


@pytest.mark.parametrize("samples", [1, 399])
def test_an_utterance_shorter_than_the_receptive_field_is_refused(tmp_path, speech_clips, samples):
    folder = write_chapter(tmp_path / "src", 19, 198, [0, 1], speech_clips)
    audio = folder / "19-198-0001.flac"
    soundfile.write(str(audio), np.full(samples, 100, dtype=np.int16), 16000)
    prepare_fails(
        tmp_path / "src", f"{audio} (listed at {folder / '19-198.trans.txt'}:2) has {samples} samples, fewer than "
        "the feature extractor's receptive field of 400: it yields no frame", "remove the utterance from the source",
    )


def test_an_utterance_of_exactly_the_receptive_field_is_kept(tmp_path, speech_clips):
    folder = write_chapter(tmp_path / "src", 19, 198, [0, 1], speech_clips)
    soundfile.write(str(folder / "19-198-0001.flac"), np.full(400, 100, dtype=np.int16), 16000)
    prepare_librispeech(tmp_path / "src", tmp_path / "out", "x", jobs=1, progress=False)
    assert read_lines(tmp_path / "out" / "x.tsv")[2] == "19/198/19-198-0001.flac\t400"


def test_truncated_flac_is_caught_by_decoding(tmp_path, speech_clips, capsys):
    folder = write_chapter(tmp_path / "src", 19, 198, [0, 1], speech_clips)
    audio = folder / "19-198-0001.flac"
    header_frames = soundfile.info(str(audio)).frames
    audio.write_bytes(audio.read_bytes()[: audio.stat().st_size // 2])
    assert soundfile.info(str(audio)).frames == header_frames  # the header alone cannot tell
    prepare_fails(
        tmp_path / "src", f"{audio}: the audio does not decode to its end", f"{folder / '19-198.trans.txt'}:2",
        "fetch or extract the file again",
    )
    arguments = [str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--name", "x", "--no-progress"]
    with pytest.raises(SystemExit) as exit_info:
        prepare_librispeech_main(arguments + ["--verify-audio"])
    assert exit_info.value.code == 2 and "does not decode to its end" in capsys.readouterr().err
    # Opting out reads the headers only, as before.
    prepare_librispeech_main(arguments + ["--no-verify-audio"])
    assert json.loads(capsys.readouterr().out)["utterances"] == 2


def test_without_context_roots_a_whole_chapter_ends_at_its_last_utterance(tmp_path, speech_clips):
    dev = tmp_path / "LibriSpeech" / "dev-clean"
    write_chapter(dev, 19, 198, range(3), speech_clips)
    write_chapter(dev, 103, 1240, range(2), speech_clips)
    report = prepare_librispeech(dev, tmp_path / "out", "dev_clean", jobs=2, progress=False)
    assert report["prev"] == {"in_split": 3, "context_root": 0, "chapter_start": 2, "not_found": 0}
    assert report["next"] == {"in_split": 3, "context_root": 0, "chapter_end": 2, "not_found": 0}
