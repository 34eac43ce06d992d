"""Partial or near-miss inputs to the scorers and tools are loud (issue 12): a partial
generation file given to gcaf-rouge, a truncated ARPA file given to gcaf-build-lexicon,
sentiment labels that are near misses of a SLUE class given to gcaf-score sentiment."""

import json
import logging

import pytest

from gcaf_fairseq.cli.build_lexicon import main as build_lexicon_main
from gcaf_fairseq.cli.rouge import main as rouge_main
from gcaf_fairseq.cli.score import main as score_main
from gcaf_fairseq.data.lexicon import ArpaError, arpa_unigrams
from gcaf_fairseq.data.utterance_table import write_utterance_table
from gcaf_fairseq.generation.generation_file import GenerationWriter, make_header, make_record
from gcaf_fairseq.generation.prompts import PROMPTS
from gcaf_fairseq.generation.rouge import rouge_table
from gcaf_fairseq.scoring.sentiment import sentiment_scores

SETTINGS = {"prompt_id": "P4", "prompt": PROMPTS["P4"], "backend": {"backend": "hf", "model": "tiny"}}
TEXTS = ["the cat sat on the mat", "the cat lay on a mat", "the garden", "a dog ran", "rain fell", "good morning"]


# --------------------------------------------------------------------------- gcaf-rouge


@pytest.fixture
def partial_generation(tmp_path):
    """A table of 6 utterances of one stream and a generation file with records for 3."""
    rows = [
        {"id": f"s-{k}", "stream": "s", "position": k, "audio": f"s-{k}.flac", "text": text,
         "prev_id": f"s-{k - 1}" if k else None, "next_id": f"s-{k + 1}" if k + 1 < len(TEXTS) else None,
         "in_split": True}
        for k, text in enumerate(TEXTS)
    ]
    write_utterance_table(tmp_path / "u.jsonl", rows)
    path = tmp_path / "gen.jsonl"
    with GenerationWriter(path, make_header(SETTINGS)) as writer:
        sid = writer.header["settings_id"]
        writer.write([
            make_record("s-0", None, "P4", sid),
            make_record("s-1", "s-0", "P4", sid, previous_text=TEXTS[0], generation="a cat", finish_reason="stop"),
            make_record("s-3", "s-2", "P4", sid, previous_text=TEXTS[2], generation="a dog", finish_reason="stop"),
        ])
    return path, tmp_path / "u.jsonl"


def test_rouge_refuses_a_partial_generation_file(partial_generation, capsys):
    path, table = partial_generation
    with pytest.raises(ValueError) as error_info:
        rouge_table([path], table)
    message = str(error_info.value)
    assert f"{path}: records for 3 of the 6 utterances of {table}; 3 have none (first: s-2, s-4, s-5)" in message
    assert "--allow-partial" in message and "gcaf-merge-generations" in message
    with pytest.raises(SystemExit) as exit_info:
        rouge_main(["--generations", str(path), "--utterances", str(table)])
    assert exit_info.value.code == 2 and "3 have none (first: s-2, s-4, s-5)" in capsys.readouterr().err


def test_rouge_scores_a_partial_file_only_when_asked_and_says_so(partial_generation, capsys, caplog):
    path, table = partial_generation
    with caplog.at_level(logging.WARNING, logger="gcaf_fairseq.generation.rouge"):
        _, generated_row = rouge_table([path], table, allow_partial=True)
    assert generated_row.utterances == 2
    assert any("3 have none" in record.getMessage() and "scoring the subset" in record.getMessage()
               for record in caplog.records)
    rouge_main(["--generations", str(path), "--utterances", str(table), "--allow-partial", "--json"])
    assert json.loads(capsys.readouterr().out)[1]["utterances"] == 2


# --------------------------------------------------------------------------- gcaf-build-lexicon on ARPA files


