"""gcaf-score: WER/CER, end-to-end NER F1 (SLUE-toolkit's parsing and micro-averaging),
sentiment macro F1, the SLUE score, and the pairing of reference and hypothesis files.

Expected numbers are computed by hand in the comments. Raw start characters used below
(DATA.md): ` ORG, % GPE, * LOC, } PERSON, & LAW, @ DATE, > TIME, ! CARDINAL, $ FAC,
^ LANGUAGE, ? WORK_OF_ART, ] closes any entity.
"""

import json
from collections import Counter

import pytest

from gcaf_fairseq.cli.score import main
from gcaf_fairseq.scoring import (
    AlignmentError,
    ResultFileError,
    corpus_wer,
    make_distinct,
    ner_scores,
    parse_entities,
    read_aligned,
    read_result,
    sentiment_scores,
    slue_score,
)


def slue_f1(tp, n_ref, n_hyp):
    """SLUE-toolkit's get_metrics in percent, written out (0/0 -> 0)."""
    precision = tp / n_hyp if n_hyp else 0.0
    recall = tp / n_ref if n_ref else 0.0
    return 100 * (2 * precision * recall / (precision + recall) if precision + recall else 0.0)


def write(path, lines, final_newline=True):
    path.write_text("\n".join(lines) + ("\n" if final_newline and lines else ""), encoding="utf-8")
    return str(path)


def run_cli(capsys, argv):
    main(argv)
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one JSON object on one line
    return json.loads(out)


# --------------------------------------------------------------------------- parsing


def test_parse_separate_tokens_and_combined_mapping():
    line = "` the council 's ] plan for % paris ] in & article twenty one ] in"
    assert parse_entities(line, tags="raw") == [("ORG", "the council 's"), ("GPE", "paris"), ("LAW", "article twenty one")]
    assert parse_entities(line, tags="combined") == [
        ("ORG", "the council 's"), ("PLACE", "paris"), ("LAW", "article twenty one"),
    ]
    assert parse_entities(line, tags="combined", label_only=True) == [("ORG", "phrase"), ("PLACE", "phrase"), ("LAW", "phrase")]


def test_parse_nested_unclosed_stray_empty_and_glued():
    counts = Counter()
    # ` opens ORG, % opens GPE and abandons ORG ("the" dropped), ] closes GPE "paris",
    # "council" is outside any entity, the second ] is stray.
    assert parse_entities("` the % paris ] council ]", tags="raw", counts=counts) == [("GPE", "paris")]
    assert counts["abandoned"] == 1 and counts["stray_end"] == 1
    # an entity still open at the end of the line is abandoned
    counts = Counter()
    assert parse_entities("% paris ] and ` the council", tags="raw", counts=counts) == [("GPE", "paris")]
    assert counts["unclosed"] == 1
    # stray ] before and after
    assert parse_entities("] % paris ] ]", tags="raw") == [("GPE", "paris")]
    # ] right after the start character: no entity
    counts = Counter()
    assert parse_entities("% ] paris", tags="raw", counts=counts) == []
    assert counts["empty"] == 1
    # tag characters glued to words are plain words (SLUE matches whole words only)
    assert parse_entities("%paris ]", tags="raw") == []
    assert parse_entities("in &article twenty one] in", tags="raw") == []
    # empty line, blank line
    assert parse_entities("", tags="raw") == [] and parse_entities("   ", tags="raw") == []


def test_parse_whitespace_exactly_as_slue():
    # the line is stripped and "  " replaced once by " ": two spaces are harmless ...
    assert parse_entities("  %  paris ] ", tags="raw") == [("GPE", "paris")]
    # ... but three leave an empty word inside the phrase, as in SLUE-toolkit
    assert parse_entities("% a   b ]", tags="raw") == [("GPE", "a  b")]


def test_parse_discarded_tags_still_close():
    counts = Counter()
    # $ FAC is discarded by combined scoring; its ] still closes it
    line = "$ the tower ] in % paris ] ? the news ] paris ]"
    assert parse_entities(line, tags="combined", counts=counts) == [("PLACE", "paris")]
    assert counts["discarded"] == 2 and counts["stray_end"] == 1
    assert parse_entities(line, tags="raw") == [("FAC", "the tower"), ("GPE", "paris"), ("WORK_OF_ART", "the news")]


