"""What the entity features read off one word string: shapes, the digit-folded lower case, title and capitals
case, and how often a word is written in lower case mid-sentence. Pure functions, shared by the readable
definition of the features (:mod:`nlpipe.tasks.entities.features`) and the fast extractor
(:mod:`nlpipe.tasks.entities.extractor`), which must give the same strings.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

Doc = list[list[str]]  # sentences of token strings

_DIGITS = re.compile(r"\d")


def word_shape(word: str, limit: int = 6) -> str:
    """``Xxxxx`` style shape; runs longer than ``limit`` are cut (spaCy's convention is 4; 6 keeps more)."""
    out: list[str] = []
    last, run = "", 0
    for ch in word:
        c = "X" if ch.isupper() else "x" if ch.isalpha() else "d" if ch.isdigit() else ch
        run = run + 1 if c == last else 1
        last = c
        if run <= limit:
            out.append(c)
    return "".join(out)


def short_shape(word: str) -> str:
    """The shape with every run collapsed to one character: ``Xx``, ``X.X.``, ``d-d``."""
    out: list[str] = []
    for ch in word_shape(word, 1):
        if not out or out[-1] != ch:
            out.append(ch)
    return "".join(out)


def norm(word: str) -> str:
    """Lower case with digits folded to 0, so years and amounts share features."""
    return _DIGITS.sub("0", word.lower())


def is_title(word: str) -> bool:
    return word[:1].isupper() and not word.isupper() if len(word) > 1 else word.isupper()


def caps_sentence(sent: Sequence[str]) -> bool:
    """A headline or byline written in capitals (at least half of its letters-only words are upper case)."""
    words = [w for w in sent if any(ch.isalpha() for ch in w)]
    return len(words) >= 1 and sum(w.isupper() for w in words) * 2 >= len(words) and any(len(w) > 1 for w in words)


def case_stats(sentences: Iterable[Sequence[str]]) -> dict[str, float]:
    """Share of mid-sentence occurrences of each lower-cased word that are written in lower case."""
    lower: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for s in sentences:
        if caps_sentence(s):
            continue
        for w in s[1:]:
            if w[:1].isalpha():
                k = w.lower()
                total[k] += 1
                lower[k] += w.islower()
    return {k: lower[k] / n for k, n in total.items() if n >= 2}


def share_bucket(x: float | None) -> str:
    """The value of the ``lcshare=`` feature for a word's lower-case share (:func:`case_stats`; None: unknown)."""
    if x is None:
        return "unk"
    return "0" if x == 0 else "1" if x == 1 else "lo" if x < 0.5 else "hi"
