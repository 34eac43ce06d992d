"""The decoding lexicon: ``WORD<TAB>W O R D |`` per line, in the ``.ltr`` convention (each
letter a token, ``|`` closing the word: :func:`gcaf_fairseq.data.letters.spell`). One
spelling per line; a word may have several."""

import re
from typing import Dict, Iterable, List, Optional, Tuple

from .atomic_files import write_lines
from .letters import spell

__all__ = ["ArpaError", "arpa_unigrams", "build_lexicon", "read_lexicon", "spell", "write_lexicon"]


def read_lexicon(path) -> Dict[str, List[List[str]]]:
    """Word -> spellings; errors name the file and the line."""
    lexicon: Dict[str, List[List[str]]] = {}
    with open(path, encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                raise ValueError(f"{path}:{line_number}: expected 'WORD SPELLING...', got {line.strip()!r}")
            lexicon.setdefault(fields[0], []).append(fields[1:])
    if not lexicon:
        raise ValueError(f"{path}: the lexicon is empty")
    return lexicon


ARPA_COUNT = re.compile(r"ngram\s+(\d+)\s*=\s*(\d+)")
ARPA_SECTION = re.compile(r"\\(\d+)-grams:")
ARPA_SPECIAL_WORDS = ("<s>", "</s>", "<unk>")
SCAN_CHUNK_BYTES = 1 << 24
BLANK_LINE_AFTER_NEWLINE = re.compile(rb"\n[ \t\r]*(?=\n)")
BLANK_FIRST_LINE = re.compile(rb"[ \t\r]*\n")


class ArpaError(ValueError):
    """A malformed or incomplete ARPA file: the message names the file (and line)."""


def count_ngram_lines(stream) -> Tuple[int, int]:
    """``(n-gram lines, lines)`` from the position of ``stream`` (binary, at a line start)
    to the next line that starts with a backslash (the next section) or the end of the
    file, leaving ``stream`` at that line. Counted a chunk at a time, in C: the higher-order
    sections are most of a large ARPA file, and only their line count is needed."""
    ngrams = lines = 0
    offset, carry = stream.tell(), b""  # carry: an incomplete last line, starting at offset
    while True:
        chunk = stream.read(SCAN_CHUNK_BYTES)
        data = carry + chunk
        if data.startswith(b"\\"):
            marker = 0
        else:
            found = data.find(b"\n\\")
            marker = found + 1 if found >= 0 else -1
        if marker >= 0:
            complete = data[:marker]
        elif chunk:
            complete = data[: data.rfind(b"\n") + 1]
        else:
            complete = data if data.endswith(b"\n") or not data else data + b"\n"  # a last line without newline
        newlines = complete.count(b"\n")
        blank = len(BLANK_LINE_AFTER_NEWLINE.findall(complete)) + bool(BLANK_FIRST_LINE.match(complete))
        ngrams, lines = ngrams + newlines - blank, lines + newlines
        if marker >= 0 or not chunk:
            stream.seek(offset + (marker if marker >= 0 else len(data)))
            return ngrams, lines
        carry, offset = data[len(complete):], offset + len(complete)


def arpa_unigrams(path) -> List[str]:
    """The words of an ARPA language model's 1-gram section (without ``<s>``, ``</s>``,
    ``<unk>``), after checking the whole file is there: the ``\\data\\`` header's
    ``ngram N=COUNT`` lines must match the n-grams found in each ``\\N-grams:`` section,
    and the file must end with ``\\end\\``. A truncated file (a cut download, a full
    disk) raises :class:`ArpaError` naming the file instead of giving part of the words.

    The file is read once, to the end, the higher-order sections a chunk at a time
    (measured: 1.0 s per 100 MB of ARPA text, a 158 MB file with 4.2 M n-grams in 1.5 s)."""
    declared: Dict[int, int] = {}
    found: Dict[int, int] = {}
    words: List[str] = []
    section, saw_data, saw_end = None, False, False
    line_number = 0
    with open(path, "rb") as stream:
        while True:
            raw_line = stream.readline()
            if not raw_line:
                break
            line_number += 1
            where = f"{path}:{line_number}"
            try:
                line = raw_line.decode("utf-8").strip()
            except UnicodeDecodeError as error:
                raise ArpaError(f"{where}: not UTF-8 text ({error})") from None
            if not line:
                continue
            if saw_end:
                raise ArpaError(f"{where}: text after \\end\\ ({line[:40]!r}): is this one ARPA file?")
            if line == "\\data\\":
                saw_data, section = True, 0
            elif line == "\\end\\":
                saw_end, section = True, None
            elif ARPA_SECTION.fullmatch(line):
                order = int(ARPA_SECTION.fullmatch(line).group(1))
                if order not in declared:
                    raise ArpaError(f"{where}: section {line} is not declared in the \\data\\ header")
                if order in found:
                    raise ArpaError(f"{where}: section {line} appears twice")
                section, found[order] = order, 0
                if order > 1:
                    found[order], lines = count_ngram_lines(stream)
                    line_number += lines
            elif line.startswith("\\"):
                raise ArpaError(f"{where}: unknown ARPA section {line!r}")
            elif section == 0:
                count_match = ARPA_COUNT.fullmatch(line)
                if count_match is None:
                    raise ArpaError(f"{where}: expected 'ngram N=COUNT' in the \\data\\ header, got {line!r}")
                declared[int(count_match.group(1))] = int(count_match.group(2))
            elif section == 1:
                fields = line.split()
                if len(fields) < 2:
                    raise ArpaError(f"{where}: not an ARPA 1-gram line: {line!r}")
                found[1] += 1
                if fields[1] not in ARPA_SPECIAL_WORDS:
                    words.append(fields[1])
            elif section is None:
                if not saw_data:
                    continue  # text before \data\ is allowed (some tools write a comment)
                raise ArpaError(f"{where}: {line[:40]!r} outside any section")
    if not saw_data:
        raise ArpaError(f"{path}: no 1-grams found, no \\data\\ header (is it an ARPA file?)")
    problems = [
        f"{order}-grams: the header declares {count}, the file holds {found.get(order, 0)}"
        for order, count in sorted(declared.items())
        if found.get(order, 0) != count
    ]
    if not saw_end:
        problems.append("no \\end\\ line at the end")
    if problems:
        raise ArpaError(
            f"{path}: the ARPA file is incomplete or damaged ({'; '.join(problems)}); a truncated file would give "
            "part of the words: fetch or write it again"
        )
    if not words:
        raise ArpaError(f"{path}: no words in the 1-grams")
    return words


def build_lexicon(words: Iterable[str], symbols: Optional[set] = None) -> Tuple[List[str], List[str]]:
    """Distinct words, sorted, that can be spelled with ``symbols`` (all when ``None``);
    returns ``(kept, skipped)``."""
    kept, skipped = [], []
    for word in sorted(set(words)):
        if symbols is not None and not set(word) <= symbols:
            skipped.append(word)
        else:
            kept.append(word)
    return kept, skipped


def write_lexicon(path, words: Iterable[str]) -> None:
    """Write atomically."""
    write_lines(path, [f"{word}\t{' '.join(spell(word))}" for word in words])
