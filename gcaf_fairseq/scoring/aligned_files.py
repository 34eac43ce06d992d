"""Reading a reference file and a hypothesis file as aligned pairs of utterances.

One source of truth for every ``gcaf-score`` subcommand. Files are UTF-8 text, one
utterance per line (``\\n`` or ``\\r\\n``; a final newline ends the last line, it does not
add an empty one; any other empty line is an utterance with empty text). How a line is
split into an id and a text is the *id format*:

``line``
    no ids: line ``k`` of the reference pairs with line ``k`` of the hypothesis. Both
    files must have the same number of lines.
``tsv``
    ``ID<TAB>TEXT`` (the text may be empty, ``ID<TAB>``; it runs to the end of the line
    and may itself hold tabs).
``first-field``
    the first whitespace-separated field is the id, the rest of the line (after the
    whitespace that follows the id) is the text, as in LibriSpeech's ``*.trans.txt``.
``fairseq``
    ``TEXT (SPEAKER-N)`` as fairseq's ``infer.py`` (and SLUE-toolkit's ``infer_asr``)
    write ``hypo.word-*.txt`` / ``ref.word-*.txt``; the line is stripped, the id is the
    sample index ``N``, an empty text is written as ``(None-N)`` alone.

With ids, pairs are matched by id and returned in reference order; each file must hold
every id exactly once. Any mismatch in count or ids raises :class:`AlignmentError`
naming the first difference (file, line and id); nothing is ever silently truncated.
"""

import re
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

ID_FORMATS = ("line", "tsv", "first-field", "fairseq")

_FAIRSEQ_SUFFIX = re.compile(r"^(?:(.*) )?\(([^()\s]*)-(\d+)\)$", re.DOTALL)


class AlignmentError(ValueError):
    """Reference and hypothesis cannot be paired (count or id mismatch, malformed line)."""


class AlignedTexts(NamedTuple):
    """Pairs in reference order. ``ids`` are the utterance ids, or for ``line`` format
    the 1-based line numbers as strings. ``ref_lines``/``hyp_lines`` are the source line
    numbers of each pair (1-based)."""

    ids: List[str]
    refs: List[str]
    hyps: List[str]
    ref_lines: List[int]
    hyp_lines: List[int]

    def __len__(self) -> int:  # number of utterances
        return len(self.ids)


