"""The language models of the papers' +LM decodings: which one each task needs, the beam, LM
weight and word score it is decoded with, and the record (``lm.json``) that says which LM
decoded a folder. The one home of these settings (pure Python, no torch or fairseq).

Three LMs, one per **role**:

- ``librispeech``: the OpenSLR-11 LibriSpeech 4-gram and its lexicon, wav2vec 2.0's LM
  decoding (LM weight about 2, word score about -1). For Libri-light; the papers' Libri-light
  tables have no +LM cell.
- ``slue-asr``: SLUE's TED-LIUM 3 3-gram (SLUE-toolkit ``scripts/build_t3_lm.sh``: the
  TED-LIUM 3 LM text, lower-cased, ``lmplz --skip_symbols -o 3``) for VoxCeleb and VoxPopuli
  ASR, decoded as ``slue_toolkit/eval/eval_w2v.py``'s defaults: beam 500, LM weight 2, word
  score -1.
- ``slue-ner``: SLUE's VoxPopuli NER 4-gram (``scripts/build_vp_ner_lm.sh``: the fine-tune
  set's end-to-end NER words *with* the entity tag characters, ``e2e_ner/fine-tune.raw.wrd``,
  ``lmplz --skip_symbols -o 4``, not lower-cased) with its own lexicon
  (``slue_toolkit/prepare/create_lexicon.py``), decoded as ``baselines/ner/e2e_scripts/eval-ner.sh``
  does: beam 500, LM weight 2, word score 1.

CA §3.1.2 follows SLUE's LM decoding, so the +LM cells of CA Tables 1-5 need ``slue-asr``
(ASR columns) or ``slue-ner`` (NER columns). ``python -m gcaf_fairseq.data.language_models
ROLE`` prints ``BEAM LM_WEIGHT WORD_SCORE`` (``scripts/recipes/decode.sh`` reads its defaults
from it).

**The LM record** ``lm.json`` sits in each +LM decoding folder (``RUN/decode/SUBSET+lm/``)::

    {"role": "slue-ner", "lm": PATH, "lm_sha256": HEX, "lexicon": PATH, "lexicon_sha256": HEX,
     "beam": 500, "lm_weight": 2.0, "word_score": 1.0}

The table builder refuses a +LM cell whose record is missing, names another role, or (when
it is told which files the LMs are) another file.
"""

import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from .atomic_files import write_text_atomically

LM_RECORD = "lm.json"


@dataclass(frozen=True)
class LanguageModelRole:
    """One LM of the papers' decodings and how it is decoded."""

    name: str
    description: str
    order: int  # the n of the n-gram
    beam: int
    lm_weight: float
    word_score: float
    source: str  # where the model and the settings come from

    def settings(self) -> Dict[str, Any]:
        return {"beam": self.beam, "lm_weight": self.lm_weight, "word_score": self.word_score}

    def describe_settings(self) -> str:
        return f"beam {self.beam}, LM weight {self.lm_weight:g}, word score {self.word_score:g}"


LM_ROLES: Dict[str, LanguageModelRole] = {role.name: role for role in (
    LanguageModelRole(
        "librispeech", "LibriSpeech 4-gram (OpenSLR 11)", 4, 500, 2.0, -1.0,
        "wav2vec 2.0's LM decoding (LM weight about 2, word score about -1, tuned per setting)"),
    LanguageModelRole(
        "slue-asr", "TED-LIUM 3 3-gram", 3, 500, 2.0, -1.0,
        "SLUE-toolkit scripts/build_t3_lm.sh; slue_toolkit/eval/eval_w2v.py's beam_size, lm_weight, word_score"),
    LanguageModelRole(
        "slue-ner", "VoxPopuli NER 4-gram, on the fine-tune text with its entity tag characters", 4, 500, 2.0, 1.0,
        "SLUE-toolkit scripts/build_vp_ner_lm.sh; baselines/ner/e2e_scripts/eval-ner.sh's beam, lm_wt, ws"),
)}


#: the recipes' options that give each role's LM
LM_OPTIONS = {"librispeech": "--lm FILE --lexicon FILE", "slue-asr": "--lm-asr FILE --lexicon-asr FILE",
              "slue-ner": "--lm-ner FILE [--lexicon-ner FILE]"}


