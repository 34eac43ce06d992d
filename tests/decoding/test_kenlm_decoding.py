"""KenLM beam search through flashlight-text, on emissions built so that greedy decoding
spells a word wrong and the language model fixes it."""

import json
import math

import pytest
import torch
from fairseq.data import Dictionary

from gcaf_fairseq.cli.build_lexicon import main as build_lexicon_main
from gcaf_fairseq.data.lexicon import arpa_unigrams, read_lexicon, spell
from gcaf_fairseq.decoding.ctc_decoders import KenLMDecoder, ViterbiDecoder

WORD_ARPA = """\\data\\
ngram 1=6
ngram 2=2

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t0
-1.0\t</s>\t0
-0.5\tTHE\t0
-0.7\tCAT\t0
-0.8\tSAT\t0

\\2-grams:
-0.2\t<s> THE
-0.3\tTHE CAT

\\end\\
"""

# A letter LM: 'C' is likely, 'K' very unlikely.
LETTER_ARPA = """\\data\\
ngram 1={count}
ngram 2=1

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t0
-1.0\t</s>\t0
{letters}
\\2-grams:
-0.5\t<s> T

\\end\\
"""


def letter_dictionary():
    dictionary = Dictionary()
    for symbol in "|ETAHCKS":
        dictionary.add_symbol(symbol)
    return dictionary


def emissions_for(frames, dictionary):
    """Log-probabilities ``(frame, vocab)``: each frame is a dict symbol -> probability, the
    rest shares what is left; ``<s>`` (index 0) is the CTC blank."""
    log_probs = torch.full((len(frames), len(dictionary)), 0.0)
    for t, probabilities in enumerate(frames):
        rest = (1.0 - sum(probabilities.values())) / (len(dictionary) - len(probabilities))
        for index in range(len(dictionary)):
            symbol = dictionary[index]
            log_probs[t, index] = math.log(probabilities.get(symbol, rest))
    return log_probs


def ambiguous_the_cat(dictionary, rival="K"):
    """T H E | ? A T | where ? is ``rival`` (p 0.5) or C (p 0.45)."""
    sure = lambda symbol: {symbol: 0.96}  # noqa: E731
    frames = [sure("T"), sure("H"), sure("E"), sure("|"), {rival: 0.5, "C": 0.45}, sure("A"), sure("T"), sure("|")]
    blank = {"<s>": 0.96}
    with_blanks = []
    for frame in frames:
        with_blanks += [frame, blank]
    return emissions_for(with_blanks, dictionary)


@pytest.fixture
def word_lm(tmp_path):
    arpa = tmp_path / "words.arpa"
    arpa.write_text(WORD_ARPA)
    return arpa


def test_greedy_misspells_and_the_word_lm_with_a_lexicon_fixes_it(word_lm, tmp_path, capsys):
    dictionary = letter_dictionary()
    (tmp_path / "dict.ltr.txt").write_text("".join(f"{dictionary[i]} 1\n" for i in range(dictionary.nspecial, len(dictionary))))
    build_lexicon_main(["--arpa", str(word_lm), "--dict", str(tmp_path / "dict.ltr.txt"), "--out", str(tmp_path / "lexicon.txt")])
    summary = json.loads(capsys.readouterr().out)
    assert summary["words"] == 3 and summary["skipped"] == 0
    assert read_lexicon(tmp_path / "lexicon.txt")["CAT"] == [["C", "A", "T", "|"]]

    log_probs = ambiguous_the_cat(dictionary)
    assert ViterbiDecoder(dictionary).decode(log_probs)["words"] == ["THE", "KAT"]
    decoder = KenLMDecoder(dictionary, str(word_lm), str(tmp_path / "lexicon.txt"), beam=50, lm_weight=2.0, word_score=-1.0)
    hypothesis = decoder.decode(log_probs)
    assert hypothesis["words"] == ["THE", "CAT"]
    assert dictionary.string(hypothesis["tokens"]) == "T H E | C A T |"
    assert len(hypothesis["positional_scores"]) == len(hypothesis["tokens"])
    # With no LM weight the acoustic evidence wins again... but the lexicon still has no KAT:
    no_lm = KenLMDecoder(dictionary, str(word_lm), str(tmp_path / "lexicon.txt"), beam=50, lm_weight=0.0, word_score=0.0)
    assert no_lm.decode(log_probs)["words"] == ["THE", "CAT"]


def test_the_language_model_chooses_between_two_lexicon_words(word_lm, tmp_path):
    dictionary = letter_dictionary()
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("CAT\tC A T |\nSAT\tS A T |\nTHE\tT H E |\n")
    log_probs = ambiguous_the_cat(dictionary, rival="S")
    assert ViterbiDecoder(dictionary).decode(log_probs)["words"] == ["THE", "SAT"]
    acoustic_only = KenLMDecoder(dictionary, str(word_lm), str(lexicon), beam=50, lm_weight=0.0, word_score=0.0)
    assert acoustic_only.decode(log_probs)["words"] == ["THE", "SAT"]
    with_lm = KenLMDecoder(dictionary, str(word_lm), str(lexicon), beam=50, lm_weight=2.0, word_score=-1.0)
    assert with_lm.decode(log_probs)["words"] == ["THE", "CAT"]  # the bigram THE CAT wins


def test_lexicon_free_decoding_with_a_letter_lm_fixes_it(tmp_path):
    dictionary = letter_dictionary()
    scores = {"K": -4.0, "C": -0.5}
    letters = "".join(f"{scores.get(s, -1.0)}\t{s}\t0\n" for s in "|ETAHCKS")
    arpa = tmp_path / "letters.arpa"
    arpa.write_text(LETTER_ARPA.format(count=3 + 8, letters=letters))
    log_probs = ambiguous_the_cat(dictionary)
    decoder = KenLMDecoder(dictionary, str(arpa), None, beam=50, lm_weight=1.0)
    assert decoder.decode(log_probs)["words"] == ["THE", "CAT"]


def test_lexicon_errors_name_the_file_and_line(tmp_path, word_lm):
    bad = tmp_path / "bad.txt"
    bad.write_text("THE T H E |\nCAT\n")
    with pytest.raises(ValueError, match=r"bad\.txt:2: expected 'WORD SPELLING"):
        read_lexicon(bad)
    unspellable = tmp_path / "unspellable.txt"
    unspellable.write_text("DOG D O G |\n")
    with pytest.raises(ValueError, match=r"spelling of 'DOG' uses \['D', 'O', 'G'\]"):
        KenLMDecoder(letter_dictionary(), str(word_lm), str(unspellable), beam=5)
    not_arpa = tmp_path / "x.arpa"
    not_arpa.write_text("hello\n")
    with pytest.raises(ValueError, match="no 1-grams found"):
        arpa_unigrams(not_arpa)


def test_the_lexicon_builder_skips_and_counts_unspellable_words(tmp_path, capsys):
    (tmp_path / "words.txt").write_text("THE CAT THE\nDOG\n")
    (tmp_path / "dict.ltr.txt").write_text("".join(f"{s} 1\n" for s in "|ETAHC"))
    build_lexicon_main(["--words", str(tmp_path / "words.txt"), "--dict", str(tmp_path / "dict.ltr.txt"), "--out", str(tmp_path / "lex.txt")])
    summary = json.loads(capsys.readouterr().out)
    assert summary["words"] == 2 and summary["skipped"] == 1 and summary["first_skipped"] == ["DOG"]
    assert (tmp_path / "lex.txt").read_text() == "CAT\tC A T |\nTHE\tT H E |\n"
    assert spell("DON'T") == ["D", "O", "N", "'", "T", "|"]
