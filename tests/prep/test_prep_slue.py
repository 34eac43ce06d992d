"""gcaf-prepare-slue on look-alike SLUE v0.2 release folders (espeak-ng audio)."""

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile
from omegaconf import OmegaConf

from gcaf_fairseq.cli.prepare_slue import main as prepare_slue_main
from gcaf_fairseq.data.dataset_checks import check_split
from gcaf_fairseq.data.manifest import read_manifest
from gcaf_fairseq.data.utterance_table import read_utterance_table
from gcaf_fairseq.prep import PrepareError, prepare_slue
from gcaf_demo.lookalike_trees import (
    VOXCELEB_COLUMNS, VOXPOPULI_COLUMNS, vc_row, voxpopuli_row, write_slue_tsv, write_voxceleb_release,
    write_voxpopuli_release,
)
from speech_clips import clip, needs_speech_tools, speech_clips  # noqa: F401  (session fixture)

pytestmark = needs_speech_tools

SESSION_1, SESSION_2 = "20131007-0900-PLENARY-19", "20140115-0900-PLENARY-5"

TEXT_A = "european parliament members met in the louise weiss building in strasbourg, they won't wait."
TEXT_B = "yesterday germany's chancellor merkel spoke for ten minutes, about the schengen agreement?"
TEXT_C = "at eight o'clock, the u.s. members' vote was clear; no."
TEXT_D = "thank you, mister president."
ID_A = f"{SESSION_1}-en_20131007-21:26:04_7"
ID_B = f"{SESSION_1}-en_20131007-21:20:00_3"
ID_C = f"{SESSION_1}-en_20131007-21:26:04_12"  # segment 12 comes after 7 (numbers, not strings)
ID_D = f"{SESSION_2}-en_20140115-09:10:00_1"


def span(text: str, tag: str, phrase: str) -> list:
    return [tag, text.index(phrase), len(phrase)]


write_tsv = write_slue_tsv


@pytest.fixture
def voxpopuli(tmp_path, speech_clips) -> Path:
    """fine-tune: 2 sessions in shuffled tsv order; dev: one id that does not parse; blind test."""
    release = tmp_path / "slue-voxpopuli"
    fine_tune = [
        voxpopuli_row(ID_A, TEXT_A, [
            span(TEXT_A, "ORG", "european parliament"), span(TEXT_A, "FAC", "the louise weiss building"),
            span(TEXT_A, "GPE", "strasbourg"),
        ]),
        voxpopuli_row(ID_C, TEXT_C, [span(TEXT_C, "TIME", "eight o'clock"), span(TEXT_C, "GPE", "u.s.")]),
        voxpopuli_row(ID_D, TEXT_D, []),
        voxpopuli_row(ID_B, TEXT_B, [
            span(TEXT_B, "DATE", "yesterday"), span(TEXT_B, "GPE", "germany's"), span(TEXT_B, "PERSON", "merkel"),
            span(TEXT_B, "QUANTITY", "ten minutes"), span(TEXT_B, "LAW", "schengen agreement"),
        ]),
    ]
    dev = [
        voxpopuli_row(f"{SESSION_2}-en_20140115-09:12:00_2", "we agree.", []),
        voxpopuli_row("not-a-voxpopuli-id", "the end.", []),
    ]
    test = [
        (f"{SESSION_1}-en_20131008-10:00:00_2", "speaker2", "test"),
        (f"{SESSION_1}-en_20131008-10:00:00_1", "speaker2", "test"),
    ]
    write_voxpopuli_release(release, {"fine-tune": fine_tune, "dev": dev, "test": test},
                            lambda index: clip(speech_clips, index), blind_test=True)
    return release


def read_lines(path: Path) -> list:
    return path.read_text().splitlines()


def ogg_frames(release: Path, split: str, utterance_id: str) -> int:
    return soundfile.info(str(release / split / f"{utterance_id}.ogg")).frames


