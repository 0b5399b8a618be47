"""The n-gram part of a fitted sentiment model at prediction time, from a table of distinct tokens.

:class:`~nlpipe.tasks.features.WordNgrams` and :class:`~nlpipe.tasks.features.CharNgrams` cut every text into
n-grams and look each one up, again for every batch. At prediction time the vocabulary is fixed, so what a token
contributes is known once it has been seen: :class:`NgramBlocks` keeps, per distinct whitespace token (a
:class:`~nlpipe.tasks.sentiment.token_table.TokenData`), its word ids and its character n-gram columns with their
counts, and builds a batch's count matrices with numpy and two sparse products:

- word unigrams: the ``\\b\\w\\w+\\b`` tokens of a lower-cased text are those of its lower-cased whitespace tokens,
  in order (whitespace is never a word character), so each whitespace token keeps its words' ids;
- word bigrams: every bigram of the vocabulary is a pair of its words, so a bigram's column is found from the
  pair of word ids (one sorted array of pair keys, ``searchsorted`` for the whole batch); a pair with a word
  outside the vocabulary is no bigram of it;
- character n-grams: ``char_wb`` n-grams are those of each lower-cased whitespace token, so the counts are
  ``(texts x tokens) @ (tokens x n-grams)`` over the tokens stored so far, whose rows are ready-made.

The counts are the vectorizers' own, entry for entry; only the order of the columns within a row is left as the
sparse product makes it (sorting it cost more than the product). :meth:`NgramBlocks.transform` then applies each
vectorizer's own TF-IDF weighting; :meth:`NgramBlocks.scores` goes straight to the linear scores ``X @ W.T`` of
the blocks, normalising each row's score rather than each of its entries. Both equal the vectorizers' results up
to the order of floating-point additions (relative differences of 1e-15; ``tests/test_tasks_sentiment_fast.py``
compares them on real tweets and review snippets, where every prediction is the same). Vectorizers of other kinds
or n-gram ranges than these are left to their own ``transform``.
"""

from __future__ import annotations

import threading
import weakref
from itertools import chain, repeat
from typing import Any

import numpy as np
import scipy.sparse as sp

from nlpipe.tasks.features import TOKEN_PATTERN, CharNgrams, WordNgrams, char_wb_ngrams
from nlpipe.tasks.sentiment.token_table import SHARED, Ragged, TokenData, Tokens, TokenTable, tokenize

__all__ = ["NgramBlocks", "ngram_blocks"]


