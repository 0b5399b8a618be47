"""Fast sparse text features for :mod:`nlpipe.tasks.classify.model`.

Both vectorizers give the same matrices as scikit-learn's ``TfidfVectorizer`` with ``sublinear_tf=True`` (word
n-grams with the default token pattern, or ``analyzer="char_wb"``), up to column order, but

- they are 2-4x faster: n-grams are mapped to columns by C-level dict lookups over one flat list, and character
  n-grams are cut once per distinct word instead of once per use (a text's ``char_wb`` n-grams are those of its
  whitespace-separated words, so the counts are ``(texts x words) @ (words x n-grams)``);
- at prediction, a C loop (``nlpipe/tasks/_ngrams.c``, built at install; the NumPy paths below are the fallback
  and give the same counts) walks each text once, finds tokens in hash tables of the vocabulary's code points,
  adds each known word's n-gram row and cuts unseen words' n-grams as packed code points, with no Python object
  per token or n-gram; :meth:`_Ngrams.scores` goes on to the TF-IDF-weighted linear scores without building the
  matrix. AG News, 1,520 texts: word view 28 -> 8 ms, character view 58 -> 19 ms (scores);
- their vocabulary is persisted as one byte array, not a dict of 10^5 entries: :mod:`skops.io` writes a dict key
  by key into its JSON, which took 8 s and 80 MB for AG News' vocabulary, against a fraction of a second and a
  few MB this way. The IDF is saved as document frequencies (whole numbers; recomputed bit for bit on load), and
  the per-word n-gram rows of the character view are not saved but rebuilt on load.

Their fitted state is made of ints, floats, tuples and numpy arrays, so ``skops.io`` can load it with only
the class names trusted (no lambdas, closures or local functions anywhere).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import chain, repeat
from types import ModuleType
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from nlpipe.tasks.ngram_arrays import (
    CHAR_BITS,
    MAX_CODED_LEN,
    char_ids,
    count_matrix,
    lookup,
    native_csr,
    pack,
    smoothed_idf,
)

_native: ModuleType | None  # nlpipe.tasks._ngrams (typed by _ngrams.pyi), or None
try:  # built at install (setup.py); without a C compiler the NumPy paths below give the same counts, slower
    from nlpipe.tasks import _ngrams as _native
except ImportError:  # pragma: no cover - exercised only on machines without a compiler
    _native = None

__all__ = ["CharNgrams", "WordNgrams", "char_wb_ngrams", "word_ngrams", "nb_log_count_ratio"]

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
_SEP = "\n"  # never inside a term: word tokens are \w+, char_wb n-grams come from whitespace-free words


def word_ngrams(text: str, lo: int, hi: int) -> list[str]:
    """Lower-cased word n-grams (tokens of 2+ word characters joined by one space), like ``TfidfVectorizer``."""
    toks = TOKEN_PATTERN.findall(text.lower())
    out: list[str] = toks[:] if lo <= 1 else []
    for n in range(max(lo, 2), hi + 1):
        if n == 2:
            out.extend([a + " " + b for a, b in zip(toks, toks[1:], strict=False)])
        else:
            out.extend([" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1)])
    return out


def char_wb_ngrams(word: str, lo: int, hi: int) -> list[str]:
    """Character n-grams of one space-padded word, as scikit-learn's ``analyzer="char_wb"`` cuts them."""
    w = f" {word} "
    size = len(w)
    out: list[str] = []
    for n in range(lo, hi + 1):
        if n >= size:
            out.append(w)
            break
        out.extend([w[i : i + n] for i in range(size - n + 1)])
    return out