def test_parse_combined_character_table():
    # combined chars: ! LAW, @ NORP, # ORG, $ PERSON, % PLACE, ^ QUANT, & WHEN
    assert parse_entities("$ john ] in % paris ] & today ]", tags="combined", chars="combined") == [
        ("PERSON", "john"), ("PLACE", "paris"), ("WHEN", "today"),
    ]
    with pytest.raises(ValueError):
        parse_entities("x", tags="raw", chars="combined")


def test_make_distinct_numbers_repeats():
    assert make_distinct([("GPE", "eu"), ("DATE", "today"), ("GPE", "eu")]) == [
        ("GPE", "eu", 1), ("DATE", "today", 1), ("GPE", "eu", 2),
    ]


# --------------------------------------------------------------------------- NER scores


def test_ner_all_correct():
    lines = ["` the council 's ] plan for % paris ]", "in & article twenty one ] in", ""]
    result = ner_scores(lines, lines)
    # 3 entities, all found: P = R = F1 = 100, label too
    assert result["f1"] == result["precision"] == result["recall"] == 100.0
    assert result["label_f1"] == 100.0
    assert (result["num_ref_entities"], result["num_hyp_entities"], result["num_correct"]) == (3, 3, 3)
    assert set(result["per_tag"]) == {"ORG", "PLACE", "LAW"}


def test_ner_all_wrong():
    # PLACE "paris" vs PERSON "paris": tp 0 for the phrase and for the tag -> 0, 0
    result = ner_scores(["% paris ]"], ["} paris ]"])
    assert result["f1"] == 0.0 and result["label_f1"] == 0.0
    assert result["per_tag"]["PLACE"]["recall"] == 0.0 and result["per_tag"]["PERSON"]["precision"] == 0.0
    # nothing predicted at all: precision 0/0 -> 0, recall 0/2 -> 0, F1 0
    result = ner_scores(["% paris ]", "} john ]"], ["paris", "john"])
    assert (result["precision"], result["recall"], result["f1"]) == (0.0, 0.0, 0.0)


def test_ner_repeated_entities_count_separately():
    # ref: PLACE eu (1), PLACE eu (2), WHEN today (1)
    # hyp: PLACE eu (1), WHEN today (1), WHEN today (2)
    # tp = |{eu1, today1}| = 2, n_ref = 3, n_hyp = 3: P = R = 2/3, F1 = 2/3 -> 66.67
    result = ner_scores(["% eu ] and % eu ] and @ today ]"], ["% eu ] @ today ] @ today ]"])
    assert result["num_correct"] == 2
    assert result["f1"] == pytest.approx(200 / 3) and "%.1f" % result["f1"] == "66.7"
    assert result["f1"] == slue_f1(2, 3, 3)
    # per tag: PLACE tp 1, ref 2, hyp 1 -> P 100, R 50, F1 66.67; WHEN tp 1, ref 1, hyp 2 -> P 50, R 100
    place, when = result["per_tag"]["PLACE"], result["per_tag"]["WHEN"]
    assert (place["precision"], place["recall"]) == (100.0, 50.0) and place["f1"] == pytest.approx(200 / 3)
    assert (when["precision"], when["recall"], when["num_hyp"]) == (50.0, 100.0, 2)
    # label F1 with occurrence numbers: ref PLACE 1, PLACE 2; hyp PLACE 1 -> tp 1, P 1, R 1/2, F1 2/3
    result = ner_scores(["% paris ] % london ]"], ["% paris ]"])
    assert result["label_f1"] == pytest.approx(200 / 3) and result["label_num_correct"] == 1


def test_ner_label_f1_ignores_phrase():
    # phrases differ (tp 0 -> F1 0), tags agree (label tp 2 of 2 -> 100)
    result = ner_scores(["% paris ] } john smith ]"], ["% london ] } john ]"])
    assert result["f1"] == 0.0 and result["label_f1"] == 100.0
    assert result["per_tag"]["PERSON"]["label_f1"] == 100.0 and result["per_tag"]["PERSON"]["f1"] == 0.0


