"""Label names that almost match a known name: a typo to refuse, not a new label to keep.

Shared by SLUE preparation (VoxCeleb sentiments, where labels other than the three classes
are dropped on purpose) and sentiment scoring, so that ``positive`` or ``Negative `` is
named as an error instead of being dropped or scored as a class of its own.
"""

from typing import Optional, Sequence

MAX_TYPO_EDITS = 2


def edit_distance(first: str, second: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions) between two short strings."""
    previous = list(range(len(second) + 1))
    for i, first_char in enumerate(first, start=1):
        current = [i]
        for j, second_char in enumerate(second, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (first_char != second_char)))
        previous = current
    return previous[-1]


def near_miss(label: str, names: Sequence[str]) -> Optional[str]:
    """The name of ``names`` that ``label`` is a near miss of, or None when ``label`` is one
    of ``names`` exactly or is far from all of them.

    A near miss is the same name in another case or with white space around or inside it
    (``positive``, ``Negative ``, ``Neu tral``), or at most :data:`MAX_TYPO_EDITS` letters
    off a name of 5 letters or more (``Positve``)."""
    if label in names:
        return None
    folded = "".join(label.split()).casefold()
    for name in names:
        if folded == name.casefold():
            return name
    for name in names:
        if len(name) >= 5 and edit_distance(folded, name.casefold()) <= MAX_TYPO_EDITS:
            return name
    return None
