"""fairseq dictionary files ``dict.*.txt`` (``dict.ltr.txt``, ``dict.wrd.txt``, ...): one home.

One ``SYMBOL COUNT`` line per symbol. The line order is the symbols' order in fairseq's
``Dictionary`` (their indices follow its special symbols), so a model's output layer is
tied to it: the order is part of the format. Two orders are written:

* a fixed dictionary: :data:`FAIRSEQ_LETTER_DICTIONARY`, fairseq's released LibriSpeech
  ``dict.ltr.txt``, written verbatim so that every LibriSpeech / Libri-light split shares
  the letter indices of fairseq's recipes and released models;
* a dictionary counted from label lines (:func:`count_symbols`): count descending, ties
  broken by ``ties``:

  - ``"symbol"`` (the default): by symbol (Python string order, i.e. code points), so
    the file depends only on the counts (the demo corpora);
  - ``"first_seen"``: by first appearance in the counted lines, as
    ``collections.Counter.most_common`` gives them (SLUE-toolkit's ``create_dict``, which
    the SLUE preparation reproduces).

Every file is written atomically (:mod:`gcaf_fairseq.data.atomic_files`). Pure Python.
"""

from pathlib import Path
from typing import Dict, Iterable, List, Tuple

from .atomic_files import write_lines

# https://dl.fbaipublicfiles.com/fairseq/wav2vec/dict.ltr.txt, the dictionary of fairseq's
# wav2vec 2.0 LibriSpeech recipes and released fine-tuned models: every split written with
# it has the same letter indices, whichever split is prepared last.
FAIRSEQ_LETTER_DICTIONARY: Tuple[Tuple[str, int], ...] = (
    ("|", 94802), ("E", 51860), ("T", 38431), ("A", 33152), ("O", 31495), ("N", 28855),
    ("I", 28794), ("H", 27187), ("S", 26071), ("R", 23546), ("D", 18289), ("L", 16308),
    ("U", 12400), ("M", 10685), ("W", 10317), ("C", 9844), ("F", 9062), ("G", 8924),
    ("Y", 8226), ("P", 6890), ("B", 6339), ("V", 3936), ("K", 3456), ("'", 1023),
    ("X", 636), ("J", 598), ("Q", 437), ("Z", 213),
)
TIE_ORDERS = ("symbol", "first_seen")


def count_symbols(
    lines: Iterable[str], zero_count_lines: Iterable[str] = (), ties: str = "symbol"
) -> List[Tuple[str, int]]:
    """``(symbol, count)`` of the whitespace-separated symbols of ``lines``, count
    descending, ties broken by ``ties`` (see the module docstring), followed by the
    symbols seen only in ``zero_count_lines`` with count 0 (so a dictionary counted on
    ``train`` still covers the other splits' symbols), in the same tie order.

    Raises ValueError for an unknown ``ties``.
    """
    if ties not in TIE_ORDERS:
        raise ValueError(f"unknown dictionary tie order {ties!r}; choose among {', '.join(TIE_ORDERS)}")
    counts: Dict[str, int] = {}  # insertion order = first appearance
    for line in lines:
        for symbol in line.split():
            counts[symbol] = counts.get(symbol, 0) + 1
    for line in zero_count_lines:
        for symbol in line.split():
            counts.setdefault(symbol, 0)
    entries = list(counts.items())
    if ties == "symbol":
        return sorted(entries, key=lambda entry: (-entry[1], entry[0]))
    return sorted(entries, key=lambda entry: -entry[1])  # stable: ties keep first appearance


def write_dictionary(path, entries: Iterable[Tuple[str, int]]) -> None:
    """Write a fairseq dictionary file: ``SYMBOL COUNT`` lines in the given order, atomically."""
    write_lines(path, [f"{symbol} {count}" for symbol, count in entries])


def read_dictionary_symbols(path) -> List[str]:
    """The symbols of a dictionary file, in file order: the first field of every non-blank
    line (fairseq's flags such as ``#fairseq:overwrite`` and the counts are not read)."""
    with open(Path(path), encoding="utf-8") as lines:
        return [line.split()[0] for line in lines if line.strip()]