def test_ner_discarded_tags_combined_vs_raw():
    ref = ["$ the tower ] in % paris ]"]
    hyp = ["$ the tower ] in ^ paris ]"]  # ^ LANGUAGE
    # combined: ref {PLACE paris}, hyp {} (FAC and LANGUAGE dropped): tp 0, ref 1, hyp 0 -> 0
    combined = ner_scores(ref, hyp, tags="combined")
    assert (combined["num_ref_entities"], combined["num_hyp_entities"], combined["f1"]) == (1, 0, 0.0)
    assert combined["parse"]["ref"]["discarded"] == 1 and combined["parse"]["hyp"]["discarded"] == 2
    # raw: ref {FAC tower, GPE paris}, hyp {FAC tower, LANGUAGE paris}: tp 1 of 2 and 2 -> 50
    raw = ner_scores(ref, hyp, tags="raw")
    assert raw["f1"] == 50.0 and raw["tags"] == "raw"
    assert set(raw["per_tag"]) == {"FAC", "GPE", "LANGUAGE"}


def test_ner_empty_lines_and_empty_files():
    # sentence 1: no entities on either side; sentence 2: ref PLACE paris, hyp nothing
    result = ner_scores(["", "% paris ]"], ["", ""])
    assert (result["num_sentences"], result["num_ref_entities"], result["f1"]) == (2, 1, 0.0)
    # no entity anywhere: every count 0, F1 0 (SLUE's 0/0 -> 0), no per-tag macro
    result = ner_scores([], [])
    assert result["f1"] == 0.0 and result["tag_macro_f1"] is None and result["per_tag"] == {}


def test_ner_micro_average_over_sentences():
    refs = [
        "` the council ] plan for % paris ]",  # ORG the council, PLACE paris
        "in & article twenty one ] in",  # LAW article twenty one
        "% eu ] and % eu ]",  # PLACE eu 1, PLACE eu 2
        "",
    ]
    hyps = [
        "` the council ] plan for % paris ] % paris ]",  # ORG ok, PLACE paris 1 ok, PLACE paris 2 wrong
        "in & article twenty ] in",  # LAW wrong phrase
        "% eu ] and ` eu ]",  # PLACE eu 1 ok, ORG eu wrong
        "} john ]",  # PERSON wrong
    ]
    # tp = 2 + 0 + 1 + 0 = 3; n_ref = 2 + 1 + 2 + 0 = 5; n_hyp = 3 + 1 + 2 + 1 = 7
    # P = 3/7, R = 3/5, F1 = 2PR/(P+R) = 2*9/35 / (36/35) = 1/2 -> 50.0
    result = ner_scores(refs, hyps)
    assert (result["num_correct"], result["num_ref_entities"], result["num_hyp_entities"]) == (3, 5, 7)
    assert result["f1"] == pytest.approx(50.0) and result["f1"] == slue_f1(3, 5, 7)
    # label: sentence 1: ref {ORG1, PLACE1}, hyp {ORG1, PLACE1, PLACE2} -> 2
    # sentence 2: LAW1 vs LAW1 -> 1; sentence 3: {PLACE1, PLACE2} vs {PLACE1, ORG1} -> 1; sentence 4: 0
    # tp 4, P = 4/7, R = 4/5, F1 = 2*16/35 / (48/35) = 2/3 -> 66.67
    assert result["label_num_correct"] == 4
    assert result["label_f1"] == pytest.approx(200 / 3) and result["label_f1"] == slue_f1(4, 5, 7)
    # per tag PLACE: tp 2 (paris, eu 1), ref 3, hyp 3 -> 66.67; ORG: tp 1, ref 1, hyp 2 -> P 50 R 100
    assert result["per_tag"]["PLACE"]["f1"] == pytest.approx(200 / 3)
    assert result["per_tag"]["ORG"]["f1"] == pytest.approx(200 / 3)
    # SLUE's overall_macro: mean of per-tag F1 over ORG, PLACE, LAW, PERSON = (2/3 + 2/3 + 0 + 0) / 4
    assert result["tag_macro_f1"] == pytest.approx(100 / 3)


# --------------------------------------------------------------------------- WER / CER


def test_wer_and_cer():
    # "a b c" vs "a x c": 1 substitution; "d e" vs "d e f": 1 insertion -> 2 / 5 words = 40
    # characters: "a b c" vs "a x c": 1; "d e" vs "d e f": 2 (" f") -> 3 / (5 + 3) = 37.5
    result = corpus_wer(["a b c", "d e"], ["a x c", "d e f"])
    assert (result["wer"], result["cer"]) == (40.0, 37.5)
    assert (result["num_ref_words"], result["num_word_errors"], result["num_ref_chars"], result["num_char_errors"]) == (5, 2, 8, 3)


