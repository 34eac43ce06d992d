"""The ``.ltr`` spelling (gcaf_fairseq.data.letters): one home for prep, the demo corpora,
the NER labels and the lexicon."""

import subprocess
import sys

import pytest

from gcaf_fairseq.data.letters import WORD_BOUNDARY, letters_line, spell
from gcaf_fairseq.data.lexicon import spell as lexicon_spell
from gcaf_fairseq.prep.ner_labels import e2e_ner_letters


def test_librispeech_letters_end_with_a_boundary():
    assert letters_line("HI YOU") == "H I | Y O U |"
    assert letters_line("HI YOU", final_boundary=True) == "H I | Y O U |"


def test_slue_asr_letters_have_no_final_boundary():
    assert letters_line("hi you", final_boundary=False) == "h i | y o u"


def test_every_character_is_a_token_and_each_space_one_boundary():
    assert letters_line("DON'T GO") == "D O N ' T | G O |"
    assert letters_line("a ] b") == "a | ] | b |"
    assert letters_line("A  B", final_boundary=False) == "A | | B"  # as SLUE-toolkit writes repeated spaces
    assert letters_line("") == " |" and letters_line("", final_boundary=False) == ""


def test_lexicon_spelling_is_the_letters_of_one_word():
    assert WORD_BOUNDARY == "|"
    assert spell("DON'T") == ["D", "O", "N", "'", "T", "|"]
    assert lexicon_spell is spell
    for word in ("A", "CAT", "O'CLOCK"):
        assert " ".join(spell(word)) == letters_line(word)


@pytest.mark.parametrize("wrd_line", ["the council 's ] plan", "x", "` a ] b"])
def test_ner_letters_come_from_the_same_home(wrd_line):
    assert e2e_ner_letters(wrd_line) == letters_line(wrd_line, final_boundary=True)


def test_format_homes_are_pure_python():
    modules = [
        "gcaf_fairseq.data.letters", "gcaf_fairseq.data.symbol_dictionary", "gcaf_fairseq.data.manifest",
        "gcaf_fairseq.data.audio_headers", "gcaf_fairseq.data.fingerprints", "gcaf_fairseq.data.atomic_files", "gcaf_fairseq.data.utterance_table", "gcaf_fairseq.data.lexicon",
        "gcaf_fairseq.prep", "gcaf_fairseq.cli.build_lexicon", "gcaf_fairseq.scoring.wer",
    ]
    code = "import sys\n" + "".join(f"import {module}\n" for module in modules)
    code += "print(sorted(name for name in ('torch', 'fairseq') if name in sys.modules))"
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert output.strip() == "[]"
