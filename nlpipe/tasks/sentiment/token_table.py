"""Per-token work done once per distinct whitespace token, for the vectorised sentiment scorers.

VADER's rules (:mod:`nlpipe.tasks.sentiment.vader`) and the n-gram features of a trained sentiment model
(:mod:`nlpipe.tasks.sentiment.features`) both start from a text's whitespace tokens (``text.split()``), and what
they need of a token (its lexicon entry, its n-gram columns, ...) depends on the token alone. So a batch of texts
is split once (:func:`tokenize`), each token gets an id from one process-wide :class:`TokenTable` (one dictionary
lookup per token), and each scorer keeps its data per id in a :class:`TokenData`, computed the first time it sees
the id; the rest is numpy over the whole batch. Natural text repeats its tokens (Zipf): the 14,640 airline
tweets have 258,446 tokens but 30,105 distinct ones, so after the first few batches nearly every token is known.

Memory is bounded: when a batch would take the table past ``max_tokens`` distinct tokens it starts over empty
under a new generation number, and every :class:`TokenData` drops what it had. Several threads may score at
once: the table and each data store only ever append (rows handed out never change) and update under a lock.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain, repeat

import numpy as np

__all__ = ["CollectorPaused", "TokenTable", "TokenData", "Ragged", "Tokens", "tokenize", "gather_ragged", "SHARED"]

#: ``compute(tokens)`` of a :class:`TokenData`: fixed-width columns (one value per token) and ragged ones
#: (``(lengths, values)``: ``lengths[k]`` values for token k, concatenated in token order).
Computed = tuple[dict[str, np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]]]


class CollectorPaused:
    """Python's cyclic garbage collector paused for a block, then restored as it was (on, unless it was off).

    Scoring a batch creates many small objects (the tokens of the texts, the n-grams of new tokens; a prediction
    is half a dozen more: the Prediction, its label scores, lists). Tens of thousands of them in one call set off
    repeated full collections of every object of the process (a loaded model's vocabularies alone are hundreds of
    thousands of strings): a quarter of the time of scoring 14,640 tweets (``benchmarks/sentiment.py``), more on
    a model's first batches. Scoring creates no reference cycles, so nothing waits for the collector meanwhile
    (reference counting frees everything as usual), and the new objects are looked at once, by the first
    collection after the call, or never if the caller drops them first.
    A plain class, not a generator: finishing a generator allocates, which would start that collection inside the
    call. Concurrent calls are safe: a call that finds the collector paused leaves it to the call that paused it.
    """

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.was_enabled:
            gc.enable()


class TokenTable:
    """Distinct tokens -> ids 0, 1, 2, ...; bounded by ``max_tokens`` (then it starts over, generation + 1)."""

    def __init__(self, max_tokens: int = 100_000) -> None:
        self.max_tokens = max_tokens
        self.generation = 0
        self._lock = threading.Lock()
        self._index: dict[str, int] = {}
        self._tokens: list[str] = []

    def __len__(self) -> int:
        return len(self._tokens)

    def lookup(self, tokens: list[str]) -> tuple[np.ndarray, int]:
        """The id of each token (new tokens get new ids) and the table's generation the ids belong to."""
        with self._lock:
            ids = np.fromiter(map(self._index.get, tokens, repeat(-1)), dtype=np.int64, count=len(tokens))
            missing = np.flatnonzero(ids < 0)
            if len(missing):
                new = list(dict.fromkeys([tokens[i] for i in missing.tolist()]))
                if len(self._tokens) + len(new) > self.max_tokens:  # start over
                    self._index, self._tokens = {}, []
                    self.generation += 1
                    missing = np.arange(len(tokens))
                    new = list(dict.fromkeys(tokens))
                start = len(self._tokens)
                self._index.update(zip(new, range(start, start + len(new)), strict=True))
                self._tokens.extend(new)
                index = self._index
                ids[missing] = np.fromiter(map(index.__getitem__, [tokens[i] for i in missing.tolist()]),
                                           dtype=np.int64, count=len(missing))  # fmt: skip
            return ids, self.generation

    def clear(self) -> None:
        """Forget every token (a new generation: the scorers' data is recomputed as tokens come back)."""
        with self._lock:
            self._index, self._tokens = {}, []
            self.generation += 1

    def tokens_of(self, ids: Sequence[int], generation: int) -> list[str] | None:
        """The tokens with these ids, or None when the table has started over since ``generation``."""
        with self._lock:
            if generation != self.generation:
                return None
            return [self._tokens[i] for i in ids]


#: The table every scorer of the process shares, so a batch is looked up once for all of them.
SHARED = TokenTable()


@dataclass(frozen=True)
class Tokens:
    """A batch of texts split on whitespace: ``ntok[t]`` tokens of text t, their ``ids`` in ``table`` (all texts'
    tokens one after the other) and the table's ``generation`` for them."""

    ntok: np.ndarray
    ids: np.ndarray
    generation: int
    table: TokenTable


