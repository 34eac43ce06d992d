"""gcaf-score homophones: the word alignment, homophone error and swap rates per kind, and the
matching of targets to reference lines or ids. Expected numbers are worked out in comments."""

import json

import pytest

from gcaf_fairseq.cli.score import main
from gcaf_fairseq.scoring.homophones import align_words, homophone_scores
from gcaf_fairseq.scoring.wer import corpus_wer

NEUTRAL = "THEN THE FLOUR CAME BACK"
NEUTRAL_ROW = {"id": "u1", "kind": "neutral", "targets": [{"word_index": 2, "word": "FLOUR", "other": "FLOWER"}]}


def one_target(hypothesis: str) -> dict:
    """The 'all' scores of NEUTRAL (one target) against ``hypothesis``."""
    return homophone_scores([NEUTRAL], [hypothesis], [NEUTRAL_ROW])["all"]


def test_correct_swapped_misspelled_and_deleted_targets():
    correct = one_target(NEUTRAL)
    assert (correct["homophone_errors"], correct["swaps"], correct["wer"]) == (0, 0, 0.0)
    swapped = one_target("THEN THE FLOWER CAME BACK")
    assert (swapped["homophone_error_rate"], swapped["swap_rate"], swapped["wer"]) == (100.0, 100.0, 20.0)
    misspelled = one_target("THEN THE FLOWR CAME BACK")
    assert (misspelled["homophone_error_rate"], misspelled["swap_rate"]) == (100.0, 0.0)
    deleted = one_target("THEN THE CAME BACK")
    assert (deleted["homophone_errors"], deleted["swaps"]) == (1, 0)


def test_insertions_and_deletions_elsewhere_shift_positions():
    assert one_target("AND THEN THE FLOUR CAME BACK")["homophone_errors"] == 0
    assert one_target("THEN THE THE FLOWER CAME RIGHT BACK")["swaps"] == 1
    # THE deleted and FLOUR written FLOWER (2 word edits, 5 character edits) beats FLOUR
    # deleted and THE written FLOWER (2 word edits, 10 character edits).
    assert one_target("THEN FLOWER CAME BACK")["swaps"] == 1
    assert align_words("THEN THE FLOUR CAME BACK".split(), "THEN FLOWER CAME BACK".split()) == [0, None, 1, 2, 3]
    assert align_words("A B".split(), []) == [None, None]


def test_per_kind_aggregation():
    references = [NEUTRAL, "ANNA BAKED THE FLOUR IN THE OVEN", "THE SAIL LOOKED STRANGE", "NO TARGET HERE"]
    hypotheses = ["THEN THE FLOWER CAME BACK", "ANNA BAKED THE FLOUR IN OVEN", "THE SALE LOOKED", "NO TARGET HERE"]
    rows = [
        NEUTRAL_ROW,
        {"id": "u2", "kind": "topic", "targets": [{"word_index": 3, "word": "FLOUR", "other": "FLOWER"}]},
        {"id": "u3", "kind": "neutral", "targets": [{"word_index": 1, "word": "SAIL", "other": "SALE"}]},
        {"id": "u4", "kind": "topic", "targets": []},
    ]
    scores = homophone_scores(references, hypotheses, rows)
    neutral, topic = scores["per_kind"]["neutral"], scores["per_kind"]["topic"]
    assert (neutral["targets"], neutral["homophone_errors"], neutral["swaps"]) == (2, 2, 2)
    assert (neutral["homophone_error_rate"], neutral["swap_rate"]) == (100.0, 100.0)
    assert neutral["wer"] == pytest.approx(3 * 100 / 9)  # FLOWER, SALE, STRANGE deleted
    assert neutral["cer"] == corpus_wer([references[0], references[2]], [hypotheses[0], hypotheses[2]])["cer"]
    assert (topic["targets"], topic["homophone_errors"], topic["homophone_error_rate"]) == (1, 0, 0.0)
    assert (topic["num_utterances"], topic["wer"]) == (2, pytest.approx(100 / 10))  # THE deleted
    everything = scores["all"]
    assert (everything["targets"], everything["homophone_errors"], everything["swaps"]) == (3, 2, 2)
    assert everything["swap_rate"] == pytest.approx(200 / 3)
    assert everything["wer"] == corpus_wer(references, hypotheses)["wer"]