def test_wer_empty_lines_whitespace_and_all_correct():
    # "" vs "x": 1 insertion; "a b" vs "": 2 deletions -> 3 / 2 = 150
    # characters: 1 + 3 ("a b") over 3 -> 133.33
    result = corpus_wer(["", "a b"], ["x", ""])
    assert result["wer"] == 150.0 and result["cer"] == pytest.approx(400 / 3)
    # surrounding and repeated whitespace is no error; case is (no normalization)
    assert corpus_wer(["  a   b "], ["a b"])["wer"] == 0.0
    assert corpus_wer(["a b"], ["A b"])["wer"] == 50.0
    # nothing to divide by
    assert corpus_wer([""], ["x"])["wer"] is None
    # SLUE/fairseq's arithmetic: errors * 100.0 / words
    result = corpus_wer(["a b c d e f g"], ["a"])
    assert result["wer"] == 6 * 100.0 / 7


# --------------------------------------------------------------------------- sentiment


def test_sentiment_macro_f1():
    # Negative: tp 1, ref 1, hyp 1 -> F1 1; Neutral: ref 1, hyp 1, tp 0 -> 0;
    # Positive: ref 2, hyp 2, tp 1 -> P 1/2, R 1/2, F1 1/2. macro = 1.5 / 3 = 50
    result = sentiment_scores(["Negative", "Neutral", "Positive", "Positive"], ["Negative", "Positive", "Positive", "Neutral"])
    assert result["macro_f1"] == pytest.approx(50.0)
    assert result["per_class"]["Negative"]["f1"] == 100.0 and result["per_class"]["Neutral"]["f1"] == 0.0
    assert result["per_class"]["Positive"]["f1"] == pytest.approx(50.0) and result["accuracy"] == 50.0


def test_sentiment_only_labels_present_count():
    # sklearn's labels=None: Neutral appears nowhere and is not averaged.
    # Negative: ref 1, hyp 0 -> F1 0; Positive: tp 1, ref 1, hyp 2 -> P 1/2, R 1, F1 2/3
    # macro = (0 + 2/3) / 2 = 33.33 (22.22 if Neutral were averaged as a 0)
    from sklearn.metrics import f1_score

    refs, hyps = ["Positive", "Negative"], ["Positive", "Positive"]
    result = sentiment_scores(refs, hyps)
    assert result["macro_f1"] == pytest.approx(100 / 3) and result["classes"] == ["Negative", "Positive"]
    assert result["macro_f1"] == f1_score(refs, hyps, average="macro") * 100


def test_sentiment_all_correct_all_wrong_and_errors():
    assert sentiment_scores(["Positive", "Positive"], [" Positive", "Positive "])["macro_f1"] == 100.0
    assert sentiment_scores(["Positive", "Negative"], ["Negative", "Positive"])["macro_f1"] == 0.0
    with pytest.raises(ValueError, match="empty hypothesis label at utterance 2"):
        sentiment_scores(["Positive", "Negative"], ["Negative", ""])
    with pytest.raises(ValueError, match="no utterances"):
        sentiment_scores([], [])


# --------------------------------------------------------------------------- SLUE score


def test_slue_score_of_the_baseline():
    # DATA.md baselines: (100 - (18.4 + 20.9)/2 + 48.6 + 49.6) / 3 = (80.35 + 98.2) / 3 = 59.5167
    value = slue_score(18.4, 20.9, 48.6, 49.6)
    assert value == pytest.approx(178.55 / 3) and "%.1f" % value == "59.5"


def test_read_result_numbers_and_files(tmp_path):
    assert read_result("12.5", "wer") == 12.5
    (tmp_path / "w.json").write_text(json.dumps({"wer": 20.0}))
    assert read_result(str(tmp_path / "w.json"), "wer") == 20.0
    with pytest.raises(ResultFileError, match="has no key 'macro_f1'"):
        read_result(str(tmp_path / "w.json"), "macro_f1")
    (tmp_path / "n.json").write_text(json.dumps({"f1": 50.0, "tags": "raw"}))
    with pytest.raises(ResultFileError, match="combined"):
        read_result(str(tmp_path / "n.json"), "f1")
    with pytest.raises(ResultFileError, match="neither a number nor a readable file"):
        read_result(str(tmp_path / "missing.json"), "wer")


