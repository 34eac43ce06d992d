"""The language models of the +LM decodings (gcaf_fairseq/data/language_models.py): the LM each
task needs and its decoding settings, as SLUE-toolkit sets them (read in asappresearch/slue-toolkit:
slue_toolkit/eval/eval_w2v.py, baselines/ner/e2e_scripts/eval-ner.sh, scripts/build_t3_lm.sh,
scripts/build_vp_ner_lm.sh, scripts/create_ngram.sh), the one home scripts/recipes/decode.sh reads,
and the lm.json record a +LM cell is checked against."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gcaf_fairseq.data.language_models import (
    LM_ROLES, lm_record_problem, lm_role, ngram_commands, read_lm_record, write_lm_record,
)

REPOSITORY = Path(__file__).resolve().parents[2]


def test_slue_asr_lm_is_the_ted_lium_3_trigram_decoded_with_eval_w2v_defaults():
    """slue_toolkit/eval/eval_w2v.py: eval_ctc_model(lm="nolm-argmax", beam_size=500, lm_weight=2.0,
    word_score=-1.0); its ASR LM "t3/3" is scripts/build_t3_lm.sh's 3-gram."""
    role = LM_ROLES["slue-asr"]
    assert (role.order, role.beam, role.lm_weight, role.word_score) == (3, 500, 2.0, -1.0)
    assert lm_role("voxceleb", "asr") == lm_role("voxpopuli", "asr") == "slue-asr"


def test_slue_ner_lm_is_the_voxpopuli_ner_4gram_decoded_as_eval_ner_sh():
    """baselines/ner/e2e_scripts/eval-ner.sh: beam=500, lm_wt=2, ws=1, lm vp_ner/4 (scripts/build_vp_ner_lm.sh:
    create_ngram.sh on e2e_ner/fine-tune.raw.wrd with n = 4)."""
    role = LM_ROLES["slue-ner"]
    assert (role.order, role.beam, role.lm_weight, role.word_score) == (4, 500, 2.0, 1.0)
    assert lm_role("voxpopuli", "ner") == "slue-ner" and lm_role("librilight", "asr") == "librispeech"
    with pytest.raises(ValueError, match="no LM decoding"):
        lm_role("voxceleb", "sentiment")


def test_ngram_commands_are_create_ngram_sh():
    """scripts/create_ngram.sh: NER text (a path with "ner") goes to lmplz as it is, other text
    lower-cased with tr; lmplz --skip_symbols -o N, then build_binary."""
    ner = ngram_commands(Path("/d/e2e_ner/fine-tune.raw.wrd"), Path("/lm/4gram.arpa"), Path("/lm/4gram.bin"), 4, False)
    assert ner == ["cat /d/e2e_ner/fine-tune.raw.wrd | lmplz --skip_symbols -o 4 > /lm/4gram.arpa",
                   "build_binary /lm/4gram.arpa /lm/4gram.bin"]
    asr = ngram_commands(Path("/t3/all_text.en"), Path("/lm/3gram.arpa"), Path("/lm/3gram.bin"), 3, True)
    assert asr[0] == "tr '[A-Z]' '[a-z]' < /t3/all_text.en | lmplz --skip_symbols -o 3 > /lm/3gram.arpa"


def test_the_decoding_options_default_to_the_asr_settings():
    from gcaf_fairseq.decoding.config import DecodingConfig

    config, role = DecodingConfig(), LM_ROLES["slue-asr"]
    assert (config.decoder_beam, config.decoder_lm_weight, config.decoder_word_score) == (
        role.beam, role.lm_weight, role.word_score)


@pytest.mark.parametrize("environment, expected", [
    ({}, ["--decoder-beam", "500", "--decoder-lm-weight", "2", "--decoder-word-score", "-1"]),
    ({"LM_ROLE": "slue-ner"}, ["--decoder-beam", "500", "--decoder-lm-weight", "2", "--decoder-word-score", "1"]),
    ({"LM_ROLE": "slue-ner", "BEAM": "20"}, ["--decoder-beam", "20", "--decoder-lm-weight", "2",
                                              "--decoder-word-score", "1"]),
])
def test_decode_sh_reads_its_lm_settings_from_the_one_table(tmp_path, environment, expected):
    """scripts/recipes/decode.sh asks gcaf_fairseq.data.language_models for its defaults (a
    fairseq-generate stand-in on PATH records the command line it is given)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "fairseq-generate"
    stand_in.write_text(f"#!{sys.executable}\nimport json, pathlib, sys\nargs = sys.argv[1:]\n"
                        "out = pathlib.Path(args[args.index('--results-path') + 1])\n"
                        "subset = args[args.index('--gen-subset') + 1]\n"
                        "(out / f'{subset}.wer.json').write_text(json.dumps(args))\n")
    stand_in.chmod(0o755)
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(
        ["bash", str(REPOSITORY / "scripts" / "recipes" / "decode.sh"), "data", "ckpt.pt", "dev", str(out), "lm.bin",
         "lexicon.lst"], capture_output=True, text=True,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHON": sys.executable, **environment})
    assert result.returncode == 0, result.stderr
    arguments = json.loads((out / "dev.wer.json").read_text())
    start = arguments.index("--decoder-beam")
    assert arguments[start:start + 6] == expected
    assert arguments[arguments.index("--decoder-lm") + 1] == "lm.bin"


def test_the_lm_record_names_the_role_and_the_file(tmp_path):
    folder = tmp_path / "dev+lm"
    folder.mkdir()
    assert lm_record_problem(folder, "slue-ner").startswith(f"LM unknown: no lm.json in {folder}")
    write_lm_record(folder, "slue-asr", "/lm/t3.bin", "a" * 64, "/lm/t3.lst", "b" * 64, LM_ROLES["slue-asr"].settings())
    assert read_lm_record(folder)["word_score"] == -1.0
    assert lm_record_problem(folder, "slue-ner") == (
        "decoded with the slue-asr LM (/lm/t3.bin); this cell needs the slue-ner LM (VoxPopuli NER 4-gram, on the "
        "fine-tune text with its entity tag characters): decode again with it")
    assert lm_record_problem(folder, "slue-asr") is None
    assert lm_record_problem(folder, "slue-asr", {"slue-asr": "a" * 64}) is None
    assert "another slue-asr LM (/lm/t3.bin, sha256 aaaaaaaaaaaa) than the one given (sha256 cccccccccccc)" in \
        lm_record_problem(folder, "slue-asr", {"slue-asr": "c" * 64})
    (folder / "lm.json").write_text("{not json")
    assert lm_record_problem(folder, "slue-asr").startswith(f"LM unknown: {folder / 'lm.json'}: unreadable")
    with pytest.raises(ValueError, match="unknown LM role 'ted'"):
        write_lm_record(folder, "ted", "/lm", "a", None, None, {})