def expected_dictionary(path: Path) -> str:
    counts = Counter()
    for line in read_lines(path):
        counts.update(line.split())
    return "".join(f"{symbol} {count}\n" for symbol, count in counts.most_common())


def test_voxpopuli_manifests_labels_and_tables(voxpopuli, tmp_path, speech_clips):
    out = tmp_path / "manifest"
    reports = prepare_slue("voxpopuli", voxpopuli, out, jobs=2, progress=False)

    fine_tune_ids = [ID_A, ID_C, ID_D, ID_B]  # tsv order, as SLUE-toolkit writes them
    assert read_lines(out / "fine-tune.tsv") == [str(voxpopuli / "fine-tune")] + [
        f"{utterance_id}.ogg\t{len(clip(speech_clips, index))}" for index, utterance_id in enumerate(fine_tune_ids)
    ]
    assert read_lines(out / "fine-tune.wrd") == [
        "european parliament members met in the louise weiss building in strasbourg, they won't wait",
        "at eight o'clock, the us members' vote was clear no",
        "thank you, mister president",
        "yesterday germany's chancellor merkel spoke for ten minutes, about the schengen agreement",
    ]
    ltr = read_lines(out / "fine-tune.ltr")
    assert ltr[2] == "t h a n k | y o u , | m i s t e r | p r e s i d e n t"  # no final |
    assert ltr == [" ".join(line.replace(" ", "|")) for line in read_lines(out / "fine-tune.wrd")]

    assert read_lines(out / "e2e_ner" / "fine-tune.raw.wrd") == [
        "` european parliament ] members met in $ the louise weiss building ] in % strasbourg ] they won 't wait",
        "at > eight o 'clock ] the % us ] members vote was clear no",
        "thank you mister president",
        "@ yesterday ] % germany 's ] chancellor } merkel ] spoke for < ten minutes ] about the & schengen agreement ]",
    ]
    assert read_lines(out / "e2e_ner" / "fine-tune.combined.wrd") == [
        "# european parliament ] members met in the louise weiss building in % strasbourg ] they won 't wait",
        "at & eight o 'clock ] the % us ] members vote was clear no",
        "thank you mister president",
        "& yesterday ] % germany 's ] chancellor $ merkel ] spoke for ^ ten minutes ] about the ! schengen agreement ]",
    ]
    for label_type in ("raw", "combined"):
        wrd = read_lines(out / "e2e_ner" / f"fine-tune.{label_type}.wrd")
        ltr = read_lines(out / "e2e_ner" / f"fine-tune.{label_type}.ltr")
        assert ltr == [" ".join(line.replace(" ", "|")) + " |" for line in wrd]
        for token_type in ("wrd", "ltr"):
            dictionary = out / "e2e_ner" / f"dict.{label_type}.{token_type}.txt"
            assert dictionary.read_text() == expected_dictionary(out / "e2e_ner" / f"fine-tune.{label_type}.{token_type}")
    assert (out / "e2e_ner" / "dict.raw.ltr.txt").read_text().startswith("| ")
    assert (out / "dict.ltr.txt").read_text() == expected_dictionary(out / "fine-tune.ltr")
    assert (out / "dict.wrd.txt").read_text() == expected_dictionary(out / "fine-tune.wrd")
    assert (out / "nlp_ner" / "fine-tune.raw.tsv").read_text().endswith(
        "thank\tO\nyou\tO\nmister\tO\npresident\tO\n\n"
        "yesterday\tB-DATE\ngermany\tB-GPE\n's\tI-GPE\nchancellor\tO\nmerkel\tB-PERSON\nspoke\tO\nfor\tO\n"
        "ten\tB-QUANTITY\nminutes\tI-QUANTITY\nabout\tO\nthe\tO\nschengen\tB-LAW\nagreement\tI-LAW\n\n"
    )
    for split in ("fine-tune", "dev", "test"):
        link = out / "e2e_ner" / f"{split}.tsv"
        assert os.readlink(link) == f"../{split}.tsv" and link.read_text() == (out / f"{split}.tsv").read_text()

    # Stream order: session, then timestamp, then segment number.
    rows = read_utterance_table(out / "fine-tune.utterances.jsonl")
    assert [(row["id"], row["stream"], row["position"], row["prev_id"], row["next_id"]) for row in rows] == [
        (ID_B, SESSION_1, 0, None, ID_A),
        (ID_A, SESSION_1, 1, ID_B, ID_C),
        (ID_C, SESSION_1, 2, ID_A, None),
        (ID_D, SESSION_2, 0, None, None),
    ]
    assert rows[3]["text"] == "thank you, mister president" and rows[3]["in_split"] is True
    assert rows[3]["audio"] == str(voxpopuli / "fine-tune" / f"{ID_D}.ogg")
    assert reports["fine-tune"]["prev"] == {"in_split": 2, "outside_split": 0, "none": 2}
    assert reports["fine-tune"]["streams"] == 2 and reports["fine-tune"]["unparsed_ids"] == []

    # An id that does not parse: listed with its line, no stream and no neighbours.
    dev_rows = read_utterance_table(out / "dev.utterances.jsonl")
    assert dev_rows[1] == {
        "id": "not-a-voxpopuli-id", "stream": None, "position": None,
        "audio": str(voxpopuli / "dev" / "not-a-voxpopuli-id.ogg"),
        "text": "the end", "prev_id": None, "next_id": None, "in_split": True,
    }
    dev_tsv = voxpopuli / "slue-voxpopuli_dev.tsv"
    assert reports["dev"]["unparsed_ids"] == [{"id": "not-a-voxpopuli-id", "where": f"{dev_tsv}:3"}]
    assert json.loads((out / "dev.coverage.json").read_text()) == reports["dev"]

    # Blind test: manifest (and its e2e_ner link) only, a table without text.
    assert reports["test"]["blind"] is True
    label_files = ("test.wrd", "test.ltr", "e2e_ner/test.raw.wrd", "nlp_ner/test.raw.tsv")
    assert not any((out / name).exists() for name in label_files)
    test_rows = read_utterance_table(out / "test.utterances.jsonl")
    assert [(row["id"][-2:], row["position"], row["text"]) for row in test_rows] == [("_1", 0, None), ("_2", 1, None)]
    assert test_rows[0]["next_id"] == test_rows[1]["id"]