class NgramBlocks:
    """The word (1-2 word n-grams) and character blocks of a fitted ``WordNgrams`` and ``CharNgrams`` pair."""

    def __init__(self, word: WordNgrams, char: CharNgrams) -> None:
        # weak references: the blocks are kept in a WeakKeyDictionary keyed by ``char``, which they must not keep
        # alive (a model that is dropped takes its blocks with it)
        self._word, self._char = weakref.ref(word), weakref.ref(char)
        self.word_range = tuple(int(n) for n in word.ngram_range)
        self.char_range = tuple(int(n) for n in char.ngram_range)
        self.n_word, self.n_char = len(word.vocabulary_), len(char.vocabulary_)
        self.char_vocab: dict[str, int] = char.vocabulary_
        # Words get ids; a word only seen inside bigrams of the vocabulary gets one too, with no column.
        words: dict[str, int] = {}
        word_cols: list[int] = []
        pair_terms: list[str] = []
        pair_list: list[int] = []
        for term, col in word.vocabulary_.items():
            if " " in term:
                pair_terms.append(term)
                pair_list.append(col)
            else:
                words[term] = len(word_cols)
                word_cols.append(col)
        # a bigram is two words (of word characters) and one space: one split gives first, second, first, ...
        halves = " ".join(pair_terms).split(" ")
        for w in dict.fromkeys(halves):
            if w not in words:
                words[w] = len(word_cols)
                word_cols.append(-1)
        self.words = words
        self.word_cols = np.array(word_cols, dtype=np.int64)
        self._n_words = max(len(words), 1)
        ids = np.fromiter(map(words.__getitem__, halves), dtype=np.int64, count=len(halves))
        firsts, seconds = ids[0::2], ids[1::2]
        pair_cols = np.array(pair_list, dtype=np.int64)
        self.pairs = _PairTable(firsts * self._n_words + seconds, pair_cols)
        self.data = TokenData(self._token_data)
        self._lock = threading.Lock()
        self._projections: dict[str, _Projection] = {}

    @property
    def word(self) -> WordNgrams:
        word = self._word()
        if word is None:  # only reachable through a reference to the blocks kept past their model
            raise ReferenceError("the word vectorizer of these n-gram blocks no longer exists")
        return word

    @property
    def char(self) -> CharNgrams:
        char = self._char()
        if char is None:
            raise ReferenceError("the character vectorizer of these n-gram blocks no longer exists")
        return char

    @staticmethod
    def supports(word: Any, char: Any) -> bool:
        return (
            isinstance(word, WordNgrams)
            and isinstance(char, CharNgrams)
            and tuple(word.ngram_range) in ((1, 1), (1, 2), (2, 2))
            and hasattr(word, "vocabulary_")
            and hasattr(char, "vocabulary_")
        )

    def warm(self, weights: np.ndarray | None = None, table: TokenTable = SHARED) -> int:
        """Compute the data of the model's training words now (the character vectorizer's ``word_index_``: the
        lower-cased whitespace tokens of its training texts), so a text made of them is looked up, not cut into
        n-grams, from its first batch on; only while the table stays at most half full with them (it is shared by
        every model of the process); with ``weights`` (as :meth:`scores` takes them) their projections too.
        Returns how many words were added."""
        words = getattr(self.char, "word_index_", None)
        if not isinstance(words, dict) or not words or len(table) + len(words) > table.max_tokens // 2:
            return 0
        tokens = tokenize([" ".join(words)], table)  # training words hold no whitespace: the split gives them back
        found = self.data.columns(tokens)
        if found is None:  # the table started over meanwhile
            return 0
        if weights is not None:
            key, ragged = (tokens.table, tokens.generation), found[2]
            self._projection("word", key, self.word, weights, ragged["word_cols"], ragged["word_counts"], self.n_word)
            self._projection("char", key, self.char, weights, ragged["grams"], ragged["gram_counts"], self.n_char)
        return len(words)

    def _pair_cols(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The column of the bigram of words ``a[i] b[i]`` (word ids, -1 unknown), -1 when it is none."""
        out = np.full(len(a), -1, dtype=np.int64)
        ok = (a >= 0) & (b >= 0)
        out[ok] = self.pairs.get(a[ok] * self._n_words + b[ok])
        return out

    def _token_data(self, tokens: list[str]) -> tuple[dict[str, np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]]]:
        """Per token: its first and last word (ids, -1 outside the vocabulary) and how many words it has; the
        word columns of its words and of the bigrams inside it; the columns of its character n-grams. Columns come
        once each, in order, with their counts."""
        n = len(tokens)
        lowers = [t.lower() for t in tokens]
        get_word = self.words.get
        word_lists = [[get_word(w, -1) for w in TOKEN_PATTERN.findall(lw)] for lw in lowers]
        n_words = np.fromiter(map(len, word_lists), dtype=np.int64, count=n)
        ids = np.fromiter(chain.from_iterable(word_lists), dtype=np.int64, count=int(n_words.sum()))
        owner = np.repeat(np.arange(n, dtype=np.int64), n_words)
        first = np.full(n, -1, dtype=np.int64)
        last = np.full(n, -1, dtype=np.int64)
        ends = np.cumsum(n_words)
        has = n_words > 0
        first[has] = ids[(ends - n_words)[has]]
        last[has] = ids[ends[has] - 1]
        lo, hi = self.word_range
        owners, cols = [], []
        if lo <= 1:
            unigram = self.word_cols[np.maximum(ids, 0)]
            keep = (ids >= 0) & (unigram >= 0)
            owners.append(owner[keep])
            cols.append(unigram[keep])
        if hi >= 2 and len(ids) > 1:
            inside = owner[:-1] == owner[1:]
            pair = self._pair_cols(ids[:-1][inside], ids[1:][inside])
            owners.append(owner[:-1][inside][pair >= 0])
            cols.append(pair[pair >= 0])
        word_cols = _per_owner(np.concatenate(owners or [owner[:0]]), np.concatenate(cols or [owner[:0]]), n,
                               self.n_word)  # fmt: skip
        gram_cols = self._char_data(lowers)
        fixed = {"first_word": first, "last_word": last, "n_words": n_words}
        return fixed, {"word_cols": word_cols[0], "word_counts": word_cols[1], "grams": gram_cols[0],
                       "gram_counts": gram_cols[1]}  # fmt: skip

    def _char_data(self, lowers: list[str]) -> tuple[tuple, tuple]:
        """Each lower-cased token's character n-gram columns and counts (as :func:`_per_owner` gives them). The
        vectorizer kept each training word's row of counts (``word_grams_``, which its own ``transform`` uses):
        those rows are taken as they are; only the other tokens are cut into n-grams."""
        n = len(lowers)
        index, rows_of = getattr(self.char, "word_index_", None), getattr(self.char, "word_grams_", None)
        if isinstance(index, dict) and index and sp.issparse(rows_of):
            rows = np.fromiter(map(index.get, lowers, repeat(-1)), dtype=np.int64, count=n)
        else:  # a vectorizer saved without them
            rows = np.full(n, -1, dtype=np.int64)
        seen, unseen = np.flatnonzero(rows >= 0), np.flatnonzero(rows < 0)
        lo, hi = self.char_range
        grams = [char_wb_ngrams(lowers[i], lo, hi) for i in unseen.tolist()]
        owner = np.repeat(unseen, np.fromiter(map(len, grams), dtype=np.int64, count=len(grams)))
        cols = np.fromiter(map(self.char_vocab.get, chain.from_iterable(grams), repeat(-1)), dtype=np.int64,
                           count=len(owner))  # fmt: skip
        owner, cols, counts = owner[cols >= 0], cols[cols >= 0], np.ones(int((cols >= 0).sum()), dtype=np.int64)
        if len(seen) and rows_of is not None:  # (tokens are only seen when the vectorizer kept the rows)
            part = sp.csr_matrix(rows_of[rows[seen]])
            part.sum_duplicates()
            owner = np.concatenate([np.repeat(seen, np.diff(part.indptr)), owner])
            cols = np.concatenate([part.indices.astype(np.int64), cols])
            counts = np.concatenate([np.rint(part.data).astype(np.int64), counts])
        return _per_owner(owner, cols, n, self.n_char, counts)

    # ---------------------------------------------------------------------------------------------- counts

    def _docs(self, texts: list[str], tokens: Tokens | None) -> tuple[Tokens, dict[str, np.ndarray],
                                                                      dict[str, Ragged], sp.csr_matrix]:  # fmt: skip
        """The tokens (looked up again if the table started over), the token data and the (texts x stored tokens)
        matrix: one entry per occurrence, 32-bit indices and counts (scipy keeps the narrowest type its inputs
        share)."""
        m = len(texts)
        tokens = tokens or tokenize(texts)
        while (found := self.data.columns(tokens)) is None:  # the token table started over: look up again
            tokens = tokenize(texts)
        fixed, rank, ragged = found
        positions = rank[tokens.ids]
        indptr = np.zeros(m + 1, dtype=np.int32)
        np.cumsum(tokens.ntok, out=indptr[1:])
        docs = sp.csr_matrix((np.ones(len(positions), dtype=np.int32), positions.astype(np.int32), indptr),
                             shape=(m, ragged["grams"].size))  # fmt: skip
        return tokens, fixed, ragged, docs

    def counts(self, texts: list[str], tokens: Tokens | None = None) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """The word and the character n-gram counts of ``texts`` (``tokens``: the texts already
        :func:`~nlpipe.tasks.sentiment.token_table.tokenize`-d): the vectorizers' counts, each row's columns in no
        particular order."""
        tokens, fixed, ragged, docs = self._docs(texts, tokens)
        words = docs @ _stored(ragged["word_cols"], ragged["word_counts"], self.n_word)
        if self.word_range[1] >= 2:
            words = words + self._cross_bigrams(tokens, fixed, len(texts))
        return words, docs @ _stored(ragged["grams"], ragged["gram_counts"], self.n_char)

    def _cross_bigrams(self, tokens: Tokens, fixed: dict[str, np.ndarray], m: int) -> sp.csr_matrix:
        """The bigrams of a token's last word and the next token's first word (tokens without words between
        them are skipped, as the words of the text follow one another): one entry per occurrence."""
        ids = tokens.ids
        with_words = np.flatnonzero(fixed["n_words"][ids] > 0)
        rows = np.repeat(np.arange(m, dtype=np.int64), tokens.ntok)[with_words]
        same = rows[:-1] == rows[1:]
        cols = self._pair_cols(fixed["last_word"][ids[with_words[:-1][same]]],
                               fixed["first_word"][ids[with_words[1:][same]]])  # fmt: skip
        rows = rows[:-1][same][cols >= 0]
        cols = cols[cols >= 0]
        indptr = np.zeros(m + 1, dtype=np.int32)
        np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
        return sp.csr_matrix(
            (np.ones(len(cols), dtype=np.int32), cols.astype(np.int32), indptr), shape=(m, self.n_word)
        )

    # --------------------------------------------------------------------------------------------- results

    def transform(self, texts: list[str], tokens: Tokens | None = None) -> list[sp.csr_matrix]:
        """The word and the character TF-IDF blocks, as ``word.transform(texts)`` and ``char.transform(texts)``
        (each vectorizer's own weighting of the counts)."""
        word_counts, char_counts = self.counts(texts, tokens)
        return [self.word._tfidf(word_counts), self.char._tfidf(char_counts)]

    def scores(self, texts: list[str], tokens: Tokens | None, weights: np.ndarray) -> np.ndarray:
        """``word_block @ weights[:n_word] + char_block @ weights[n_word : n_word + n_char]`` (``weights``: one row
        per column of the blocks, in that order, maybe more rows after them; one column per output), without the
        TF-IDF blocks.

        The score of a row is ``sum_j tf(c_j) idf_j w_j / sqrt(sum_j (tf(c_j) idf_j)^2)`` over its n-grams j with
        counts c_j. Counts add up over a text's tokens, so written with c_j instead of tf(c_j) both sums are
        linear in the tokens: each stored token's share (its counts times ``idf * w`` and ``idf**2``) is computed
        once (:class:`_Projection`) and a batch adds its tokens' shares with one sparse product. The n-grams that
        occur more than once in a text (``tf(c) != c``) are then corrected from the batch's counts."""
        tokens, fixed, ragged, docs = self._docs(texts, tokens)
        m = len(texts)
        key = (tokens.table, tokens.generation)  # stored positions belong to one generation of one table
        cross = self._cross_bigrams(tokens, fixed, m) if self.word_range[1] >= 2 else None
        word = self._block_scores("word", key, docs, ragged["word_cols"], ragged["word_counts"], weights, cross)
        return word + self._block_scores("char", key, docs, ragged["grams"], ragged["gram_counts"], weights, None)

    def _block_scores(self, block: str, key: tuple[Any, int], docs: sp.csr_matrix, cols: Ragged, counts: Ragged,
                      weights: np.ndarray, extra: sp.csr_matrix | None) -> np.ndarray:  # fmt: skip
        """One block's scores (see :meth:`scores`); ``extra``: counts that come from no single token (the
        bigrams across two tokens)."""
        m = docs.shape[0]
        vectorizer = self.word if block == "word" else self.char
        width = self.n_word if block == "word" else self.n_char
        proj = self._projection(block, key, vectorizer, weights, cols, counts, width)
        k = proj.A.shape[1] - 1
        stored = _stored(cols, counts, width)
        C = docs @ stored  # the batch's counts: which n-grams occur more than once
        if extra is not None:
            C = C + extra
        sums = np.asarray(docs @ proj.rows[: cols.size])  # (m x k+1): sum of c * idf * w, and of c * idf**2
        if extra is not None and extra.nnz:
            sums += np.asarray(extra @ proj.A)
        several = np.flatnonzero(C.data > 1)
        if len(several):
            rows = np.searchsorted(C.indptr, several, side="right") - 1
            c = C.data[several].astype(np.float64)
            tf = np.log(c) + 1.0 if vectorizer.sublinear_tf else c
            E = proj.A[C.indices[several]]
            E[:, :k] *= (c - tf)[:, None]
            E[:, k] *= c - tf * tf
            for j in range(k + 1):
                sums[:, j] -= np.bincount(rows, weights=E[:, j], minlength=m)
        norms = np.sqrt(np.maximum(sums[:, k], 0.0))[:, None]
        out = np.zeros((m, k))
        np.divide(sums[:, :k], norms, out=out, where=norms > 0)  # a row without n-grams scores 0
        return out

    def _projection(self, block: str, key: tuple[Any, int], vectorizer: Any, weights: np.ndarray, cols: Ragged,
                    counts: Ragged, width: int) -> _Projection:  # fmt: skip
        """The block's :class:`_Projection` for ``weights`` and the token data's ``key`` (table, generation),
        filled up to the stored tokens of ``cols``."""
        with self._lock:
            proj = self._projections.get(block)
            if proj is None or proj.weights is not weights or proj.key[0] is not key[0] or proj.key[1] != key[1]:
                at = 0 if block == "word" else self.n_word
                w = weights[at : at + width]
                idf = vectorizer.idf_
                proj = _Projection(weights, key, np.column_stack([w * idf[:, None], idf * idf]))
                self._projections[block] = proj
            if proj.done < cols.size:
                lo, hi = proj.done, cols.size
                ptr = cols.ptr[lo : hi + 1]
                part = sp.csr_matrix((counts.values[ptr[0] : ptr[-1]], cols.values[ptr[0] : ptr[-1]],
                                      (ptr - ptr[0]).astype(np.int64)), shape=(hi - lo, width))  # fmt: skip
                rows = _grown_rows(proj.rows, hi)
                rows[lo:hi] = np.asarray(part @ proj.A)
                proj.rows, proj.done = rows, hi
            return proj


class _PairTable:
    """Distinct non-negative int64 keys -> int64 values in an open-addressing hash table (linear probing, at most
    a third full), looked up for a whole array of keys at once: a few gathers instead of a sort and binary
    searches."""

    def __init__(self, keys: np.ndarray, values: np.ndarray) -> None:
        self.bits = max(4, int(len(keys) * 3).bit_length())
        size = 1 << self.bits
        self.keys = np.full(size, -1, dtype=np.int64)
        self.values = np.full(size, -1, dtype=np.int64)
        home = self._home(keys)
        pending = np.arange(len(keys))
        probes = 0
        while len(pending):  # round r: every key not placed yet tries the r-th slot from its home
            slot = (home[pending] + probes) & (size - 1)
            free = self.keys[slot] == -1
            slot, cand = slot[free], pending[free]
            slot, first = np.unique(slot, return_index=True)  # one key per free slot
            self.keys[slot], self.values[slot] = keys[cand[first]], values[cand[first]]
            placed = np.zeros(len(keys), dtype=bool)
            placed[cand[first]] = True
            pending = pending[~placed[pending]]
            probes += 1
        self.probes = probes  # a stored key is found within this many probes

    def _home(self, keys: np.ndarray) -> np.ndarray:
        """Fibonacci hashing: the top ``bits`` bits of ``key * 2**64 / phi`` (modulo 2**64)."""
        mixed = keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        return (mixed >> np.uint64(64 - self.bits)).astype(np.int64)

    def get(self, keys: np.ndarray) -> np.ndarray:
        """The value of each key, -1 for keys not in the table."""
        out = np.full(len(keys), -1, dtype=np.int64)
        todo = np.arange(len(keys))
        slot = self._home(keys)
        mask = (1 << self.bits) - 1
        for _ in range(self.probes):
            if not len(todo):
                break
            found = self.keys[slot]
            hit = found == keys[todo]
            out[todo[hit]] = self.values[slot[hit]]
            more = ~hit & (found != -1)  # an empty slot ends the search: the key is not stored
            todo, slot = todo[more], (slot[more] + 1) & mask
        return out


class _Projection:
    """Per stored token of an :class:`NgramBlocks` block, its n-gram counts times ``A`` (``idf * w`` per output,
    then ``idf**2``): rows ``0..done-1`` are filled, in the token data's stored order. Kept for one ``weights``
    array (a fitted model's)."""

    def __init__(self, weights: np.ndarray, key: tuple[Any, int], A: np.ndarray) -> None:
        self.weights, self.key, self.A = weights, key, A
        self.rows = np.zeros((0, A.shape[1]))
        self.done = 0


def _grown_rows(arr: np.ndarray, size: int) -> np.ndarray:
    """``arr`` if it holds ``size`` rows, else a copy with at least twice as many (rows written before kept)."""
    if size <= len(arr):
        return arr
    out = np.zeros((max(size, 2 * len(arr), 1024), arr.shape[1]))
    out[: len(arr)] = arr
    return out


def _per_owner(
    owner: np.ndarray, cols: np.ndarray, n: int, width: int, counts: np.ndarray | None = None
) -> tuple[tuple, tuple]:
    """The ragged columns ``(lengths, columns)`` and ``(lengths, counts)`` of each owner 0..n-1's distinct
    columns, in order, from one sort of (owner, column) keys; ``counts``: how many times each entry counts (else
    once)."""
    width = max(width, 1)
    if counts is None:
        keys, summed = np.unique(owner * width + cols, return_counts=True)
    else:
        keys, inverse = np.unique(owner * width + cols, return_inverse=True)
        summed = np.bincount(inverse, weights=counts, minlength=len(keys))
    key_owner = keys // width
    per_owner = np.bincount(key_owner, minlength=n)
    return (per_owner, (keys - key_owner * width).astype(np.int32)), (per_owner, np.rint(summed).astype(np.int32))


def _stored(cols: Ragged, counts: Ragged, width: int) -> sp.csr_matrix:
    """The stored tokens' rows of a ragged column pair as a (tokens x columns) count matrix (no copy)."""
    n = int(cols.ptr[cols.size])
    return sp.csr_matrix((counts.values[:n], cols.values[:n], cols.ptr[: cols.size + 1].astype(np.int32)),
                         shape=(cols.size, width))  # fmt: skip


_BLOCKS: weakref.WeakKeyDictionary[Any, NgramBlocks] = weakref.WeakKeyDictionary()


def ngram_blocks(word: Any, char: Any) -> NgramBlocks | None:
    """The :class:`NgramBlocks` of this fitted pair of vectorizers (built on first use and kept while the
    vectorizer lives), or None when they are not of the kind it reproduces."""
    if not NgramBlocks.supports(word, char):
        return None
    blocks = _BLOCKS.get(char)
    if blocks is None or blocks.word is not word:
        blocks = NgramBlocks(word, char)
        _BLOCKS[char] = blocks
    return blocks