def tokenize(texts: Sequence[str], table: TokenTable = SHARED) -> Tokens:
    """Split ``texts`` as ``str.split()`` does and look the tokens up in ``table``."""
    splits = list(map(str.split, texts))
    ntok = np.fromiter(map(len, splits), dtype=np.int64, count=len(splits))
    ids, generation = table.lookup(list(chain.from_iterable(splits)))
    return Tokens(ntok=ntok, ids=ids, generation=generation, table=table)


@dataclass(frozen=True)
class Ragged:
    """A ragged column of a :class:`TokenData`: the values of the token stored at position k (see ``rank``) are
    ``values[ptr[k]:ptr[k + 1]]``; positions ``0..size-1`` are filled, in the order they were stored."""

    ptr: np.ndarray
    values: np.ndarray
    size: int


class TokenData:
    """One scorer's data per token id of a :class:`TokenTable`, computed by ``compute`` for ids not seen yet.

    Fixed columns are indexed by id. Ragged ones are kept in the order they were computed (so the first ``size``
    positions form a ready CSR layout), with ``rank[id]`` the position of each id."""

    def __init__(self, compute: Callable[[list[str]], Computed]) -> None:
        self.compute = compute
        self._lock = threading.Lock()
        self._reset(None, -1)

    def _reset(self, table: TokenTable | None, generation: int) -> None:
        self._table, self._generation = table, generation
        self._known = np.zeros(0, dtype=bool)
        self._rank = np.zeros(0, dtype=np.int64)
        self._size = 0
        self._fixed: dict[str, np.ndarray] = {}
        self._ptr: dict[str, np.ndarray] = {}
        self._values: dict[str, np.ndarray] = {}

    def columns(self, tokens: Tokens) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, Ragged]] | None:
        """The fixed columns (index them with ``tokens.ids``), ``rank`` and the ragged columns, with every id of
        ``tokens`` filled in; None when the table has started over since ``tokens`` were looked up (tokenize
        again)."""
        with self._lock:
            if tokens.table is not self._table or tokens.generation != self._generation:
                self._reset(tokens.table, tokens.generation)
            ids = tokens.ids
            top = int(ids.max()) + 1 if len(ids) else 0
            if top > len(self._known):
                self._known = _grown(self._known, top, False)
                self._rank = _grown(self._rank, top, -1)
            todo = np.unique(ids[~self._known[ids]]) if len(ids) else ids
            if len(todo):
                found = tokens.table.tokens_of(todo.tolist(), tokens.generation)
                if found is None:
                    return None
                self._store(todo, *self.compute(found))
            fixed = dict(self._fixed)
            ragged = {name: Ragged(self._ptr[name], self._values[name], self._size) for name in self._values}
            return fixed, self._rank, ragged

    def _store(self, ids: np.ndarray, fixed: dict[str, np.ndarray], ragged: dict[str, tuple]) -> None:
        top = len(self._known)
        for name, col in fixed.items():
            arr = self._fixed.get(name)
            arr = _grown(arr if arr is not None else np.zeros(0, dtype=col.dtype), top, 0)
            arr[ids] = col  # a new array when grown; else rows no earlier caller was given
            self._fixed[name] = arr
        size = self._size + len(ids)
        for name, (lengths, values) in ragged.items():
            ptr = self._ptr.get(name, np.zeros(1, dtype=np.int64))
            used = int(ptr[self._size])
            ptr = _grown(ptr, size + 1, 0)
            ptr[self._size + 1 : size + 1] = used + np.cumsum(lengths)
            buf = self._values.get(name)
            buf = _grown(buf if buf is not None else np.zeros(0, dtype=values.dtype), used + len(values), 0)
            buf[used : used + len(values)] = values
            self._ptr[name], self._values[name] = ptr, buf
        self._rank[ids] = np.arange(self._size, size)
        self._size = size
        self._known[ids] = True


def _grown(arr: np.ndarray, size: int, fill: object) -> np.ndarray:
    """``arr`` if it holds ``size`` rows, else a copy at least twice as long (new rows ``fill``)."""
    if size <= len(arr):
        return arr
    out = np.full(max(size, 2 * len(arr), 1024), fill, dtype=arr.dtype)
    out[: len(arr)] = arr
    return out


def gather_ragged(column: Ragged, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The values at ``positions`` of a ragged column, concatenated in order, and how many each has."""
    first = column.ptr[positions]
    counts = column.ptr[positions + 1] - first
    total = int(counts.sum())
    if total == 0:
        return column.values[:0], counts
    offsets = np.cumsum(counts) - counts  # where each position's values begin in the output
    index = np.repeat(first - offsets, counts) + np.arange(total)
    return column.values[index], counts
