"""Types of the C extension nlpipe.tasks._ngrams (built from _ngrams.c by setup.py; its comment documents each
function). Counting calls return (indptr, indices, data) bytearrays, or with ``score`` one bytearray of scores."""

from typing import Any

import numpy as np

Score = tuple[np.ndarray, np.ndarray, bool] | None  # (idf, W, sublinear)

def string_table(table: dict[str, int], /) -> bytearray: ...
def code_table(codes: np.ndarray, cols: np.ndarray, /) -> bytearray: ...
def gram_table(grams: dict[str, int], /) -> bytearray: ...
def word_counts(
    texts: list[str], unigrams: bytearray, bigrams: bytearray, n_cols: int, mult: int, score: Score = None, /
) -> Any: ...
def char_counts(
    texts: list[str],
    words: bytearray,
    wg_indptr: np.ndarray,
    wg_indices: np.ndarray,
    wg_data: np.ndarray,
    grams: dict[str, int],
    lo: int,
    hi: int,
    n_cols: int,
    table: bytearray | None,
    score: Score = None,
    /,
) -> Any: ...
