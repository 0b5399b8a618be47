"""The linear models under every :class:`~nlpipe.tasks.classify.model.TextClassifier` strategy: one binary SVM
(or logistic regression) per output with the naive-Bayes scaling folded into its weights, the calibration of
their scores into probabilities, the decisions, the stratified split of a sparse label matrix, and the float16
rounding that halves a saved model."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from nlpipe.tasks.features import nb_log_count_ratio
from nlpipe.tasks.search import (
    best_threshold,
    fit_platt,
    fit_temperature,
    fit_temperature_hard,
    sample_weights,
)

__all__ = [
    "calibrate",
    "calibrate_shortlist",
    "decide",
    "fit_linear",
    "half_exact",
    "label_matrix",
    "proba",
    "sparse_stratified_split",
]

_SVM_TOL = 0.1  # liblinear's own default; scikit-learn's 1e-4 costs 30-40% more time for the same accuracy


def half_exact(W: np.ndarray) -> np.ndarray:
    """``W`` as float32, rounded to the nearest float16 where every weight fits one (|w| < 65,504): the saved
    file then holds 2 bytes a weight and the loaded model predicts exactly as the trained one. Rounding to 11
    significant bits changed no prediction's accuracy on the benchmark corpora (``benchmarks/classify.py``)."""
    W = np.ascontiguousarray(W, dtype=np.float32)
    if W.size and np.isfinite(W).all() and float(np.abs(W).max()) < 65_000.0:
        W = W.astype(np.float16).astype(np.float32)
    return W


def label_matrix(lists: list[list[str]], index: dict[str, int]) -> sp.csr_matrix:
    """Boolean (texts x labels) CSR matrix of label lists."""
    lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    cols = np.fromiter((index[lab] for labs in lists for lab in labs), dtype=np.int64, count=int(lengths.sum()))
    indptr = np.r_[0, np.cumsum(lengths)]
    return sp.csr_matrix((np.ones(len(cols), dtype=bool), cols, indptr), shape=(len(lists), len(index)))