def read_lines(path: str) -> List[str]:
    """The lines of a UTF-8 text file without their line ends (``\\n``, ``\\r\\n`` or ``\\r``,
    as Python's universal newlines read them, like ``readlines()``); a final line end
    does not add an empty line."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if text == "":
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def split_id(line: str, id_format: str, where: str) -> Tuple[str, str]:
    """``(id, text)`` of one line in a keyed ``id_format``; ``where`` (``path:line``)
    prefixes the error message of a malformed line."""
    if id_format == "tsv":
        if "\t" not in line:
            raise AlignmentError(f"{where}: expected ID<TAB>TEXT, found no tab in {line!r}")
        utterance_id, text = line.split("\t", 1)
        utterance_id = utterance_id.strip()
    elif id_format == "first-field":
        fields = line.split(None, 1)
        if not fields:
            raise AlignmentError(f"{where}: empty line, expected ID TEXT")
        utterance_id = fields[0]
        text = fields[1] if len(fields) > 1 else ""
    elif id_format == "fairseq":
        match = _FAIRSEQ_SUFFIX.match(line.strip())
        if match is None:
            raise AlignmentError(f"{where}: expected 'TEXT (SPEAKER-N)' as fairseq writes it, got {line!r}")
        text = match.group(1) or ""
        utterance_id = str(int(match.group(3)))
    else:
        raise ValueError(f"unknown keyed id format {id_format!r}; expected one of {ID_FORMATS[1:]}")
    if utterance_id == "":
        raise AlignmentError(f"{where}: empty id in {line!r}")
    return utterance_id, text


def read_keyed(path: str, id_format: str, role: str = "file") -> List[Tuple[str, str, int]]:
    """``(id, text, line_number)`` for every line of ``path`` in file order; a duplicate id
    raises :class:`AlignmentError` naming both lines."""
    records = []
    first_line: Dict[str, int] = {}
    for line_number, line in enumerate(read_lines(path), start=1):
        where = f"{role} {path}:{line_number}"
        utterance_id, text = split_id(line, id_format, where)
        if utterance_id in first_line:
            raise AlignmentError(
                f"{where}: duplicate id {utterance_id!r} (first at line {first_line[utterance_id]})"
            )
        first_line[utterance_id] = line_number
        records.append((utterance_id, text, line_number))
    return records


def _check_format(id_format: str) -> None:
    if id_format not in ID_FORMATS:
        raise ValueError(f"unknown id format {id_format!r}; expected one of {ID_FORMATS}")


def align_lists(ref_lines: Sequence[str], hyp_lines: Sequence[str], ref_name: str = "REF", hyp_name: str = "HYP") -> AlignedTexts:
    """Pairs two in-memory lists line by line; a count mismatch raises
    :class:`AlignmentError` naming the first line that has no counterpart."""
    n_ref, n_hyp = len(ref_lines), len(hyp_lines)
    if n_ref != n_hyp:
        first = min(n_ref, n_hyp) + 1
        longer, shorter = (ref_name, hyp_name) if n_ref > n_hyp else (hyp_name, ref_name)
        longer_lines = ref_lines if n_ref > n_hyp else hyp_lines
        raise AlignmentError(
            f"line count mismatch: reference {ref_name} has {n_ref} lines, hypothesis {hyp_name} has "
            f"{n_hyp}; first difference: line {first} of {longer} ({longer_lines[first - 1]!r}) "
            f"has no line in {shorter}"
        )
    numbers = list(range(1, n_ref + 1))
    return AlignedTexts([str(k) for k in numbers], list(ref_lines), list(hyp_lines), numbers, list(numbers))


def read_aligned(
    ref_path: str,
    hyp_path: str,
    id_format: str = "line",
    ref_id_format: Optional[str] = None,
    hyp_id_format: Optional[str] = None,
) -> AlignedTexts:
    """Reads ``ref_path`` and ``hyp_path`` and pairs their utterances.

    ``id_format`` applies to both files unless ``ref_id_format``/``hyp_id_format``
    override it; either both files are ``line`` or both are keyed (ids are then matched
    across formats, e.g. a ``tsv`` reference with a ``fairseq`` hypothesis).
    Raises :class:`AlignmentError` on a count/id mismatch (naming the first difference),
    a duplicate id or a malformed line; ``OSError`` if a file cannot be read.
    """
    ref_format = ref_id_format or id_format
    hyp_format = hyp_id_format or id_format
    _check_format(ref_format)
    _check_format(hyp_format)
    if (ref_format == "line") != (hyp_format == "line"):
        raise AlignmentError(
            f"cannot pair a line-aligned file with a keyed one (reference: {ref_format}, hypothesis: {hyp_format})"
        )
    if ref_format == "line":
        return align_lists(read_lines(ref_path), read_lines(hyp_path), ref_path, hyp_path)

    refs = read_keyed(ref_path, ref_format, "reference")
    hyps = read_keyed(hyp_path, hyp_format, "hypothesis")
    hyp_by_id = {utterance_id: (text, line) for utterance_id, text, line in hyps}
    ref_ids = {utterance_id for utterance_id, _, _ in refs}
    missing = next(((i, line) for i, _, line in refs if i not in hyp_by_id), None)
    extra = next(((i, line) for i, _, line in hyps if i not in ref_ids), None)
    if missing is not None or extra is not None:
        problems = []
        if missing is not None:
            problems.append(
                f"id {missing[0]!r} (reference {ref_path}:{missing[1]}) is missing from the hypothesis"
            )
        if extra is not None:
            problems.append(f"id {extra[0]!r} (hypothesis {hyp_path}:{extra[1]}) is not in the reference")
        raise AlignmentError(
            f"id mismatch: reference {ref_path} has {len(refs)} ids, hypothesis {hyp_path} has "
            f"{len(hyps)}; first difference: " + "; ".join(problems)
        )
    aligned = AlignedTexts([], [], [], [], [])
    for utterance_id, text, line in refs:
        hyp_text, hyp_line = hyp_by_id[utterance_id]
        aligned.ids.append(utterance_id)
        aligned.refs.append(text)
        aligned.hyps.append(hyp_text)
        aligned.ref_lines.append(line)
        aligned.hyp_lines.append(hyp_line)
    return aligned


def with_line_ids(aligned: AlignedTexts, ids_path: str, ref_id_format: str, ref_path: str) -> AlignedTexts:
    """``aligned`` (line-aligned) with each pair's id read from ``ids_path``, one id per line
    (line k names the utterance of reference and hypothesis line k, like the ``{subset}.ids``
    that ``fairseq-generate`` writes with our task). Raises :class:`AlignmentError` if the
    files are keyed, the counts differ, or an id is empty or repeated (naming the line)."""
    if ref_id_format != "line":
        raise AlignmentError(f"--ids goes with line-aligned files; the reference format is {ref_id_format!r}")
    ids = read_lines(ids_path)
    if len(ids) != len(aligned):
        raise AlignmentError(f"ids {ids_path} has {len(ids)} lines, reference {ref_path} has {len(aligned)}")
    first_line = {}
    for line_number, utterance_id in enumerate(ids, start=1):
        if not utterance_id.strip() or utterance_id != utterance_id.strip():
            raise AlignmentError(f"ids {ids_path}:{line_number}: empty id or surrounding whitespace {utterance_id!r}")
        if utterance_id in first_line:
            raise AlignmentError(
                f"ids {ids_path}:{line_number}: id {utterance_id!r} repeats line {first_line[utterance_id]}"
            )
        first_line[utterance_id] = line_number
    return AlignedTexts(ids, aligned.refs, aligned.hyps, aligned.ref_lines, aligned.hyp_lines)
