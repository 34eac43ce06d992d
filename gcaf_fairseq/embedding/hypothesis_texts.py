"""Decoded hypotheses as ``{utterance id: text}``: the first pass of two-pass decoding with
the decoder's own previous text (``gcaf-context-texts --hypotheses``).

Three files are read, told apart by their names:

- ``SUBSET.hyp.wrd``: the id-ordered result files that ``fairseq-generate --decoding-output``
  writes; the ids are line for line in ``SUBSET.ids`` beside it;
- ``*.jsonl``: JSON lines ``{"id", "text"}`` (the hypothesis file ``gcaf-generate-context
  --previous-text-from`` reads);
- anything else: fairseq-generate's ``generate-SUBSET.txt``, whose ``D-N`` lines hold the
  hypothesis of dataset index ``N``; the split's manifest (``SUBSET.tsv``) names the
  utterance of each index (row ``N`` of the manifest, as fairseq's ``FileAudioDataset``
  numbers them). Every index must be there exactly once: a manifest row that fairseq left
  out (shorter than ``min_sample_size``, or skipped as too long) is an error, never a
  silent shift of every later id.

Errors name the file and the line.
"""

import os
from typing import Dict, List, Optional

from ..data.manifest import read_manifest, utterance_id_of
from .texts_file import read_text_records

ID_ORDERED_SUFFIX = ".hyp.wrd"


class HypothesisFileError(ValueError):
    """A hypothesis file that cannot be read as one hypothesis per utterance."""


def read_lines(path: str) -> List[str]:
    """The lines of a UTF-8 file, split at ``\\n`` only (a hypothesis may hold any other
    character); a final line end adds no empty line."""
    with open(path, encoding="utf-8", newline="") as handle:
        lines = handle.read().split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_hypotheses(path, manifest: Optional[str] = None) -> Dict[str, str]:
    """The hypotheses of ``path`` (see the module docstring) by utterance id; ``manifest``
    is needed for a ``generate-SUBSET.txt`` file, and only there."""
    path = os.fspath(path)
    if path.endswith(ID_ORDERED_SUFFIX):
        return read_id_ordered_hypotheses(path)
    if path.endswith(".jsonl"):
        try:
            return dict(read_text_records(path, "id", "text"))
        except ValueError as error:
            raise HypothesisFileError(str(error)) from error
    if manifest is None:
        raise HypothesisFileError(
            f"{path}: a fairseq-generate output names dataset indices, not utterance ids: give the "
            "split's manifest (--manifest SUBSET.tsv), or use the id-ordered SUBSET.hyp.wrd of --decoding-output"
        )
    return read_generate_hypotheses(path, manifest)


def read_id_ordered_hypotheses(path: str) -> Dict[str, str]:
    """``SUBSET.hyp.wrd`` with its ``SUBSET.ids``: line ``k`` of one is the text of line ``k``
    of the other."""
    ids_path = path[: -len(ID_ORDERED_SUFFIX)] + ".ids"
    if not os.path.exists(ids_path):
        raise HypothesisFileError(f"{path}: its utterance ids {ids_path} do not exist (fairseq-generate --decoding-output writes both)")
    ids, texts = read_lines(ids_path), read_lines(path)
    if len(ids) != len(texts):
        raise HypothesisFileError(f"{path} has {len(texts)} lines but {ids_path} has {len(ids)}: they must pair line by line")
    hypotheses, line_of_id = {}, {}
    for line_number, (utterance_id, text) in enumerate(zip(ids, texts), start=1):
        utterance_id = utterance_id.strip()
        if not utterance_id:
            raise HypothesisFileError(f"{ids_path}:{line_number}: empty utterance id")
        if utterance_id in line_of_id:
            raise HypothesisFileError(f"{ids_path}:{line_number}: id {utterance_id} repeats line {line_of_id[utterance_id]}")
        line_of_id[utterance_id] = line_number
        hypotheses[utterance_id] = text.strip()
    return hypotheses


def read_generate_hypotheses(path: str, manifest: str) -> Dict[str, str]:
    """The ``D-N<TAB>SCORE<TAB>TEXT`` lines of fairseq-generate's output, index ``N`` named by
    row ``N`` of ``manifest``."""
    _root, rows = read_manifest(manifest)
    text_of_index, line_of_index = {}, {}
    for line_number, line in enumerate(read_lines(path), start=1):
        if not line.startswith("D-"):
            continue
        where = f"{path}:{line_number}"
        fields = line[2:].split("\t", 2)
        if len(fields) < 2 or not fields[0].isdigit():
            raise HypothesisFileError(f"{where}: expected D-INDEX<TAB>SCORE<TAB>TEXT, got {line[:80]!r}")
        index = int(fields[0])
        if index in line_of_index:
            raise HypothesisFileError(f"{where}: index {index} repeats line {line_of_index[index]}")
        if index >= len(rows):
            raise HypothesisFileError(f"{where}: index {index}, but {manifest} has {len(rows)} utterances: is it this split's manifest?")
        line_of_index[index] = line_number
        text_of_index[index] = fields[2].strip() if len(fields) > 2 else ""
    if not text_of_index:
        raise HypothesisFileError(f"{path}: no D- lines: not a fairseq-generate output (or it was written with --quiet)")
    absent = [index for index in range(len(rows)) if index not in text_of_index]
    if absent:
        shown = ", ".join(f"{index} ({utterance_id_of(rows[index].path)})" for index in absent[:5])
        raise HypothesisFileError(
            f"{path} decodes {len(text_of_index)} of the {len(rows)} utterances of {manifest}; missing indices: "
            f"{shown}{' ...' if len(absent) > 5 else ''}. fairseq leaves out rows shorter than min_sample_size or "
            "too long for --max-tokens: decode every utterance, or use the id-ordered SUBSET.hyp.wrd of --decoding-output"
        )
    hypotheses = {}
    for index, text in sorted(text_of_index.items()):
        utterance_id = utterance_id_of(rows[index].path)
        if utterance_id in hypotheses:
            raise HypothesisFileError(f"{manifest}:{rows[index].line}: utterance id {utterance_id} repeats: ids must be unique")
        hypotheses[utterance_id] = text
    return hypotheses