def sparse_stratified_split(Y: sp.csr_matrix, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~nlpipe.tasks.search.stratified_split` for a sparse label matrix: the same rule (strata by each
    row's rarest label, at least one row of every stratum of 2+ kept for training), without a dense n x labels
    array."""
    n = Y.shape[0]
    rng = np.random.default_rng(seed)
    counts = np.asarray(Y.sum(axis=0)).ravel()
    key = np.full(n, -1, dtype=np.int64)
    rows = np.repeat(np.arange(n), np.diff(Y.indptr))
    if len(rows):
        order = np.lexsort((counts[Y.indices], rows))  # per row, its rarest label first
        first = np.r_[True, rows[order][1:] != rows[order][:-1]]
        key[rows[order][first]] = Y.indices[order][first]
    val = np.zeros(n, dtype=bool)
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.r_[True, key[order][1:] != key[order][:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        members = order[a:b]
        if len(members) < 2:
            continue
        take = min(len(members) - 1, max(1, int(round(fraction * len(members)))))
        val[rng.permutation(members)[:take]] = True
    return np.flatnonzero(~val), np.flatnonzero(val)


def fit_linear(
    X: sp.csr_matrix,
    Y: np.ndarray,
    spec: dict[str, Any],
    multi: bool,
    seed: int,
    class_weight: str | None,
    max_rows: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One binary linear model per output; NB scaling folded into the coefficients.

    ``max_rows``: an output whose data has more rows sees all its positive rows and a seeded sample of the
    negative ones (weighted up by the share left out), so one output's fit costs at most that many rows.
    """
    T = Y[:, 1:2] if (not multi and Y.shape[1] == 2) else Y
    w_rows = sample_weights(Y, T, multi, class_weight)
    rng = np.random.default_rng(seed)
    X = sp.csr_matrix(X, dtype=np.float64)  # liblinear's type: converted once here, not once per label
    W = np.zeros((T.shape[1], X.shape[1]))
    b = np.zeros(T.shape[1])
    power = float(spec["nb_power"])
    block = 16  # NB ratios are computed for 16 outputs at a time: features x 16, not features x labels
    ratios: np.ndarray | None = None
    ratios_block = -1
    for k in range(T.shape[1]):
        t = T[:, k]
        if t.all() or not t.any():  # a label on every text or none: constant score
            b[k] = 1.0 if t.all() else -1.0
            continue
        Xk = X
        r = None
        if power > 0:
            if ratios is None or k // block != ratios_block:
                ratios_block = k // block
                ratios = nb_log_count_ratio(X, T[:, ratios_block * block : (ratios_block + 1) * block])
            rk = ratios[:, k % block]
            r = rk if power == 1.0 else np.sign(rk) * np.abs(rk) ** power
            Xk = X.copy()
            Xk.data *= r[Xk.indices]
        if spec["model"] == "svm":
            model: LinearSVC | LogisticRegression = LinearSVC(C=spec["C"], tol=_SVM_TOL, random_state=seed)
        else:
            model = LogisticRegression(C=spec["C"], solver="liblinear", random_state=seed)
        w_k = w_rows[:, k]
        if max_rows is not None and len(t) > max_rows:
            pos, neg = np.flatnonzero(t), np.flatnonzero(~t)
            take = max(min(len(neg), max_rows - len(pos)), min(len(neg), max_rows // 2))
            neg_kept = np.sort(rng.choice(neg, size=take, replace=False))
            rows = np.union1d(pos, neg_kept)
            w_k = w_k[rows] * np.where(t[rows], 1.0, len(neg) / take)
            Xk, t = Xk[rows], t[rows]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(Xk, t.astype(np.int64), sample_weight=w_k)
        W[k] = model.coef_.ravel() * (r if r is not None else 1.0)
        b[k] = float(model.intercept_[0])
    return W, b


def calibrate(S: np.ndarray, Y: np.ndarray, multi: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scale, bias and thresholds that turn validation scores ``S`` into probabilities: one Platt sigmoid and a
    best-F1 threshold per label (multi-label), one sigmoid (two labels) or one softmax temperature."""
    n_labels = Y.shape[1]
    if multi:
        ab = [fit_platt(S[:, k], Y[:, k]) for k in range(n_labels)]
        scale = np.array([a for a, _ in ab])
        bias = np.array([c for _, c in ab])
        P = expit(S * scale + bias)
        thresholds = np.array([best_threshold(P[:, k], Y[:, k]) for k in range(n_labels)])
        return scale, bias, thresholds
    if n_labels == 2:
        a, c = fit_platt(S[:, 0], Y[:, 1])
        return np.array([a]), np.array([c]), np.full(2, 0.5)
    a = fit_temperature(S, Y.argmax(axis=1))
    return np.array([a]), np.zeros(1), np.full(n_labels, 0.5)


def calibrate_shortlist(S: np.ndarray, Y: np.ndarray, multi: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calibration when most scores are ``-inf`` (labels outside a text's candidates): one temperature over the
    candidates (single-label), or one Platt sigmoid and one threshold shared by every label (multi-label)."""
    n_labels = S.shape[1]
    finite = np.isfinite(S)
    if multi:
        s, t = S[finite], Y[finite]
        if t.all() or not t.any():
            return np.ones(1), np.zeros(1), np.full(n_labels, 0.5)
        a, c = fit_platt(s, t)
        return np.array([a]), np.array([c]), np.full(n_labels, best_threshold(expit(a * s + c), t))
    truth = Y.argmax(axis=1)
    rows = np.flatnonzero(finite[np.arange(len(S)), truth])
    if len(rows) == 0:
        return np.ones(1), np.zeros(1), np.full(n_labels, 0.5)
    S_c = np.where(finite[rows], S[rows], -1e4)
    a = fit_temperature_hard(S_c, truth[rows])
    return np.array([a]), np.zeros(1), np.full(n_labels, 0.5)


def proba(S: np.ndarray, scale: np.ndarray, bias: np.ndarray, multi: bool) -> np.ndarray:
    """Calibrated probabilities of scores ``S`` (one column per output; one column for two single labels)."""
    if multi:
        return expit(S * scale + bias)
    if S.shape[1] == 1:
        p = expit(S[:, 0] * scale[0] + bias[0])
        return np.column_stack([1.0 - p, p])
    return softmax(S * scale[0], axis=1)


def decide(P: np.ndarray, thresholds: np.ndarray, multi: bool) -> np.ndarray:
    """Boolean decisions: the labels at or above their threshold (multi-label), else the most probable one."""
    if multi:
        return P >= thresholds
    out = np.zeros(P.shape, dtype=bool)
    out[np.arange(P.shape[0]), P.argmax(axis=1)] = True
    return out