# --------------------------------------------------------------------------- pairing files


def test_line_aligned_counts_and_final_newline(tmp_path):
    ref = write(tmp_path / "ref", ["a", "b"])
    aligned = read_aligned(ref, write(tmp_path / "hyp", ["a", "b"], final_newline=False))
    assert aligned.refs == ["a", "b"] and aligned.ids == ["1", "2"]
    # an empty line is an utterance; a file with a trailing blank line has 3 lines
    hyp = tmp_path / "hyp3"
    hyp.write_text("a\nb\n\n")
    with pytest.raises(AlignmentError, match=r"has 2 lines, hypothesis .* has 3; first difference: line 3 of .*\(''\) has no line in"):
        read_aligned(ref, str(hyp))
    with pytest.raises(AlignmentError, match="line 2 of .*ref.*'b'"):
        read_aligned(ref, write(tmp_path / "hyp1", ["a"]))


def test_keyed_tsv_first_field_and_fairseq(tmp_path):
    ref = write(tmp_path / "ref.tsv", ["u1\ta b", "u2\t", "u3\tc\td"])
    hyp = write(tmp_path / "hyp.tsv", ["u3\tc\td", "u1\ta x", "u2\t"])
    aligned = read_aligned(ref, hyp, "tsv")
    assert aligned.ids == ["u1", "u2", "u3"] and aligned.hyps == ["a x", "", "c\td"] and aligned.hyp_lines == [2, 3, 1]
    first = write(tmp_path / "ref.txt", ["u2 ", "u1 a  b"])
    aligned = read_aligned(first, write(tmp_path / "hyp.txt", ["u1 a b", "u2"]), "first-field")
    assert aligned.ids == ["u2", "u1"] and aligned.refs == ["", "a  b"] and aligned.hyps == ["", "a b"]
    # fairseq's infer.py lines, in batch order; an empty hypothesis is "(None-N)"
    ref = write(tmp_path / "ref.word", ["% paris ] (None-1)", "a b (None-0)"])
    hyp = write(tmp_path / "hypo.word", ["(None-0)", "% paris ] (None-1)"])
    aligned = read_aligned(ref, hyp, "fairseq")
    assert aligned.ids == ["1", "0"] and aligned.refs == ["% paris ]", "a b"] and aligned.hyps == ["% paris ]", ""]
    # mixed keyed formats match by id
    tsv = write(tmp_path / "ids.tsv", ["0\ta b", "1\t% paris ]"])
    assert read_aligned(tsv, hyp, ref_id_format="tsv", hyp_id_format="fairseq").hyps == ["", "% paris ]"]


def test_keyed_mismatches_name_the_first_difference(tmp_path):
    ref = write(tmp_path / "ref.tsv", ["u1\ta", "u2\tb", "u3\tc"])
    with pytest.raises(AlignmentError, match=r"3 ids, hypothesis .* 2; first difference: id 'u2' \(reference .*ref.tsv:2\) is missing"):
        read_aligned(ref, write(tmp_path / "h1", ["u1\ta", "u3\tc"]), "tsv")
    with pytest.raises(AlignmentError, match=r"id 'u4' \(hypothesis .*h2:3\) is not in the reference"):
        read_aligned(ref, write(tmp_path / "h2", ["u1\ta", "u2\tb", "u4\tc"]), "tsv")
    with pytest.raises(AlignmentError, match=r"h3:3: duplicate id 'u1' \(first at line 1\)"):
        read_aligned(ref, write(tmp_path / "h3", ["u1\ta", "u2\tb", "u1\tc"]), "tsv")
    with pytest.raises(AlignmentError, match=r"h4:2: expected ID<TAB>TEXT"):
        read_aligned(ref, write(tmp_path / "h4", ["u1\ta", "u2 b"]), "tsv")
    with pytest.raises(AlignmentError, match=r"h5:1: expected 'TEXT \(SPEAKER-N\)'"):
        read_aligned(ref, write(tmp_path / "h5", ["a b"]), ref_id_format="tsv", hyp_id_format="fairseq")
    with pytest.raises(AlignmentError, match="line-aligned file with a keyed one"):
        read_aligned(ref, ref, ref_id_format="tsv", hyp_id_format="line")