def test_voxpopuli_labelled_test_tsv_is_preferred(voxpopuli, tmp_path):
    (voxpopuli / "slue-voxpopuli_dev.tsv").rename(voxpopuli / "slue-voxpopuli_test.tsv")
    (voxpopuli / "test").rename(voxpopuli / "test_blind_audio")
    (voxpopuli / "dev").rename(voxpopuli / "test")
    write_tsv(voxpopuli / "slue-voxpopuli_dev.tsv", VOXPOPULI_COLUMNS, [])
    reports = prepare_slue("voxpopuli", voxpopuli, tmp_path / "manifest", jobs=1, progress=False)
    assert reports["test"]["blind"] is False
    assert read_lines(tmp_path / "manifest" / "test.wrd") == ["we agree", "the end"]
    assert read_lines(tmp_path / "manifest" / "e2e_ner" / "test.raw.ltr") == ["w e | a g r e e |", "t h e | e n d |"]


def test_rerun_rewrites_identical_files(voxpopuli, tmp_path):
    out = tmp_path / "manifest"
    prepare_slue("voxpopuli", voxpopuli, out, jobs=2, progress=False)

    def snapshot():
        return {path.relative_to(out): path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file()}

    first = snapshot()
    prepare_slue("voxpopuli", voxpopuli, out, jobs=2, progress=False)
    assert snapshot() == first
    assert not [path for path in out.rglob("*") if ".tmp" in path.name or path.name.startswith(".")]


VC_VIDEO, VC_VIDEO_UNDERSCORE = "id10012_0AXjxNXiEzo", "id10012_0AX_xNX-Ez"


