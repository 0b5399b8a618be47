"""Hashed word n-gram features: no vocabulary, fixed size, computed batch by batch.

:class:`HashedNgrams` maps lower-cased word 1-2 grams (tokens of two or more word characters, as
``TfidfVectorizer``'s default pattern cuts them) to ``2 ** n_bits`` columns and weighs them by sublinear TF-IDF,
L2-normalized. A token's column is its MurmurHash3 (seed 0), stable across processes and machines; a bigram's
column mixes its two tokens' hashes with integer arithmetic in NumPy, so no bigram string is ever built. Only
the document frequency of each column (one int64 array) is learned, and it is learned by adding up batches:
``partial_df`` counts a batch, ``set_idf`` fixes the weights. That is what lets training stream a million
documents from the store a batch at a time, and what makes batches independent partitions (on a Dask cluster
each partition counts its own frequencies; the sums are added before ``set_idf``).

Collisions: at 2**20 columns and a few hundred thousand distinct n-grams, a small share of n-grams share a
column; linear models lose next to nothing from it (Weinberger et al. 2009).
"""

from __future__ import annotations

import re
from itertools import chain
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import murmurhash3_32

__all__ = ["HashedNgrams"]

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
_CACHE_MAX = 2_000_000  # token -> hash entries kept between batches (about 200 MB at the cap)
_MIX1 = np.uint64(0x9E3779B97F4A7C15)
_MIX2 = np.uint64(0xBF58476D1CE4E5B9)


class HashedNgrams(TransformerMixin, BaseEstimator):
    """Sublinear TF-IDF of hashed word 1-2 grams (``ngram_range`` up to (1, 2)), L2-normalized, float32."""

    def __init__(self, n_bits: int = 20, ngram_range: tuple[int, int] = (1, 2)) -> None:
        self.n_bits = n_bits
        self.ngram_range = ngram_range

    # ------------------------------------------------------------------------------------------- counts

    def _hashes(self, tokens: list[str]) -> np.ndarray:
        cache: dict[str, int] | None = getattr(self, "_cache", None)
        if cache is None or len(cache) > _CACHE_MAX:
            cache = {}
            self._cache = cache
        for t in dict.fromkeys(tokens):
            if t not in cache:
                cache[t] = murmurhash3_32(t, positive=True)
        return np.fromiter(map(cache.__getitem__, tokens), dtype=np.uint64, count=len(tokens))

    def counts(self, texts: list[str]) -> sp.csr_matrix:
        """Raw n-gram counts of ``texts``, one row per text, float32."""
        n = len(texts)
        width = 1 << int(self.n_bits)
        mask = np.uint64(width - 1)
        toks = [TOKEN_PATTERN.findall(t.lower()) for t in texts]
        lengths = np.fromiter(map(len, toks), dtype=np.int64, count=n)
        h = self._hashes(list(chain.from_iterable(toks)))
        doc = np.repeat(np.arange(n, dtype=np.int64), lengths)
        r, c, _ = self._grams(h, doc, mask)
        m = sp.csr_matrix((np.ones(len(c), dtype=np.float32), (r, c)), shape=(n, width))
        m.sum_duplicates()
        return m

    def _grams(self, h: np.ndarray, doc: np.ndarray, mask: np.uint64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, first token position) of every n-gram, from the tokens' hashes and their rows."""
        lo, hi = self.ngram_range
        rows, cols, first = [], [], []
        if lo <= 1:
            rows.append(doc)
            cols.append((h & mask).astype(np.int64))
            first.append(np.arange(len(h)))
        if hi >= 2 and len(h) > 1:
            same = doc[:-1] == doc[1:]
            with np.errstate(over="ignore"):
                mixed = (h[:-1][same] * _MIX1 + h[1:][same]) * _MIX2
            mixed ^= mixed >> np.uint64(31)
            rows.append(doc[:-1][same])
            cols.append((mixed & mask).astype(np.int64))
            first.append(np.flatnonzero(same))
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(first)

    def terms(self, text: str) -> dict[int, list[str]]:
        """Column -> the n-grams of ``text`` that land in it (what :meth:`counts` counts there)."""
        toks = TOKEN_PATTERN.findall(text.lower())
        h = self._hashes(toks)
        _, cols, first = self._grams(h, np.zeros(len(toks), dtype=np.int64), np.uint64((1 << int(self.n_bits)) - 1))
        n_uni = len(toks) if self.ngram_range[0] <= 1 else 0
        out: dict[int, list[str]] = {}
        for k, (col, i) in enumerate(zip(cols.tolist(), first.tolist(), strict=True)):
            term = toks[i] if k < n_uni else f"{toks[i]} {toks[i + 1]}"
            if term not in out.setdefault(col, []):
                out[col].append(term)
        return out

    def fold(self, counts: sp.csr_matrix, n_bits: int) -> tuple[HashedNgrams, sp.csr_matrix]:
        """The same counts at fewer bits: a column's low ``n_bits`` bits are its column at that size, so this
        equals counting with ``HashedNgrams(n_bits)`` (a fresh, unfitted vectorizer is returned with them)."""
        folded = sp.csr_matrix(
            (counts.data, counts.indices & ((1 << n_bits) - 1), counts.indptr), shape=(counts.shape[0], 1 << n_bits)
        )
        folded.sum_duplicates()
        return HashedNgrams(n_bits=n_bits, ngram_range=self.ngram_range), folded

    # ---------------------------------------------------------------------------------------------- idf

    def partial_df(self, counts: sp.csr_matrix, df: np.ndarray | None = None) -> np.ndarray:
        """Add a batch's document frequencies (from :meth:`counts`) to ``df`` (a new array when None)."""
        batch = np.bincount(counts.indices, minlength=1 << int(self.n_bits)).astype(np.int64)
        return batch if df is None else df + batch

    def set_idf(self, df: np.ndarray, n_docs: int) -> HashedNgrams:
        """Fix the IDF weights from the summed document frequencies of ``n_docs`` documents."""
        self.idf_ = (np.log((1.0 + n_docs) / (1.0 + df)) + 1.0).astype(np.float32)
        self.n_docs_ = int(n_docs)
        return self

    def fit(self, texts: list[str], y: object = None) -> HashedNgrams:
        counts = self.counts(list(texts))
        return self.set_idf(self.partial_df(counts), counts.shape[0])

    def fit_transform(self, texts: list[str], y: object = None, **fit_params: Any) -> sp.csr_matrix:
        counts = self.counts(list(texts))
        self.set_idf(self.partial_df(counts), counts.shape[0])
        return self.tfidf(counts)

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        return self.tfidf(self.counts(list(texts)))

    def tfidf(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """Sublinear TF x IDF, rows L2-normalized (empty rows stay empty). Modifies and returns ``counts``."""
        data = counts.data
        np.log(data, out=data)
        data += 1.0
        data *= self.idf_[counts.indices]
        rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
        norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=counts.shape[0])).astype(np.float32)
        data /= norms[rows]
        return counts

    # ------------------------------------------------------------------------------------- persistence

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_cache", None)  # a speed-up, not part of the model
        return state
