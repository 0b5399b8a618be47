"""Array helpers of the n-gram vectorizers (:mod:`nlpipe.tasks.features`): terms to columns, count matrices,
n-grams coded as integers (character ids packed into an int64), the smoothed IDF, and the count matrix the C
loop (``nlpipe/tasks/_ngrams.c``) returns as bytes. Pure NumPy and SciPy; no state."""

from __future__ import annotations

from collections import defaultdict
from itertools import repeat

import numpy as np
import scipy.sparse as sp

__all__ = ["CHAR_BITS", "MAX_CODED_LEN", "char_ids", "count_matrix", "lookup", "native_csr", "pack", "smoothed_idf"]


def count_matrix(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """Counts of the (row, column) pairs given, as a CSR matrix (duplicates added up)."""
    m = sp.csr_matrix((np.ones(len(cols), dtype=np.float64), (rows, cols)), shape=shape)
    m.sum_duplicates()
    return m


CHAR_BITS = 12  # bits per character in an n-gram's code (CharNgrams._gram_codes)
MAX_CODED_LEN = 5  # 5 x 12 bits + 3 bits of length: 63 bits, an int64


def char_ids(points: np.ndarray, text: str) -> np.ndarray:
    """Each character's id in the sorted alphabet ``points`` (its place + 1), 0 for characters not in it."""
    chars = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    at = np.minimum(np.searchsorted(points, chars), len(points) - 1)
    return np.where(points[at] == chars, at + 1, 0).astype(np.int64)


def pack(ids: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the n-grams ``ids[starts[i] : starts[i] + lengths[i]]`` (character ids, 12 bits each, then the
    length in 3 bits), and which of them hold a character outside the alphabet (id 0)."""
    code = np.zeros(len(starts), dtype=np.int64)
    bad = np.zeros(len(starts), dtype=bool)
    for k in range(int(lengths.max()) if len(lengths) else 0):
        has = lengths > k
        c = ids[starts[has] + k]
        code[has] = (code[has] << CHAR_BITS) | c
        bad[has] |= c == 0
    return (code << 3) | lengths, bad


def smoothed_idf(df: np.ndarray, n_docs: int) -> np.ndarray:
    """Smoothed IDF of document frequencies ``df`` over ``n_docs`` documents, as ``TfidfVectorizer`` computes it."""
    return np.log((1.0 + n_docs) / (1.0 + df.astype(np.float64))) + 1.0


def native_csr(parts: tuple[bytearray, bytearray, bytearray], shape: tuple[int, int]) -> sp.csr_matrix:
    """The CSR matrix of counts that :mod:`nlpipe.tasks._ngrams` returns as three bytearrays (each column once per
    row, unsorted: nothing downstream needs them sorted)."""
    dtypes = (np.int64, np.int32, np.float64)
    indptr, indices, data = (np.frombuffer(b, dtype=t) for b, t in zip(parts, dtypes, strict=True))
    return sp.csr_matrix((data, indices, indptr), shape=shape)


def lookup(terms: list[str], vocab: dict[str, int], grow: bool) -> np.ndarray:
    """Column of each term; new terms get new columns when ``grow``, else -1."""
    if grow:
        index: defaultdict[str, int] = defaultdict()
        index.update(vocab)
        index.default_factory = index.__len__
        ids = np.fromiter(map(index.__getitem__, terms), dtype=np.int64, count=len(terms))
        vocab.update(index)
        return ids
    return np.fromiter(map(vocab.get, terms, repeat(-1)), dtype=np.int64, count=len(terms))