@pytest.fixture
def voxceleb(tmp_path, speech_clips) -> Path:
    """fine-tune: a video with a <mixed> clip next to kept ones, a video id with an
    underscore, a lone Disagreement clip, an id that does not parse; dev; blind test."""
    release = tmp_path / "slue-voxceleb"
    fine_tune = [
        vc_row(f"{VC_VIDEO}_00002", "i really liked it", "Positive", 1.1, 1.3),
        vc_row(f"{VC_VIDEO}_00001", "well i think so", "Neutral", 0.0, 1.25),
        vc_row(f"{VC_VIDEO}_00003", "hmm", "<mixed>", 0.2, 0.9),
        vc_row(f"{VC_VIDEO_UNDERSCORE}_00010", "it was fine", "Negative", 0.5, 1.5),
        vc_row("id10020_Zb2Yx1_00004", "no comment", "Disagreement", 0.0, 1.0),
        vc_row("id10030_badformat", "okay", "Neutral", 0, 1),
    ]
    dev = [vc_row("id10040_Ab_00001", "fine", "Neutral", 0.0, 0.5)]
    test = [("id10050_Xy_00002", "id10050", 0.0, 1.0), ("id10050_Xy_00001", "id10050", 0.5, 1.0)]
    write_voxceleb_release(release, {"fine-tune": fine_tune, "dev": dev, "test": test},
                           lambda index: clip(speech_clips, index), blind_test=True)
    return release


def test_voxceleb_manifests_labels_clips_and_tables(voxceleb, tmp_path):
    out = tmp_path / "manifest"
    reports = prepare_slue("voxceleb", voxceleb, out, jobs=2, progress=False)

    # Lengths are the samples cut: 3200 for 1.1-1.3 s (SLUE-toolkit's int(16000 * (end - start)) gives 3199).
    assert read_lines(out / "fine-tune.tsv") == [
        str(voxceleb / "fine-tune"),
        f"{VC_VIDEO}_00002.flac\t3200",
        f"{VC_VIDEO}_00001.flac\t20000",
        f"{VC_VIDEO_UNDERSCORE}_00010.flac\t16000",
        "id10030_badformat.flac\t16000",
    ]
    assert read_lines(out / "fine-tune.wrd") == ["i really liked it", "well i think so", "it was fine", "okay"]
    assert read_lines(out / "fine-tune.ltr")[0] == "i | r e a l l y | l i k e d | i t"
    assert read_lines(out / "fine-tune.sent") == ["Positive", "Neutral", "Negative", "Neutral"]
    assert read_lines(out / "labels.sent.txt") == ["Negative", "Neutral", "Positive"]
    assert (out / "dict.ltr.txt").read_text() == expected_dictionary(out / "fine-tune.ltr")
    assert not (out / "e2e_ner").exists()

    # Clips cut bit-exactly from the raw files, the dropped neighbour too, the lone dropped clip not.
    raw, _ = soundfile.read(str(voxceleb / "fine-tune_raw" / f"{VC_VIDEO}_00002.flac"), dtype="int16")
    cut, sample_rate = soundfile.read(str(voxceleb / "fine-tune" / f"{VC_VIDEO}_00002.flac"), dtype="int16")
    assert sample_rate == 16000 and np.array_equal(cut, raw[17600:20800])
    assert (voxceleb / "fine-tune" / f"{VC_VIDEO}_00003.flac").is_file()
    umask = os.umask(0)
    os.umask(umask)
    assert (voxceleb / "fine-tune" / f"{VC_VIDEO}_00003.flac").stat().st_mode & 0o777 == 0o666 & ~umask
    assert not (voxceleb / "fine-tune" / "id10020_Zb2Yx1_00004.flac").exists()

    rows = read_utterance_table(out / "fine-tune.utterances.jsonl")
    fields = ("id", "stream", "position", "prev_id", "next_id", "in_split")
    assert [tuple(row[name] for name in fields) for row in rows] == [
        (f"{VC_VIDEO_UNDERSCORE}_00010", VC_VIDEO_UNDERSCORE, 0, None, None, True),
        (f"{VC_VIDEO}_00001", VC_VIDEO, 0, None, f"{VC_VIDEO}_00002", True),
        (f"{VC_VIDEO}_00002", VC_VIDEO, 1, f"{VC_VIDEO}_00001", f"{VC_VIDEO}_00003", True),
        (f"{VC_VIDEO}_00003", VC_VIDEO, 2, f"{VC_VIDEO}_00002", None, False),
        ("id10030_badformat", None, None, None, None, True),
    ]
    assert rows[3]["text"] == "hmm" and rows[3]["audio"] == str(voxceleb / "fine-tune" / f"{VC_VIDEO}_00003.flac")

    tsv = voxceleb / "slue-voxceleb_fine-tune.tsv"
    assert reports["fine-tune"] == {
        "dataset": "voxceleb",
        "split": "fine-tune",
        "tsv": str(tsv),
        "blind": False,
        "utterances": 4,
        "duration_s": round((3200 + 20000 + 16000 + 16000) / 16000, 3),
        "streams": 2,
        "dropped": {"count": 2, "by_sentiment": {"<mixed>": 1, "Disagreement": 1}},
        "unparsed_ids": [{"id": "id10030_badformat", "where": f"{tsv}:7"}],
        "prev": {"in_split": 1, "outside_split": 0, "none": 3},
        "next": {"in_split": 1, "outside_split": 1, "none": 2},
    }
    assert read_lines(out / "test.tsv") == [
        str(voxceleb / "test"), "id10050_Xy_00002.flac\t16000", "id10050_Xy_00001.flac\t8000",
    ]
    assert not (out / "test.wrd").exists() and not (out / "test.sent").exists()
    assert [row["position"] for row in read_utterance_table(out / "test.utterances.jsonl")] == [0, 1]


