"""The ``hashed`` and ``shortlist`` strategies of :class:`~nlpipe.tasks.classify.model.TextClassifier`, for
data too large for the ``standard`` search: hashed word 1-2 grams (:mod:`nlpipe.tasks.classify.hashing`, no
vocabulary, counted batch by batch when streaming), one model fitted once, calibrated on a held-out part.

``hashed`` fits one linear SVM per label (each on all its positives and a sample of negatives, at most
:data:`MAX_ROWS` rows); ``shortlist`` fits centroid candidates and per-label re-rankers
(:mod:`nlpipe.tasks.classify.shortlist`, for hundreds to thousands of labels)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from nlpipe.errors import TrainingError
from nlpipe.tasks.classify.checks import check_labels, check_texts, check_validation
from nlpipe.tasks.classify.hashing import HashedNgrams
from nlpipe.tasks.classify.linear import calibrate_shortlist, fit_linear, half_exact, sparse_stratified_split
from nlpipe.tasks.classify.shortlist import ShortlistLinear, choose_keep

__all__ = [
    "HASHED_SVM",
    "HASH_BITS",
    "MAX_ROWS",
    "HashedSplit",
    "fit_hashed_svm",
    "fit_shortlist",
    "hashed_split",
    "refit_shortlist",
    "stream_counts",
]

Progress = Callable[[str, int, int], None]

#: Hashed feature columns (2**bits): ``hashed`` keeps dense weights (labels x columns: 2**20 is 4 MB a label);
#: ``shortlist`` keeps sparse ones, so it affords fewer collisions.
HASH_BITS = {"hashed": 20, "shortlist": 22}
MAX_ROWS = 200_000  # hashed: rows one label's SVM is fitted on at most (all its positives, sampled negatives)
#: The one model ``hashed`` fits (no search at these sizes).
HASHED_SVM: dict[str, Any] = {"model": "svm", "C": 0.3, "nb_power": 0.0}
FEATURES = "hashed word 1-2 grams"  # how the search_ row of either strategy names its features


def stream_counts(
    batches: Iterable[tuple[Sequence[str], Sequence[Sequence[str]]]],
    multi: bool,
    progress: Progress | None,
    total: int,
) -> tuple[HashedNgrams, sp.csr_matrix, list[list[str]], np.ndarray]:
    """Each batch checked and turned into hashed n-gram counts (at the most bits any strategy uses) as it
    arrives, its texts then dropped: the hasher, the counts of every text, their label lists and the summed
    document frequencies. E301 when no batch holds a text."""
    hasher = HashedNgrams(n_bits=max(HASH_BITS.values()))  # folded to fewer bits once the strategy is known
    parts: list[sp.csr_matrix] = []
    lists: list[list[str]] = []
    df = None
    for texts, y in batches:
        texts = check_texts(texts, "texts", TrainingError, "E304")
        labs = check_labels(y, len(texts), multi, "y")
        counts = hasher.counts(texts)
        df = hasher.partial_df(counts, df)
        parts.append(counts)
        lists.extend(labs)
        if progress:
            progress("features", len(lists), max(total, len(lists)))
    if not lists or df is None:
        raise TrainingError("E301", "texts is empty; give at least two labeled texts to train on.", field="texts")
    return hasher, sp.vstack(parts, format="csr"), lists, df


@dataclass
class HashedSplit:
    """The rows the model is fitted on, those it is calibrated and scored on (labels dense), and whether it
    can be refitted on more than it was fitted on."""

    X_tr: sp.csr_matrix
    Y_tr: sp.csr_matrix
    X_va: sp.csr_matrix
    Y_va: np.ndarray
    refit: bool


def hashed_split(
    hasher: HashedNgrams,
    X: sp.csr_matrix,
    Y: sp.csr_matrix,
    validation: object,
    index: dict[str, int],
    multi: bool,
    seed: int,
    fraction: float,
) -> HashedSplit:
    """A seeded stratified ``fraction`` of the rows held out, or ``validation`` (texts, label lists) hashed."""
    if validation is None:
        tr, va = sparse_stratified_split(Y, fraction, seed)
        if len(va) == 0:
            va = tr
        X_tr, Y_tr, X_va, Y_va = X[tr], Y[tr], X[va], Y[va]
        refit = len(va) != len(tr) or not np.array_equal(va, tr)
    else:
        v_texts, Y_va_dense = check_validation(validation, index, multi)
        X_tr, Y_tr, X_va, Y_va = X, Y, hasher.transform(v_texts), sp.csr_matrix(Y_va_dense)
        refit = False
    return HashedSplit(X_tr, Y_tr, X_va, Y_va.toarray().astype(bool), refit)


def fit_shortlist(
    split: HashedSplit, multi: bool, seed: int
) -> tuple[ShortlistLinear, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray], dict[str, Any]]:
    """The shortlist model, its re-rankers dropped when validation prefers the centroids alone: the model, its
    validation scores, their calibration (scale, bias, thresholds) and its search_ params."""
    keep = choose_keep(split.X_tr, split.Y_tr, split.X_va, split.Y_va, multi)
    model = ShortlistLinear(keep=keep, seed=seed)
    model.fit(split.X_tr, split.Y_tr)
    if math.isinf(model.tune_centroid_weight(split.X_va, split.Y_va, multi)):
        model.drop_rerankers()
    S_va = model.decision_function(split.X_va)
    params: dict[str, Any] = {
        "features": FEATURES,
        "n_candidates": model.n_candidates,
        "keep": keep,
        "centroid_weight": None if model.centroids_only else model.centroid_weight_,
        "rerankers": not model.centroids_only,
    }
    return model, S_va, calibrate_shortlist(S_va, split.Y_va, multi), params


def refit_shortlist(model: ShortlistLinear, X: sp.csr_matrix, Y: sp.csr_matrix, seed: int) -> ShortlistLinear:
    """``model`` fitted again on every row, with the settings validation chose for it."""
    weight = model.centroid_weight_
    model = ShortlistLinear(keep=model.keep, rerank=not model.centroids_only, seed=seed).fit(X, Y)
    model.centroid_weight_ = weight
    return model


def fit_hashed_svm(
    split: HashedSplit, multi: bool, seed: int, class_weight: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """``hashed``'s weights (features x outputs, float16-exact float32) and intercepts (float32)."""
    W, b = fit_linear(split.X_tr, split.Y_tr.toarray().astype(bool), HASHED_SVM, multi, seed, class_weight, MAX_ROWS)
    return half_exact(W.T), b.astype(np.float32)