def nb_log_count_ratio(X: sp.csr_matrix, T: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Naive-Bayes log-count ratios (NBSVM, Wang & Manning 2012) of each feature, one column per column of the
    boolean target matrix ``T``: ``log((p / |p|_1) / (q / |q|_1))`` where ``p`` (``q``) is ``alpha`` plus the
    number of positive (negative) rows holding the feature. Shape (n_features, n_targets)."""
    Xb = sp.csr_matrix((np.ones_like(X.data), X.indices, X.indptr), shape=X.shape)
    Tf = np.asarray(T, dtype=np.float64).reshape(X.shape[0], -1)
    p = alpha + np.asarray(Xb.T @ Tf)
    q = alpha + np.asarray(Xb.sum(axis=0)).reshape(-1, 1) - (p - alpha)
    return np.log(p / p.sum(axis=0)) - np.log(q / q.sum(axis=0))


#: lookup tables built for prediction (at the end of fit and on load), never saved
_CACHES = ("_pair_index", "_pair_slots", "_uni_slots", "_gram_index", "_grams_csr", "_gram_table", "_word_slots")


class _Ngrams(TransformerMixin, BaseEstimator):
    """Shared fit/transform: subclasses provide ``_counts(texts, vocab, grow)``."""

    ngram_range: tuple[int, int]
    min_df: int
    sublinear_tf: bool

    def _counts(self, texts: list[str], vocab: dict[str, int], grow: bool) -> sp.csr_matrix:
        raise NotImplementedError

    def fit(self, texts: list[str], y: object = None) -> _Ngrams:
        self.fit_transform(texts)
        return self

    def fit_transform(self, texts: list[str], y: object = None, **fit_params: Any) -> sp.csr_matrix:
        for cache in _CACHES:  # derived from the vocabulary of a previous fit
            self.__dict__.pop(cache, None)
        vocab: dict[str, int] = {}
        counts = self._counts(list(texts), vocab, grow=True)
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        keep = np.flatnonzero(df >= max(1, int(self.min_df)))
        if len(keep) == 0:  # too few texts for min_df: keep everything rather than nothing
            keep = np.flatnonzero(df >= 1)
        self.n_docs_ = int(counts.shape[0])
        self.idf_ = smoothed_idf(df[keep], self.n_docs_)
        fit_words = self.__dict__.pop("_fit_words", None)
        if fit_words is not None:  # character n-grams: each training word's kept columns, for prediction
            self.word_index_ = fit_words[0]
            self.word_grams_ = fit_words[1] if len(keep) == len(vocab) else sp.csr_matrix(fit_words[1][:, keep])
            self.word_grams_.sort_indices()  # as __setstate__ rebuilds it: the same sums in the same order
        if len(keep) == len(vocab):  # nothing dropped: columns are already numbered in insertion order
            self.vocabulary_ = vocab
            return self._tfidf(counts)
        terms = list(vocab)  # insertion order is column order
        self.vocabulary_ = dict(zip([terms[i] for i in keep.tolist()], range(len(keep)), strict=True))
        return self._tfidf(counts[:, keep])

    def prepare(self) -> _Ngrams:
        """Build the lookup tables :meth:`transform` would build on its first call (nothing by default)."""
        return self

    def transform(self, texts: list[str]) -> sp.csr_matrix:
        check_is_fitted(self, "vocabulary_")
        return self._tfidf(self._counts(list(texts), self.vocabulary_, grow=False))

    def _cached(self, key: str, build: Callable[[], Any]) -> Any:
        """``build()``, made once and kept under ``key`` (one of :data:`_CACHES`: dropped on refit, never saved)."""
        if key not in self.__dict__:
            self.__dict__[key] = build()
        return self.__dict__[key]

    def _native_args(self) -> tuple[Callable[..., Any], tuple] | None:
        """The C loop's function and its arguments after the texts (its tables built on first use), or None where
        it does not apply."""
        return None

    def _native_call(self, texts: list[str], score: tuple | None = None) -> Any:
        """What the C loop returns for ``texts`` (counts, or scores with ``score``), or None where it does not
        apply."""
        found = self._native_args()
        return None if found is None else found[0](texts, *found[1], score)

    @property
    def scores_in_c(self) -> bool:
        """Whether :meth:`scores` and prediction-time counts run in the C loop for this fitted vectorizer."""
        return self._native_args() is not None

    def scores(self, texts: list[str], W: np.ndarray) -> np.ndarray:
        """``transform(texts) @ W`` (``W``: one row per column, float32 or float64), as float64, (texts, outputs).

        Through the C loop the TF-IDF rows are never built: each text's counts are weighted, normalised and
        multiplied by ``W`` as they are found. The result equals the product up to the order of floating-point
        additions (``tests/test_tasks_classify.py`` checks it)."""
        check_is_fitted(self, "vocabulary_")
        texts = list(texts)
        W = np.asarray(W)
        if W.ndim == 2 and W.shape[0] == len(self.vocabulary_) and W.dtype in (np.float32, np.float64):
            W = np.ascontiguousarray(W)
            out = self._native_call(texts, (self.idf_, W, bool(self.sublinear_tf)))
            if out is not None:
                return np.frombuffer(out, dtype=np.float64).reshape(len(texts), W.shape[1])
        return np.asarray(self.transform(texts) @ W, dtype=np.float64)

    def _tfidf(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        counts = sp.csr_matrix(counts)
        data = counts.data.astype(np.float64, copy=True)
        if self.sublinear_tf:
            np.log(data, out=data)
            data += 1.0
        data *= self.idf_[counts.indices]
        rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
        norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=counts.shape[0]))
        data /= norms[rows]  # every stored row has a positive norm; empty rows stay empty
        counts.data = data
        return counts

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "vocabulary_")
        names = np.empty(len(self.vocabulary_), dtype=object)
        names[np.fromiter(self.vocabulary_.values(), dtype=np.int64, count=len(self.vocabulary_))] = list(
            self.vocabulary_
        )
        return names

    # Persistence: the vocabulary travels as the UTF-8 bytes of its terms in column order, joined by newlines, in
    # a uint8 array (skops writes arrays as .npy files; a dict or a str would go term by term into its JSON).
    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())  # object.__getstate__ returns the live __dict__: copy it
        for cache in _CACHES:  # derived from vocabulary_ on first use
            state.pop(cache, None)
        vocab = state.get("vocabulary_")
        if isinstance(vocab, dict):
            blob = _SEP.join(self.get_feature_names_out().tolist()).encode("utf-8")
            state["vocabulary_"] = np.frombuffer(blob, dtype=np.uint8).copy()
        words = state.get("word_index_")
        if isinstance(words, dict):  # words come from str.split(): never a newline inside
            state["word_index_"] = np.frombuffer(_SEP.join(words).encode("utf-8"), dtype=np.uint8).copy()
            state.pop("word_grams_", None)  # rebuilt from the words on load (__setstate__): a third of the file
        idf, n = state.get("idf_"), state.get("n_docs_")
        if isinstance(idf, np.ndarray) and isinstance(n, int):  # document frequencies, whole numbers, compress well
            df = np.rint((1.0 + n) / np.exp(idf - 1.0) - 1.0)
            if len(df) == 0 or (df.min() >= 0 and df.max() < 2**32 and np.array_equal(smoothed_idf(df, n), idf)):
                state["df_"] = df.astype(np.uint32)
                del state["idf_"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key in ("vocabulary_", "word_index_"):
            value = state.get(key)
            if isinstance(value, np.ndarray):
                terms = value.tobytes().decode("utf-8").split(_SEP) if value.size else []
                state = {**state, key: dict(zip(terms, range(len(terms)), strict=True))}
        if "df_" in state:
            state = dict(state)
            state["idf_"] = smoothed_idf(state.pop("df_"), int(state["n_docs_"]))
        super().__setstate__(state)
        if getattr(self, "word_index_", None) and getattr(self, "word_grams_", None) is None:
            self.word_grams_ = self._word_grams(list(self.word_index_), self.vocabulary_, False)
            self.word_grams_.sort_indices()


class WordNgrams(_Ngrams):
    """Sublinear TF-IDF of lower-cased word n-grams (tokens of two or more word characters), L2-normalized."""

    def __init__(self, ngram_range: tuple[int, int] = (1, 2), min_df: int = 1, sublinear_tf: bool = True):
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf

    def _pairs(self) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
        """For prediction with (1, 2)-grams: unigram -> column, and the bigrams as sorted codes
        ``column(a) * n + column(b)`` beside their columns, so that a text's bigrams are found with NumPy
        (``searchsorted``) instead of being joined into strings and looked up one by one. Built once, lazily."""
        cached = self.__dict__.get("_pair_index")
        if cached is None:
            uni = {t: c for t, c in self.vocabulary_.items() if " " not in t}
            n = len(self.vocabulary_)
            codes, cols = [], []
            for t, c in self.vocabulary_.items():
                a, sep, b = t.partition(" ")
                if sep:  # min_df is per term: a kept bigram's words may be missing, then it cannot be coded
                    ca, cb = uni.get(a), uni.get(b)
                    if ca is not None and cb is not None:
                        codes.append(ca * n + cb)
                        cols.append(c)
            order = np.argsort(np.asarray(codes, dtype=np.int64), kind="stable")
            cached = (uni, np.asarray(codes, dtype=np.int64)[order], np.asarray(cols, dtype=np.int64)[order])
            complete = len(codes) == len(self.vocabulary_) - len(uni)
            self.__dict__["_pair_index"] = cached if complete else (uni, None, None)
            cached = self.__dict__["_pair_index"]
        return cached

    def prepare(self) -> WordNgrams:
        if tuple(self.ngram_range) == (1, 2) and hasattr(self, "vocabulary_"):
            self._pairs()
            self._native_args()  # the C loop's tables
        return self

    def _native_args(self) -> tuple[Callable[..., Any], tuple] | None:
        """Not for other n-gram ranges than (1, 2), nor when a bigram's words are not in the vocabulary."""
        n = len(self.vocabulary_)
        if _native is None or tuple(self.ngram_range) != (1, 2) or n >= 2**31:
            return None
        uni, codes, cols = self._pairs()
        if codes is None:
            return None
        unigrams = self._cached("_uni_slots", lambda: _native.string_table(uni))
        bigrams = self._cached("_pair_slots", lambda: _native.code_table(codes, cols))
        return _native.word_counts, (unigrams, bigrams, n, n)

    def _counts(self, texts: list[str], vocab: dict[str, int], grow: bool) -> sp.csr_matrix:
        lo, hi = self.ngram_range
        if not grow and (lo, hi) == (1, 2) and self._pairs()[1] is not None:
            parts = self._native_call(texts)
            if parts is not None:
                return native_csr(parts, (len(texts), len(vocab)))
            return self._counts_coded(texts)
        terms: list[str] = []
        lengths = np.empty(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            grams = word_ngrams(text, lo, hi)
            lengths[i] = len(grams)
            terms.extend(grams)
        ids = lookup(terms, vocab, grow)
        rows = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        if not grow:
            found = ids >= 0
            rows, ids = rows[found], ids[found]
        return count_matrix(rows, ids, (len(texts), len(vocab)))

    def _counts_coded(self, texts: list[str]) -> sp.csr_matrix:
        uni, codes, cols = self._pairs()
        n = len(self.vocabulary_)
        toks = [TOKEN_PATTERN.findall(t.lower()) for t in texts]
        lengths = np.fromiter(map(len, toks), dtype=np.int64, count=len(toks))
        flat = [t for ts in toks for t in ts]
        ids = np.fromiter(map(uni.get, flat, repeat(-1)), dtype=np.int64, count=len(flat))
        doc = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        pair = (doc[:-1] == doc[1:]) & (ids[:-1] >= 0) & (ids[1:] >= 0)
        code = ids[:-1][pair] * n + ids[1:][pair]
        at = np.minimum(np.searchsorted(codes, code), max(len(codes) - 1, 0))
        hit = codes[at] == code if len(codes) else np.zeros(len(code), dtype=bool)
        known = ids >= 0
        rows = np.concatenate([doc[known], doc[:-1][pair][hit]])
        found = np.concatenate([ids[known], cols[at[hit]]])
        return count_matrix(rows, found, (len(texts), n))


class CharNgrams(_Ngrams):
    """Sublinear TF-IDF of character n-grams inside space-padded words (``char_wb``), L2-normalized."""

    def __init__(self, ngram_range: tuple[int, int] = (2, 5), min_df: int = 2, sublinear_tf: bool = True):
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf

    def _word_grams(self, words: list[str], vocab: dict[str, int], grow: bool) -> sp.csr_matrix:
        """(words x columns) counts of each word's character n-grams (as :func:`char_wb_ngrams` cuts them)."""
        if not grow and vocab is self.vocabulary_:
            points, codes, cols = self._gram_codes()
            if points is not None and codes is not None and cols is not None:  # all three, or none
                return self._word_grams_coded(words, points, codes, cols)
        lo, hi = self.ngram_range
        grams: list[str] = []
        glen = np.empty(len(words), dtype=np.int64)
        for i, w in enumerate(words):
            g = char_wb_ngrams(w, lo, hi)
            glen[i] = len(g)
            grams.extend(g)
        ids = lookup(grams, vocab, grow)
        rows = np.repeat(np.arange(len(words), dtype=np.int64), glen)
        if not grow:
            found = ids >= 0
            rows, ids = rows[found], ids[found]
        return count_matrix(rows, ids, (len(words), len(vocab)))

    def prepare(self) -> CharNgrams:
        if hasattr(self, "vocabulary_"):
            self._gram_codes()
            self._native_args()  # the C loop's tables
        return self

    def _gram_codes(self) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """For prediction: the vocabulary's n-grams as integer codes, sorted, beside their columns, and the
        alphabet (sorted code points; a character's id is its place + 1, 0 for a character never seen), so
        that unseen words are cut and looked up with NumPy instead of string by string. A code packs the
        n-gram's character ids, 12 bits each, and its length (3 bits): up to 5 characters of an alphabet of
        4,095 (else ``None``: the string path is used). Built once, lazily."""
        cached = self.__dict__.get("_gram_index")
        if cached is None:
            terms = list(self.vocabulary_)
            alphabet = sorted(set("".join(terms)))
            if self.ngram_range[1] > MAX_CODED_LEN or len(alphabet) >= (1 << CHAR_BITS):
                cached = (None, None, None)
            else:
                points = np.array([ord(c) for c in alphabet], dtype=np.uint32)
                lens = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))
                starts = np.cumsum(lens) - lens
                codes = pack(char_ids(points, "".join(terms)), starts, lens)[0]
                cols = np.fromiter(self.vocabulary_.values(), dtype=np.int64, count=len(terms))
                order = np.argsort(codes, kind="stable")
                cached = (points, codes[order], cols[order])
            self.__dict__["_gram_index"] = cached
        return cached

    def _word_grams_coded(
        self, words: list[str], points: np.ndarray, codes: np.ndarray, cols: np.ndarray
    ) -> sp.csr_matrix:
        """:meth:`_word_grams` for prediction, by codes (:meth:`_gram_codes`): the same n-grams, vectorised.

        ``char_wb`` pads a word with one space each side (size ``S``) and cuts every n-gram of each length ``n``
        in the range with ``n < S``; once ``n`` reaches ``S`` it takes the whole padded word once and stops.
        ``points``, ``codes``, ``cols``: the alphabet and the coded vocabulary (:meth:`_gram_codes`)."""
        lo, hi = self.ngram_range
        padded = [f" {w} " for w in words]
        size = np.fromiter(map(len, padded), dtype=np.int64, count=len(padded))
        offset = np.cumsum(size) - size
        ids = char_ids(points, "".join(padded))
        word = np.arange(len(words), dtype=np.int64)
        starts, lengths, owners = [], [], []
        for n in range(lo, hi + 1):
            sel = size > n
            per = size[sel] - n + 1
            first = np.repeat(np.cumsum(per) - per, per)
            starts.append(np.repeat(offset[sel], per) + np.arange(int(per.sum()), dtype=np.int64) - first)
            lengths.append(np.full(int(per.sum()), n, dtype=np.int64))
            owners.append(np.repeat(word[sel], per))
        whole = size <= hi
        starts.append(offset[whole])
        lengths.append(size[whole])
        owners.append(word[whole])
        gram, bad = pack(ids, np.concatenate(starts), np.concatenate(lengths))
        rows = np.concatenate(owners)
        at = np.minimum(np.searchsorted(codes, gram), max(len(codes) - 1, 0))
        hit = (codes[at] == gram) & ~bad if len(codes) else np.zeros(len(gram), dtype=bool)
        return count_matrix(rows[hit], cols[at[hit]], (len(words), len(self.vocabulary_)))

    def _counts(self, texts: list[str], vocab: dict[str, int], grow: bool) -> sp.csr_matrix:
        if not grow and getattr(self, "word_index_", None):
            return self._counts_known(texts)
        words: dict[str, int] = {}
        toks: list[str] = []
        lengths = np.empty(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            t = text.lower().split()
            lengths[i] = len(t)
            toks.extend(t)
        word_ids = lookup(toks, words, grow=True)
        word_grams = self._word_grams(list(words), vocab, grow)
        if grow:
            self._fit_words = (words, word_grams)  # fit_transform keeps them for prediction
        docs = count_matrix(
            np.repeat(np.arange(len(texts), dtype=np.int64), lengths), word_ids, (len(texts), len(words))
        )
        counts = (docs @ word_grams).tocsr()
        counts.sum_duplicates()
        return counts

    def _native_args(self) -> tuple[Callable[..., Any], tuple] | None:
        """Not for a vectorizer fitted without the training words' rows (``word_index_``, ``word_grams_``)."""
        n_cols = len(self.vocabulary_)
        if _native is None or n_cols >= 2**31 or not getattr(self, "word_index_", None):
            return None
        lo, hi = (int(n) for n in self.ngram_range)
        words = self._cached("_word_slots", lambda: _native.string_table(self.word_index_))
        rows = self._cached(  # word_grams_ as the C loop reads it
            "_grams_csr",
            lambda: (
                np.ascontiguousarray(self.word_grams_.indptr, dtype=np.int64),
                np.ascontiguousarray(self.word_grams_.indices, dtype=np.int64),
                np.ascontiguousarray(self.word_grams_.data, dtype=np.float64),
            ),
        )
        # the vocabulary's n-grams by code, so unseen words are cut without a str per n-gram (up to 5 characters)
        grams = self._cached(
            "_gram_table", lambda: _native.gram_table(self.vocabulary_) if hi <= MAX_CODED_LEN else None
        )
        return _native.char_counts, (words, *rows, self.vocabulary_, lo, hi, n_cols, grams)

    def _counts_known(self, texts: list[str]) -> sp.csr_matrix:
        """Prediction: each training word's n-gram columns were kept at fit (``word_grams_``), so a document's
        counts are (its counts of known words) @ ``word_grams_``, one sparse product; only words never seen in
        training are cut into n-grams."""
        parts = self._native_call(texts)
        if parts is not None:
            return native_csr(parts, (len(texts), len(self.vocabulary_)))
        toks = [text.lower().split() for text in texts]
        lengths = np.fromiter(map(len, toks), dtype=np.int64, count=len(toks))
        flat = list(chain.from_iterable(toks))
        ids = np.fromiter(map(self.word_index_.get, flat, repeat(-1)), dtype=np.int64, count=len(flat))
        doc = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
        seen = ids >= 0
        counts = count_matrix(doc[seen], ids[seen], (len(texts), self.word_grams_.shape[0])) @ self.word_grams_
        if not seen.all():
            new: dict[str, int] = {}
            new_ids = lookup([flat[i] for i in np.flatnonzero(~seen).tolist()], new, grow=True)
            grams = self._word_grams(list(new), self.vocabulary_, False)
            counts = counts + count_matrix(doc[~seen], new_ids, (len(texts), len(new))) @ grams
        # a sparse product's rows, and the sum of two, hold each column once: no duplicates to add up (their
        # column order does not matter to what follows)
        return sp.csr_matrix(counts)