def test_voxceleb_clips_dir_and_rerun_keeps_cut_clips(voxceleb, tmp_path):
    out, clips = tmp_path / "manifest", tmp_path / "clips"
    prepare_slue("voxceleb", voxceleb, out, clips_dir=clips, jobs=2, progress=False)
    assert read_lines(out / "dev.tsv") == [str(clips / "dev"), "id10040_Ab_00001.flac\t8000"]
    assert not (voxceleb / "dev").exists()
    cut_clip = clips / "fine-tune" / f"{VC_VIDEO}_00001.flac"
    written = cut_clip.stat().st_mtime_ns
    manifest = (out / "fine-tune.tsv").read_bytes()
    prepare_slue("voxceleb", voxceleb, out, clips_dir=clips, jobs=2, progress=False)
    assert cut_clip.stat().st_mtime_ns == written and (out / "fine-tune.tsv").read_bytes() == manifest


def test_cli_prints_the_reports(voxceleb, tmp_path, capsys):
    out = tmp_path / "manifest"
    prepare_slue_main(["voxceleb", "--data", str(voxceleb), "--out", str(out), "--jobs", "2", "--no-progress"])
    reports = json.loads(capsys.readouterr().out)
    assert sorted(reports) == ["dev", "fine-tune", "test"]
    assert reports["dev"] == json.loads((out / "dev.coverage.json").read_text())