def test_no_targets_gives_no_rate_and_bad_targets_are_refused():
    scores = homophone_scores(["A B C D E"], ["A B C D E"], [{"id": "x", "kind": "topic", "targets": []}])
    assert scores["all"]["homophone_error_rate"] is None and scores["all"]["wer"] == 0.0
    wrong_word = {"id": "u1", "kind": "neutral", "targets": [{"word_index": 1, "word": "FLOUR", "other": "FLOWER"}]}
    with pytest.raises(ValueError, match=r"utterance 1 \(id 'u1'\): reference word 1 is 'THE'"):
        homophone_scores([NEUTRAL], [NEUTRAL], [wrong_word])
    with pytest.raises(ValueError, match="1 references, 1 hypotheses and 2 targets rows"):
        homophone_scores([NEUTRAL], [NEUTRAL], [NEUTRAL_ROW, NEUTRAL_ROW])


REFERENCES = ["THEN THE FLOUR CAME BACK", "THE WARM BREAD LAY NEAR THE FLOUR", "ANNA SAID THE SALE LOOKED STRANGE"]
ROWS = [
    {"id": "101-2001-0001", "kind": "neutral", "targets": [{"word_index": 2, "word": "FLOUR", "other": "FLOWER"}]},
    {"id": "101-2001-0002", "kind": "topic", "targets": [{"word_index": 6, "word": "FLOUR", "other": "FLOWER"}]},
    {"id": "102-2002-0001", "kind": "neutral", "targets": [{"word_index": 3, "word": "SALE", "other": "SAIL"}]},
]
HYPOTHESES = ["THEN THE FLOWER CAME BACK", "THE WARM BREAD LAY NEAR THE FLOUR", "ANNA SAID THE SALE LOOKED STRANGE"]


def write(path, lines) -> str:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def score(capsys, options) -> dict:
    main(["homophones"] + options)
    return json.loads(capsys.readouterr().out)


def test_cli_line_aligned(tmp_path, capsys):
    ref = write(tmp_path / "test.wrd", REFERENCES)
    hyp = write(tmp_path / "hyp.wrd", HYPOTHESES)
    targets = write(tmp_path / "test.homophones.jsonl", [json.dumps(row) for row in ROWS])
    result = score(capsys, ["--ref", ref, "--hyp", hyp, "--targets", targets])
    assert (result["ref"], result["hyp"], result["targets"]) == (ref, hyp, targets)
    assert result["per_kind"]["neutral"]["swap_rate"] == 50.0
    assert result["per_kind"]["topic"]["homophone_error_rate"] == 0.0
    assert result["all"]["wer"] == pytest.approx(100 / 18)


def test_cli_keyed_files_match_targets_by_id_or_sample_index(tmp_path, capsys):
    targets = write(tmp_path / "targets.jsonl", [json.dumps(row) for row in ROWS])
    ref = write(tmp_path / "ref.tsv", [f"{row['id']}\t{text}" for row, text in zip(ROWS, REFERENCES)])
    hyp = write(tmp_path / "hyp.tsv", [f"{row['id']}\t{text}" for row, text in reversed(list(zip(ROWS, HYPOTHESES)))])
    keyed = score(capsys, ["--ref", ref, "--hyp", hyp, "--targets", targets, "--id-format", "tsv"])
    assert keyed["all"]["swaps"] == 1 and keyed["per_kind"]["neutral"]["swaps"] == 1

    # fairseq's infer.py: 'TEXT (None-N)' in any order, N = position in the manifest.
    fairseq_ref = write(tmp_path / "ref.word.txt", [f"{REFERENCES[n]} (None-{n})" for n in (2, 0, 1)])
    fairseq_hyp = write(tmp_path / "hypo.word.txt", [f"{HYPOTHESES[n]} (None-{n})" for n in (1, 2, 0)])
    options = ["--ref", fairseq_ref, "--hyp", fairseq_hyp, "--targets", targets, "--id-format", "fairseq"]
    by_index = score(capsys, options)
    assert by_index["all"] == {**keyed["all"]}


