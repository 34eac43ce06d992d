"""The SLUE score: ``((100 - (WER_vp + WER_vc) / 2) + SA_macro_F1 + NER_F1) / 3``.

Every input is in percent. Each can be given as a number or as the path of a JSON
object printed by ``gcaf-score`` (``wer`` for the two ASR results, ``macro_f1`` for
sentiment, ``f1`` for NER); the SLUE score uses NER F1 on the combined tags, so a NER
result scored with ``--tags raw`` is refused.
"""

import json
import math
from typing import Dict, Optional, Union

Number = Union[int, float]

#: The key each input is read from when it is a ``gcaf-score`` JSON result.
RESULT_KEYS = {"vp_wer": "wer", "vc_wer": "wer", "sa_f1": "macro_f1", "ner_f1": "f1"}


class ResultFileError(ValueError):
    """A result argument is neither a number nor a readable JSON result with the key."""


def slue_score(vp_wer: Number, vc_wer: Number, sa_f1: Number, ner_f1: Number) -> float:
    """``((100 - (vp_wer + vc_wer) / 2) + sa_f1 + ner_f1) / 3``, all in percent."""
    return ((100 - (vp_wer + vc_wer) / 2) + sa_f1 + ner_f1) / 3


def read_result(value: str, key: str, name: Optional[str] = None) -> float:
    """A number given on the command line, or ``key`` of the JSON object in file ``value``.

    A string that parses as a finite float is a number (it is never looked up as a file).
    """
    name = name or key
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        if not math.isfinite(number):
            raise ResultFileError(f"{name}: {value!r} is not a finite number")
        return number
    try:
        with open(value, encoding="utf-8") as handle:
            result = json.load(handle)
    except OSError as error:
        raise ResultFileError(f"{name}: {value!r} is neither a number nor a readable file ({error})") from None
    except json.JSONDecodeError as error:
        raise ResultFileError(f"{name}: {value} is not a JSON result ({error})") from None
    if not isinstance(result, dict) or key not in result:
        raise ResultFileError(f"{name}: {value} has no key {key!r}")
    if key == "f1" and result.get("tags", "combined") != "combined":
        raise ResultFileError(
            f"{name}: {value} was scored with --tags {result.get('tags')}; the SLUE score uses NER F1 "
            "on the combined tags (gcaf-score ner --tags combined)"
        )
    number = result[key]
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
        raise ResultFileError(f"{name}: {key!r} in {value} is {number!r}, not a finite number")
    return float(number)


def slue_score_from_results(vp_wer: str, vc_wer: str, sa_f1: str, ner_f1: str) -> Dict[str, float]:
    """Reads the four inputs (numbers or result files, see :func:`read_result`) and returns
    ``slue_score`` with the inputs and ``asr_term`` (``100 - mean WER``)."""
    values = {
        name: read_result(argument, RESULT_KEYS[name], name)
        for name, argument in (("vp_wer", vp_wer), ("vc_wer", vc_wer), ("sa_f1", sa_f1), ("ner_f1", ner_f1))
    }
    return {
        "slue_score": slue_score(values["vp_wer"], values["vc_wer"], values["sa_f1"], values["ner_f1"]),
        "asr_term": 100 - (values["vp_wer"] + values["vc_wer"]) / 2,
        **values,
    }
