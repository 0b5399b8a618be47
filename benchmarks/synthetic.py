"""A seeded generator of labeled synthetic documents for the scale benchmark (``benchmarks/scale.py``) and tests.

Words are pronounceable letter strings drawn from a Zipf-Mandelbrot distribution over ``vocab`` words (rank r
has weight ``1 / (r + 2.7) ** 1.07``, close to English word frequencies). Each label owns ``keywords`` words drawn
from the less frequent part of the vocabulary (labels may share some). A document of 30-200 words (uniform) has
one label (drawn with weight ``1 / (rank + 10) ** label_skew``); each of its words is one of its label's keywords
with probability ``share`` and a background word otherwise. Lower ``share`` is harder. Same arguments and seed,
same documents.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Corpus", "write_jsonl"]

_CONSONANTS = np.array(list("bcdfghjklmnprstvwz"))
_VOWELS = np.array(list("aeiou"))


@dataclass
class Corpus:
    labels: int
    vocab: int = 50_000
    keywords: int = 10
    share: float = 0.08
    label_skew: float = 0.3
    min_words: int = 30
    max_words: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.words = _words(self.vocab, rng)
        ranks = np.arange(self.vocab, dtype=np.float64)
        w = 1.0 / (ranks + 2.7) ** 1.07
        self._cdf = np.cumsum(w / w.sum())
        lo = min(1000, self.vocab // 10)
        self._kw = rng.integers(lo, self.vocab, size=(self.labels, self.keywords))
        lw = 1.0 / (np.arange(self.labels, dtype=np.float64) + 10.0) ** self.label_skew
        self._label_cdf = np.cumsum(lw / lw.sum())
        self.label_names = [f"label{j:04d}" for j in range(self.labels)]

    def batches(self, n: int, *, start: int = 0, batch: int = 20_000) -> Iterator[tuple[list[str], list[str]]]:
        """(texts, labels) for documents ``start .. start + n``, ``batch`` at a time. Document i is the same
        whatever ``batch`` is: every batch draws from its own seed, derived from the corpus seed and batch start."""
        for b0 in range(start - start % batch, start + n, batch):
            texts, labels = self._batch(b0, batch)
            lo, hi = max(start, b0) - b0, min(start + n, b0 + batch) - b0
            yield texts[lo:hi], labels[lo:hi]

    def _batch(self, b0: int, size: int) -> tuple[list[str], list[str]]:
        rng = np.random.default_rng([self.seed, b0])
        y = np.searchsorted(self._label_cdf, rng.random(size))
        y = np.minimum(y, self.labels - 1)
        lengths = rng.integers(self.min_words, self.max_words + 1, size=size)
        total = int(lengths.sum())
        tok = np.minimum(np.searchsorted(self._cdf, rng.random(total)), self.vocab - 1)
        doc = np.repeat(np.arange(size), lengths)
        is_kw = rng.random(total) < self.share
        kw = self._kw[y[doc[is_kw]], rng.integers(0, self.keywords, size=int(is_kw.sum()))]
        tok[is_kw] = kw
        flat = self.words[tok].tolist()
        ends = np.cumsum(lengths).tolist()
        texts, a = [], 0
        for e in ends:
            texts.append(" ".join(flat[a:e]))
            a = e
        return texts, [self.label_names[j] for j in y.tolist()]


def _words(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct pronounceable words (consonant-vowel syllables, 2-4 of them)."""
    seen: dict[str, None] = {}
    while len(seen) < n:
        m = 2 * (n - len(seen)) + 100
        syl = rng.integers(2, 5, size=m)
        cons = _CONSONANTS[rng.integers(0, len(_CONSONANTS), size=(m, 4))]
        vows = _VOWELS[rng.integers(0, len(_VOWELS), size=(m, 4))]
        for i in range(m):
            w = "".join(cons[i, k] + vows[i, k] for k in range(syl[i]))
            seen.setdefault(w)
            if len(seen) == n:
                break
    return np.array(list(seen), dtype=object)


def write_jsonl(corpus: Corpus, path: Path, n_train: int, n_test: int, batch: int = 20_000) -> None:
    """Documents 0..n_train as the train split and the next n_test as the test split, one JSON object a line."""
    with open(path, "w", encoding="utf-8") as f:
        for split, start, n in (("train", 0, n_train), ("test", n_train, n_test)):
            for texts, labels in corpus.batches(n, start=start, batch=batch):
                f.writelines(
                    json.dumps({"text": t, "label": lab, "split": split}) + "\n"
                    for t, lab in zip(texts, labels, strict=True)
                )