def error_of(capsys, options) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(["homophones"] + options)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_cli_errors_name_file_and_line(tmp_path, capsys):
    ref = write(tmp_path / "test.wrd", REFERENCES)
    hyp = write(tmp_path / "hyp.wrd", HYPOTHESES)
    short = write(tmp_path / "short.jsonl", [json.dumps(row) for row in ROWS[:2]])
    message = error_of(capsys, ["--ref", ref, "--hyp", hyp, "--targets", short])
    expected = f"targets {short} has 2 rows, reference {ref} has 3 utterances; first difference: reference {ref}:3"
    assert expected in message
    swapped_order = write(tmp_path / "swapped.jsonl", [json.dumps(row) for row in (ROWS[1], ROWS[0], ROWS[2])])
    message = error_of(capsys, ["--ref", ref, "--hyp", hyp, "--targets", swapped_order])
    assert f"targets {swapped_order}:1 (id '101-2001-0002') against reference {ref}:1: word_index 6 is past" in message
    broken = write(tmp_path / "broken.jsonl", [json.dumps(ROWS[0]), "{not json", json.dumps(ROWS[2])])
    assert f"error: {broken}:2: invalid JSON" in error_of(capsys, ["--ref", ref, "--hyp", hyp, "--targets", broken])
    without_index = {**ROWS[0], "targets": [{"word": "FLOUR", "other": "X"}]}
    no_index = write(tmp_path / "no_index.jsonl", [json.dumps(without_index)])
    assert f"{no_index}:1: target 0: expected a non-negative integer 'word_index'" in error_of(
        capsys, ["--ref", ref, "--hyp", hyp, "--targets", no_index]
    )
    keyed_ref = write(tmp_path / "ref.tsv", [f"{row['id']}\t{text}" for row, text in zip(ROWS, REFERENCES)])
    renamed_rows = ROWS[:2] + [{**ROWS[2], "id": "x"}]
    renamed = write(tmp_path / "renamed.jsonl", [json.dumps(row) for row in renamed_rows])
    assert f"reference {keyed_ref}:3: id '102-2002-0001' has no row in targets {renamed}" in error_of(
        capsys, ["--ref", keyed_ref, "--hyp", keyed_ref, "--targets", renamed, "--id-format", "tsv"]
    )


def test_cli_ids_file_matches_line_aligned_decoding_output_to_targets_by_id(tmp_path, capsys):
    # A decoding folder's test.ref.wrd / test.hyp.wrd are sorted by id, the targets file is in
    # manifest order: test.ids names each line's utterance.
    targets = write(tmp_path / "targets.jsonl", [json.dumps(row) for row in ROWS])
    order = (2, 0, 1)
    ref = write(tmp_path / "test.ref.wrd", [REFERENCES[n] for n in order])
    hyp = write(tmp_path / "test.hyp.wrd", [HYPOTHESES[n] for n in order])
    ids = write(tmp_path / "test.ids", [ROWS[n]["id"] for n in order])
    by_ids = score(capsys, ["--ref", ref, "--hyp", hyp, "--ids", ids, "--targets", targets])
    in_order = score(capsys, [
        "--ref", write(tmp_path / "ref.wrd", REFERENCES), "--hyp", write(tmp_path / "hyp.wrd", HYPOTHESES),
        "--targets", targets,
    ])
    assert by_ids["all"] == in_order["all"] and by_ids["per_kind"] == in_order["per_kind"]
    assert by_ids["per_kind"]["neutral"]["swaps"] == 1

    short_ids = write(tmp_path / "short.ids", [ROWS[n]["id"] for n in order[:2]])
    assert f"ids {short_ids} has 2 lines, reference {ref} has 3" in error_of(
        capsys, ["--ref", ref, "--hyp", hyp, "--ids", short_ids, "--targets", targets]
    )
    repeated = write(tmp_path / "repeated.ids", [ROWS[0]["id"]] * 3)
    assert f"ids {repeated}:2: id '{ROWS[0]['id']}' repeats line 1" in error_of(
        capsys, ["--ref", ref, "--hyp", hyp, "--ids", repeated, "--targets", targets]
    )
    keyed = write(tmp_path / "ref.tsv", [f"{row['id']}\t{text}" for row, text in zip(ROWS, REFERENCES)])
    assert "--ids goes with line-aligned files" in error_of(
        capsys, ["--ref", keyed, "--hyp", keyed, "--ids", ids, "--targets", targets, "--id-format", "tsv"]
    )