def lm_role(dataset: str, task: str) -> str:
    """The role of the LM a +LM decoding of ``dataset``/``task`` needs."""
    if dataset == "librilight":
        return "librispeech"
    if task == "ner":
        return "slue-ner"
    if task == "asr":
        return "slue-asr"
    raise ValueError(f"{dataset} {task}: no LM decoding (a classifier's output is not decoded with an LM)")


def ngram_commands(text: Path, arpa: Path, binary: Path, order: int, lowercase: bool) -> List[str]:
    """The shell commands of SLUE-toolkit's ``scripts/create_ngram.sh``: KenLM's ``lmplz
    --skip_symbols -o N`` on ``text`` (lower-cased first unless it is NER text), then
    ``build_binary``."""
    source = f"tr '[A-Z]' '[a-z]' < {shlex.quote(str(text))}" if lowercase else f"cat {shlex.quote(str(text))}"
    return [f"{source} | lmplz --skip_symbols -o {order} > {shlex.quote(str(arpa))}",
            f"build_binary {shlex.quote(str(arpa))} {shlex.quote(str(binary))}"]


class LmRecordError(ValueError):
    """An ``lm.json`` that cannot be read; the message names the file."""


def write_lm_record(folder, role: str, lm: str, lm_sha256: str, lexicon: Optional[str],
                    lexicon_sha256: Optional[str], settings: Dict[str, Any]) -> Path:
    """Write ``folder/lm.json`` atomically (which LM, by path and content, decoded ``folder``)."""
    if role not in LM_ROLES:
        raise ValueError(f"unknown LM role {role!r}; known: {', '.join(LM_ROLES)}")
    path = Path(folder) / LM_RECORD
    record = {"role": role, "lm": str(lm), "lm_sha256": lm_sha256,
              "lexicon": None if lexicon is None else str(lexicon), "lexicon_sha256": lexicon_sha256, **settings}
    write_text_atomically(path, json.dumps(record, indent=2) + "\n")
    return path


def read_lm_record(folder) -> Optional[Dict[str, Any]]:
    """``folder/lm.json``, or None when there is none; ``LmRecordError`` naming the file when
    it is not a record."""
    path = Path(folder) / LM_RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise LmRecordError(f"{path}: unreadable ({error})") from None
    if not isinstance(record, dict) or not isinstance(record.get("role"), str) or not record.get("lm_sha256"):
        raise LmRecordError(f"{path}: not an LM record (needs role and lm_sha256)")
    return record


def lm_record_problem(folder, needed_role: str, expected_sha256: Optional[Dict[str, str]] = None) -> Optional[str]:
    """Why the +LM decoding in ``folder`` cannot fill a cell that needs the ``needed_role`` LM
    (``expected_sha256``: role -> the sha256 of the file that role must be), or None."""
    try:
        record = read_lm_record(folder)
    except LmRecordError as error:
        return f"LM unknown: {error}"
    needed = LM_ROLES[needed_role]
    if record is None:
        return (f"LM unknown: no {LM_RECORD} in {folder}, so which LM decoded it cannot be told; this cell needs the "
                f"{needed_role} LM ({needed.description}): decode again with the recipe")
    role = record["role"]
    if role != needed_role:
        return (f"decoded with the {role} LM ({record.get('lm')}); this cell needs the {needed_role} LM "
                f"({needed.description}): decode again with it")
    want = (expected_sha256 or {}).get(needed_role)
    if want is not None and record["lm_sha256"] != want:
        return (f"decoded with another {needed_role} LM ({record.get('lm')}, sha256 {record['lm_sha256'][:12]}) than "
                f"the one given (sha256 {want[:12]}): decode again")
    return None


def main(argv: Optional[List[str]] = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1 or argv[0] not in LM_ROLES:
        sys.exit(f"usage: python -m gcaf_fairseq.data.language_models {{{','.join(LM_ROLES)}}}: prints BEAM "
                 "LM_WEIGHT WORD_SCORE")
    role = LM_ROLES[argv[0]]
    print(f"{role.beam} {role.lm_weight:g} {role.word_score:g}")


if __name__ == "__main__":
    main()