# --------------------------------------------------------------------------- CLI


def test_cli_wer(tmp_path, capsys):
    result = run_cli(capsys, ["wer", "--ref", write(tmp_path / "r", ["a b c", "d e"]), "--hyp", write(tmp_path / "h", ["a x c", "d e f"])])
    assert (result["wer"], result["cer"], result["num_ref_words"], result["num_word_errors"]) == (40.0, 37.5, 5, 2)


def test_cli_ner_keyed_and_tags(tmp_path, capsys):
    ref = write(tmp_path / "r.tsv", ["b\t% eu ] and % eu ] and @ today ]", "a\t$ the tower ] in % paris ]"])
    hyp = write(tmp_path / "h.tsv", ["a\t$ the tower ] in ^ paris ]", "b\t% eu ] @ today ] @ today ]"])
    combined = run_cli(capsys, ["ner", "--ref", ref, "--hyp", hyp, "--id-format", "tsv"])
    # combined: b tp 2 of ref 3, hyp 3 (see test_ner_repeated_entities...); a: ref 1, hyp 0
    # tp 2, ref 4, hyp 3: P 2/3, R 1/2, F1 = (2/3) / (7/6) = 4/7 -> 57.14
    assert combined["f1"] == pytest.approx(400 / 7) and combined["f1"] == slue_f1(2, 4, 3)
    assert combined["tags"] == "combined" and "PLACE" in combined["per_tag"]
    raw = run_cli(capsys, ["ner", "--ref", ref, "--hyp", hyp, "--id-format", "tsv", "--tags", "raw"])
    # raw: b as above (GPE, DATE) tp 2, ref 3, hyp 3; a: tp 1 (FAC), ref 2, hyp 2 -> 3 / 5 / 5 = 60
    assert raw["f1"] == pytest.approx(60.0) and "FAC" in raw["per_tag"]


def test_cli_sentiment_and_slue_score(tmp_path, capsys):
    ref = write(tmp_path / "r", ["Negative", "Neutral", "Positive", "Positive"])
    hyp = write(tmp_path / "h", ["Negative", "Positive", "Positive", "Neutral"])
    sa = run_cli(capsys, ["sentiment", "--ref", ref, "--hyp", hyp, "--classes", "Negative,Neutral,Positive"])
    assert sa["macro_f1"] == pytest.approx(50.0) and sa["per_class"]["Positive"]["num_ref"] == 2
    sa_path = tmp_path / "sa.json"
    sa_path.write_text(json.dumps(sa))
    ner_path = tmp_path / "ner.json"
    ner_path.write_text(json.dumps(ner_scores(["% paris ]"], ["% paris ]"])))  # F1 100
    # (100 - (20 + 10)/2 + 50 + 100) / 3 = 235 / 3
    result = run_cli(capsys, ["slue-score", "--vp-wer", "20", "--vc-wer", "10", "--sa", str(sa_path), "--ner", str(ner_path)])
    assert result["slue_score"] == pytest.approx(235 / 3) and result["asr_term"] == 85.0
    assert (result["sa_f1"], result["ner_f1"]) == (pytest.approx(50.0), 100.0)


def test_cli_errors_exit_2_and_name_the_difference(tmp_path, capsys):
    ref = write(tmp_path / "r", ["a", "b", "c"])
    with pytest.raises(SystemExit) as exit_info:
        main(["wer", "--ref", ref, "--hyp", write(tmp_path / "h", ["a", "b"])])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "gcaf-score wer: error: line count mismatch" in captured.err and "line 3" in captured.err
    with pytest.raises(SystemExit):
        main(["sentiment", "--ref", ref, "--hyp", ref, "--classes", "Negative,Neutral,Positive"])
    assert "label 'a' is not one of" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["ner", "--ref", ref, "--hyp", str(tmp_path / "missing")])
    assert "No such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["slue-score", "--vp-wer", "x", "--vc-wer", "1", "--sa", "1", "--ner", "1"])
    assert "neither a number nor a readable file" in capsys.readouterr().err