def test_cli_errors_exit_2(voxpopuli, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        prepare_slue_main(["voxpopuli", "--data", str(voxpopuli), "--out", str(tmp_path / "m"), "--clips-dir", "x"])
    assert exit_info.value.code == 2 and "--clips-dir is for voxceleb only" in capsys.readouterr().err
    (voxpopuli / "slue-voxpopuli_dev.tsv").unlink()
    with pytest.raises(SystemExit) as exit_info:
        prepare_slue_main(["voxpopuli", "--data", str(voxpopuli), "--out", str(tmp_path / "m"), "--no-progress"])
    assert exit_info.value.code == 2 and "slue-voxpopuli_dev.tsv is missing" in capsys.readouterr().err


def prepare_fails(dataset, release, *expected_parts):
    out = release.parent / "manifest"
    with pytest.raises(PrepareError) as error_info:
        prepare_slue(dataset, release, out, jobs=1, progress=False)
    for part in expected_parts:
        assert part in str(error_info.value)
    assert not out.exists()


def append_line(path: Path, line: str) -> int:
    """Append a line to a file; returns its line number."""
    path.write_text(path.read_text() + line + "\n")
    return len(read_lines(path))


def test_tsv_row_with_missing_fields(voxpopuli):
    tsv = voxpopuli / "slue-voxpopuli_fine-tune.tsv"
    line = append_line(tsv, f"{ID_A[:-1]}9\tonly three\tfields")
    prepare_fails("voxpopuli", voxpopuli, f"{tsv}:{line}: 3 tab-separated fields, the header has 7")


def test_tsv_without_a_needed_column(voxpopuli):
    tsv = voxpopuli / "slue-voxpopuli_dev.tsv"
    tsv.write_text(tsv.read_text().replace("normalized_ner", "ner", 1))
    prepare_fails("voxpopuli", voxpopuli, f"{tsv}:1: missing column(s) normalized_ner")


def test_repeated_id(voxpopuli):
    tsv = voxpopuli / "slue-voxpopuli_fine-tune.tsv"
    line = append_line(tsv, "\t".join(voxpopuli_row(ID_D, TEXT_D, [])))
    prepare_fails("voxpopuli", voxpopuli, f"{tsv}:{line}: id {ID_D} repeats line 4")


def test_unknown_ner_tag_and_malformed_ner_field(voxpopuli):
    tsv = voxpopuli / "slue-voxpopuli_dev.tsv"
    original = tsv.read_text()
    tsv.write_text(original.replace("\tNone\n", "\t[['COUNTRY', 0, 2]]\n", 1))
    prepare_fails("voxpopuli", voxpopuli, f"{tsv}:2: unknown NER tag 'COUNTRY'")
    tsv.write_text(original.replace("\tNone\n", "\t[['GPE', 0, 2\n", 1))
    prepare_fails("voxpopuli", voxpopuli, f"{tsv}:2: NER field")
    tsv.write_text(original.replace("\tNone\n", "\t[['GPE', 0, 40]]\n", 1))
    prepare_fails("voxpopuli", voxpopuli, f"{tsv}:2: GPE span [0, 40) ends after the text")


def test_missing_audio(voxpopuli):
    (voxpopuli / "fine-tune" / f"{ID_C}.ogg").unlink()
    prepare_fails("voxpopuli", voxpopuli, f"{voxpopuli / 'slue-voxpopuli_fine-tune.tsv'}:3: audio", f"{ID_C}.ogg is missing")


def test_wrong_sample_rate(voxpopuli, speech_clips):
    audio = voxpopuli / "dev" / "not-a-voxpopuli-id.ogg"
    soundfile.write(str(audio), clip(speech_clips, 0), 22050, format="OGG", subtype="VORBIS")
    prepare_fails(
        "voxpopuli", voxpopuli, str(audio), f"{voxpopuli / 'slue-voxpopuli_dev.tsv'}:3", "22050 Hz", "16 kHz mono"
    )


def test_stereo_raw_clip(voxceleb, speech_clips):
    audio = voxceleb / "dev_raw" / "id10040_Ab_00001.flac"
    samples = clip(speech_clips, 0)
    soundfile.write(str(audio), np.stack([samples, samples], axis=1), 16000)
    prepare_fails("voxceleb", voxceleb, str(audio), "2 channel(s)", "16 kHz mono")


def test_missing_test_tsv(voxceleb):
    (voxceleb / "slue-voxceleb_test_blind.tsv").unlink()
    prepare_fails("voxceleb", voxceleb, "slue-voxceleb_test.tsv nor", "slue-voxceleb_test_blind.tsv exists")


def test_voxceleb_manifest_lengths_are_the_samples_cut_for_any_times(tmp_path, speech_clips):
    # Property: over many random two-decimal start/end pairs (some ending past the raw file, which
    # caps the cut), every manifest length equals the frames of the clip written, and the dataset
    # check that training runs passes. SLUE-toolkit's int(16000 * (end - start)) misses often.
    rng = np.random.default_rng(7)
    rows, raw_seconds = [], []
    for index in range(120):
        raw_seconds.append((len(clip(speech_clips, index)) + 3200 + len(clip(speech_clips, index + 1))) / 16000)
        start = round(float(rng.uniform(0, 1.0)), 2)
        end = round(float(rng.uniform(start + 0.05, raw_seconds[-1] + 0.3)), 2)
        rows.append(vc_row(f"id1{index // 10:04d}_v{index % 10}_{index:05d}", "fine", "Neutral", start, end))
    small = [vc_row("id10040_Ab_00001", "fine", "Neutral", 0.0, 0.5)]
    release = write_voxceleb_release(tmp_path / "slue-voxceleb", {"fine-tune": rows, "dev": small, "test": small},
                                     lambda index: clip(speech_clips, index))
    out = tmp_path / "manifest"
    prepare_slue("voxceleb", release, out, jobs=2, progress=False, verify_audio=False)

    root, manifest_rows = read_manifest(out / "fine-tune.tsv")
    assert len(manifest_rows) == len(rows)
    for manifest_row, row in zip(manifest_rows, rows):
        assert manifest_row.samples == soundfile.info(str(Path(root) / manifest_row.path)).frames, row
    toolkit_lengths = [int(16000 * (row[6] - row[5])) for row in rows]
    assert sum(toolkit != ours.samples for toolkit, ours in zip(toolkit_lengths, manifest_rows)) > 20
    assert any(row[6] > seconds for row, seconds in zip(rows, raw_seconds))  # capped cuts are covered
    check = check_split(OmegaConf.create({"data": str(out), "sample_rate": 16000}), "fine-tune")
    assert len(check.kept) == len(rows)


@pytest.mark.parametrize("end, samples", [(0.01, 160), (0.024, 384)])
def test_a_voxceleb_clip_shorter_than_the_receptive_field_is_refused(voxceleb, end, samples):
    tsv = voxceleb / "slue-voxceleb_dev.tsv"
    write_tsv(tsv, VOXCELEB_COLUMNS, [vc_row("id10040_Ab_00001", "fine", "Neutral", 0.0, end)])
    prepare_fails(
        "voxceleb", voxceleb, f"{tsv}:2: the clip 0.0-{end} s of {voxceleb / 'dev_raw' / 'id10040_Ab_00001.flac'} "
        f"has {samples} samples, fewer than the feature extractor's receptive field of 400", "remove the row",
    )


def test_a_voxceleb_clip_of_exactly_the_receptive_field_is_kept(voxceleb, tmp_path):
    write_tsv(voxceleb / "slue-voxceleb_dev.tsv", VOXCELEB_COLUMNS, [vc_row("id10040_Ab_00001", "fine", "Neutral", 0.0, 0.025)])
    prepare_slue("voxceleb", voxceleb, tmp_path / "manifest", jobs=1, progress=False)
    assert read_lines(tmp_path / "manifest" / "dev.tsv")[1:] == ["id10040_Ab_00001.flac\t400"]


@pytest.mark.parametrize("samples", [1, 399])
def test_a_voxpopuli_utterance_shorter_than_the_receptive_field_is_refused(voxpopuli, samples):
    audio = voxpopuli / "dev" / "not-a-voxpopuli-id.ogg"
    soundfile.write(str(audio), np.full(samples, 1000, dtype=np.int16), 16000, format="OGG", subtype="VORBIS")
    prepare_fails(
        "voxpopuli", voxpopuli, f"{audio} (listed at {voxpopuli / 'slue-voxpopuli_dev.tsv'}:3) has {samples} samples, "
        "fewer than the feature extractor's receptive field of 400: it yields no frame",
    )


@pytest.mark.parametrize(
    "start, end, message",
    [
        ("zero", 1.0, "start_second 'zero' is not a number of seconds"),
        (1.0, 0.5, "need 0 <= start_second < end_second"),
        (60.0, 61.0, "start_second 60.0 is past the end of"),
    ],
)
def test_bad_clip_times(voxceleb, start, end, message):
    tsv = voxceleb / "slue-voxceleb_dev.tsv"
    write_tsv(tsv, VOXCELEB_COLUMNS, [vc_row("id10040_Ab_00001", "fine", "Neutral", start, end)])
    prepare_fails("voxceleb", voxceleb, f"{tsv}:2: ", message)


# --------------------------------------------------------------------------- near-miss labels, audio lengths


@pytest.mark.parametrize(
    "sentiment, looks_like", [("positive", "Positive"), ("Negative ", "Negative"), ("Neu tral", "Neutral"),
                              ("Postive", "Positive")]
)
def test_sentiment_near_miss_is_an_error_not_a_drop(voxceleb, sentiment, looks_like):
    tsv = voxceleb / "slue-voxceleb_dev.tsv"
    write_tsv(tsv, VOXCELEB_COLUMNS, [vc_row("id10040_Ab_00001", "fine", sentiment, 0.0, 0.5)])
    prepare_fails(
        "voxceleb", voxceleb, f"{tsv}:2: sentiment {sentiment!r} is not one of Negative, Neutral, Positive",
        f"looks like {looks_like!r}", "fix the label",
    )


def test_other_sentiments_are_still_dropped_and_counted(voxceleb, tmp_path):
    tsv = voxceleb / "slue-voxceleb_dev.tsv"
    write_tsv(tsv, VOXCELEB_COLUMNS, [
        vc_row("id10040_Ab_00001", "fine", "Neutral", 0.0, 0.5), vc_row("id10040_Ab_00002", "so so", "<mixed>", 0.0, 0.5),
    ])
    soundfile.write(str(voxceleb / "dev_raw" / "id10040_Ab_00002.flac"), np.zeros(16000, dtype=np.int16), 16000)
    reports = prepare_slue("voxceleb", voxceleb, tmp_path / "manifest", jobs=1, progress=False)
    assert reports["dev"]["dropped"] == {"count": 1, "by_sentiment": {"<mixed>": 1}}
    assert read_lines(tmp_path / "manifest" / "dev.sent") == ["Neutral"]


def test_raw_clip_of_unknown_length_is_an_error(voxceleb):
    audio = voxceleb / "dev_raw" / "id10040_Ab_00001.flac"
    data = bytearray(audio.read_bytes())
    data[21] &= 0xF0  # STREAMINFO total samples = 0: "unknown"
    data[22:26] = b"\0\0\0\0"
    audio.write_bytes(bytes(data))
    prepare_fails(
        "voxceleb", voxceleb, f"{audio}: the audio header does not tell the length",
        f"{voxceleb / 'slue-voxceleb_dev.tsv'}:2",
    )


def test_truncated_audio_is_caught_by_decoding(voxceleb, tmp_path, capsys):
    audio = voxceleb / "dev_raw" / "id10040_Ab_00001.flac"
    audio.write_bytes(audio.read_bytes()[: audio.stat().st_size // 2])
    prepare_fails(
        "voxceleb", voxceleb, f"{audio}: the audio does not decode to its end", f"{voxceleb / 'slue-voxceleb_dev.tsv'}:2"
    )
    arguments = ["voxceleb", "--data", str(voxceleb), "--out", str(tmp_path / "m"), "--no-progress"]
    with pytest.raises(SystemExit) as exit_info:
        prepare_slue_main(arguments)
    assert exit_info.value.code == 2 and "does not decode to its end" in capsys.readouterr().err
