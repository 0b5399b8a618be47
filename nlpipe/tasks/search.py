"""The statistics behind :class:`nlpipe.tasks.classify.model.TextClassifier`'s model search.

Seeded stratified split, class-balanced sample weights, macro-F1 and the bootstrap standard error of a difference
in it, probability calibration (temperature scaling, Platt scaling) and F1-optimal thresholds. Plain functions of
numpy arrays; no state.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, log_softmax

__all__ = [
    "stratified_split",
    "sample_weights",
    "macro_f1",
    "f1_gain_se",
    "best_threshold",
    "fit_temperature",
    "fit_temperature_hard",
    "fit_platt",
]


def stratified_split(Y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of row indices into (train, validation), stratified by each row's rarest label.

    Every stratum of 2+ rows gives ``round(fraction * size)`` rows (at least 1, at most size - 1) to validation,
    and rows whose label would otherwise be missing from the train part move back to it.
    """
    n = Y.shape[0]
    rng = np.random.default_rng(seed)
    counts = Y.sum(axis=0)
    key = np.where(Y, counts[None, :], np.iinfo(np.int64).max).argmin(axis=1)
    key[~Y.any(axis=1)] = -1  # rows without labels (multi-label) form their own stratum
    val = np.zeros(n, dtype=bool)
    for k in np.unique(key):
        rows = np.flatnonzero(key == k)
        if len(rows) < 2:
            continue
        take = min(len(rows) - 1, max(1, int(round(fraction * len(rows)))))
        val[rng.permutation(rows)[:take]] = True
    missing = (Y[~val].sum(axis=0) == 0) & (counts > 0)
    if missing.any():
        val &= ~Y[:, missing].any(axis=1)
    return np.flatnonzero(~val), np.flatnonzero(val)


def sample_weights(Y: np.ndarray, T: np.ndarray, multi: bool, class_weight: str | None) -> np.ndarray:
    """Sample weights per output, shape (n, n_outputs), for ``class_weight="balanced"`` as liblinear applies it.

    Single-label with 3+ labels (one-vs-rest outputs): the texts of label k weigh ``n / (n_labels * count_k)``
    in output k and the rest weigh 1, like ``LinearSVC(class_weight="balanced")``. One binary output (two
    labels, or each label of multi-label data): positives ``n / (2 * positives)``, negatives
    ``n / (2 * negatives)``.
    """
    n = Y.shape[0]
    if class_weight is None:
        return np.ones(T.shape)
    if multi or T.shape[1] == 1:
        pos = T.sum(axis=0).astype(float)
        return np.where(T, n / (2.0 * np.maximum(pos, 1.0)), n / (2.0 * np.maximum(n - pos, 1.0)))
    per_label = n / (Y.shape[1] * np.maximum(Y.sum(axis=0), 1))
    return np.where(T, per_label, 1.0)


def macro_f1(T: np.ndarray, P: np.ndarray) -> float:
    """Macro-F1 over the labels present in truth or prediction (scikit-learn's default label set)."""
    tp = (T & P).sum(axis=0)
    fp = (~T & P).sum(axis=0)
    fn = (T & ~P).sum(axis=0)
    present = (T | P).any(axis=0)
    if not present.any():
        return 0.0
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    return float(f1[present].mean())


def f1_gain_se(T: np.ndarray, P_new: np.ndarray, P_old: np.ndarray, seed: int, rounds: int = 200) -> float:
    """Standard error of ``macro_f1(T, P_new) - macro_f1(T, P_old)`` by a seeded paired bootstrap of the rows."""
    n = T.shape[0]
    if n < 2:
        return float("inf")
    M = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=rounds).astype(np.float64)

    def macro(P: np.ndarray) -> np.ndarray:
        tp, fp, fn = M @ (T & P), M @ (~T & P), M @ (T & ~P)
        denom = 2 * tp + fp + fn
        present = denom > 0
        f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=present)
        return f1.sum(axis=1) / np.maximum(present.sum(axis=1), 1)

    return float(np.std(macro(P_new) - macro(P_old)))


def best_threshold(p: np.ndarray, t: np.ndarray) -> float:
    """Probability cut maximising F1 on (p, t); midway between the last kept and the next score."""
    n_pos = int(t.sum())
    if n_pos == 0:
        return 0.5
    order = np.argsort(-p, kind="stable")
    ps, ts = p[order], t[order].astype(np.int64)
    tp = np.cumsum(ts)
    fp = np.cumsum(1 - ts)
    f1 = 2 * tp / (2 * tp + fp + (n_pos - tp))
    ends = np.r_[ps[1:] != ps[:-1], True]  # a cut can only fall between distinct scores
    f1 = np.where(ends, f1, -1.0)
    i = int(np.argmax(f1))
    nxt = ps[i + 1] if i + 1 < len(ps) else 0.0
    return float((ps[i] + nxt) / 2.0)


def fit_temperature(S: np.ndarray, y: np.ndarray) -> float:
    """Scale ``a`` minimising the log loss of ``softmax(a * S)`` (temperature scaling).

    Targets are smoothed like Platt's (the true label gets ``(m + 1) / (m + 2)`` with ``m`` validation texts per
    label) so that a small, perfectly separated validation set does not drive the temperature to zero.
    """
    n, n_labels = S.shape
    m = n / n_labels
    hit = (m + 1.0) / (m + 2.0)
    target = np.full(S.shape, (1.0 - hit) / (n_labels - 1))
    target[np.arange(n), y] = hit

    def nll(log_a: float) -> float:
        return float(-(target * log_softmax(math.exp(log_a) * S, axis=1)).sum(axis=1).mean())

    res = minimize_scalar(nll, bounds=(-6.0, 7.0), method="bounded", options={"xatol": 1e-5})
    return float(math.exp(res.x))


def fit_temperature_hard(S: np.ndarray, y: np.ndarray) -> float:
    """Scale ``a`` minimising the log loss of ``softmax(a * S)`` for the true labels ``y``, unsmoothed: for many
    labels, where smoothing would spread mass over thousands of labels no text could carry."""

    def nll(log_a: float) -> float:
        return float(-log_softmax(math.exp(log_a) * S, axis=1)[np.arange(len(y)), y].mean())

    res = minimize_scalar(nll, bounds=(-6.0, 7.0), method="bounded", options={"xatol": 1e-5})
    return float(math.exp(res.x))


def fit_platt(s: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """Platt's sigmoid ``p = 1 / (1 + exp(-(a s + c)))`` fitted by log loss with his smoothed targets."""
    n_pos = float(t.sum())
    n_neg = float(len(t) - n_pos)
    target = np.where(t, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def loss(x: np.ndarray) -> tuple[float, np.ndarray]:
        z = x[0] * s + x[1]
        g = expit(z) - target
        return float(np.sum(np.logaddexp(0.0, z) - target * z)), np.array([g @ s, g.sum()])

    c0 = math.log((n_pos + 1.0) / (n_neg + 1.0))
    res = minimize(loss, np.array([1.0, c0]), jac=True, method="L-BFGS-B")
    return float(res.x[0]), float(res.x[1])