ARPA = (
    "\\data\\\nngram 1=5\nngram 2=2\n\n"
    "\\1-grams:\n-1.0\t<unk>\t0\n-99\t<s>\t-0.3\n-1.0\t</s>\t0\n-0.5\tTHE\t-0.2\n-0.7\tCAT\t-0.1\n\n"
    "\\2-grams:\n-0.2\t<s> THE\n-0.3\tTHE CAT\n\n\\end\\\n"
)


def test_a_whole_arpa_file_gives_its_words(tmp_path):
    (tmp_path / "lm.arpa").write_text(ARPA)
    assert arpa_unigrams(tmp_path / "lm.arpa") == ["THE", "CAT"]


@pytest.mark.parametrize(
    "damage, message",
    [
        # cut inside the 1-grams: the words after the cut were silently missing
        (lambda text: text[: text.index("-0.7\tCAT")],
         "1-grams: the header declares 5, the file holds 4; 2-grams: the header declares 2, the file holds 0; "
         "no \\end\\ line"),
        (lambda text: text[: text.index("\\end\\")], "no \\end\\ line at the end"),
        (lambda text: text.replace("ngram 2=2", "ngram 2=3"), "2-grams: the header declares 3, the file holds 2"),
    ],
)
def test_a_truncated_or_inconsistent_arpa_file_is_an_error(tmp_path, capsys, damage, message):
    arpa = tmp_path / "lm.arpa"
    arpa.write_text(damage(ARPA))
    with pytest.raises(ArpaError) as error_info:
        arpa_unigrams(arpa)
    assert str(error_info.value).startswith(f"{arpa}: the ARPA file is incomplete or damaged (")
    assert message in str(error_info.value) and "fetch or write it again" in str(error_info.value)
    with pytest.raises(SystemExit) as exit_info:
        build_lexicon_main(["--arpa", str(arpa), "--out", str(tmp_path / "lexicon.txt")])
    assert exit_info.value.code == 2 and "incomplete or damaged" in capsys.readouterr().err
    assert not (tmp_path / "lexicon.txt").exists()


def test_arpa_section_errors_name_the_line(tmp_path):
    arpa = tmp_path / "lm.arpa"
    arpa.write_text(ARPA.replace("\\2-grams:", "\\3-grams:"))
    with pytest.raises(ArpaError, match=r"lm\.arpa:12: section \\3-grams: is not declared"):
        arpa_unigrams(arpa)


# --------------------------------------------------------------------------- sentiment labels


@pytest.mark.parametrize(
    "label, looks_like", [("positive", "Positive"), ("NEGATIVE", "Negative"), ("Neu tral", "Neutral"), ("Postive", "Positive")]
)
def test_sentiment_near_miss_is_an_error(label, looks_like):
    with pytest.raises(ValueError, match=f"hypothesis utterance 2: label {label!r} looks like the SLUE class {looks_like!r}"):
        sentiment_scores(["Positive", "Negative"], ["Positive", label])


def test_sentiment_labels_differing_only_in_case_are_an_error():
    with pytest.raises(ValueError, match="hypothesis utterance 1: label 'mixed' differs from the label 'Mixed' only in case"):
        sentiment_scores(["Mixed", "Positive"], ["mixed", "Positive"])


def test_sentiment_cli_names_file_and_line_of_a_near_miss(tmp_path, capsys):
    (tmp_path / "ref.sent").write_text("Positive\nNegative\nNeutral\n")
    (tmp_path / "hyp.sent").write_text("Positive\nnegative\nNeutral\n")
    with pytest.raises(SystemExit) as exit_info:
        score_main(["sentiment", "--ref", str(tmp_path / "ref.sent"), "--hyp", str(tmp_path / "hyp.sent")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert f"hypothesis {tmp_path / 'hyp.sent'}:2: label 'negative' looks like the SLUE class 'Negative'" in err
    # White space around a label is stripped as before, and other labels are scored as they are.
    assert sentiment_scores(["Positive", "<mixed>"], ["Positive ", "<mixed>"])["macro_f1"] == 100.0
