"""The decoding lexicon: ``WORD<TAB>W O R D |`` per line, in the ``.ltr`` convention (each
letter a token, ``|`` closing the word: :func:`gcaf_fairseq.data.letters.spell`). One
spelling per line; a word may have several."""

from typing import Dict, Iterable, List, Optional, Tuple

from .atomic_files import write_lines
from .letters import spell

__all__ = ["arpa_unigrams", "build_lexicon", "read_lexicon", "spell", "write_lexicon"]


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


def arpa_unigrams(path) -> List[str]:
    """The words of an ARPA language model's 1-gram section (without ``<s>``, ``</s>``,
    ``<unk>``)."""
    words, in_unigrams = [], False
    with open(path, encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            line = line.strip()
            if line == "\\1-grams:":
                in_unigrams = True
            elif line.startswith("\\"):
                if in_unigrams:
                    break
            elif in_unigrams and line:
                fields = line.split()
                if len(fields) < 2:
                    raise ValueError(f"{path}:{line_number}: not an ARPA 1-gram line: {line!r}")
                if fields[1] not in ("<s>", "</s>", "<unk>"):
                    words.append(fields[1])
    if not words:
        raise ValueError(f"{path}: no 1-grams found (is it an ARPA file?)")
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
