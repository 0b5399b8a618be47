"""Precision, recall and F1 from counts, and the tables built from them (averages, per label, per threshold).

:func:`prf` is the one P/R/F1 of nlpipe's evaluations (classification, entities, fields). The helpers here also
chunk the example axis (:func:`chunks`, so temporaries stay bounded) and make values JSON-safe.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

#: Decision thresholds of the ``thresholds`` table: 0.00, 0.01, ..., 0.99.
THRESHOLD_GRID = np.round(np.arange(100) * 0.01, 2)
CHUNK_ELEMENTS = 1 << 21  # proba cells processed per chunk, bounds temporary memory


def chunks(n: int, n_labels: int) -> Iterator[slice]:
    """Slices of the ``n`` examples holding about ``CHUNK_ELEMENTS`` cells of ``n_labels`` columns each."""
    step = max(1, CHUNK_ELEMENTS // max(1, n_labels))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b`` with 0 where ``b`` is 0 (scikit-learn's ``zero_division=0``)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)


def prf(tp: Any, fp: Any, fn: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 from true positive, false positive and false negative counts (scalars or arrays;
    0 where undefined). Every P/R/F1 of nlpipe's evaluations comes from here."""
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    return div(tp, tp + fp), div(tp, tp + fn), div(2 * tp, 2 * tp + fp + fn)


def averages(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, support: np.ndarray) -> dict[str, float]:
    p, r, f = prf(tp, fp, fn)
    mp, mr, mf = prf(tp.sum(), fp.sum(), fn.sum())
    total = support.sum()
    w = support / total if total > 0 else np.zeros(len(support))
    return {
        "macro_precision": float(p.mean()),
        "macro_recall": float(r.mean()),
        "macro_f1": float(f.mean()),
        "micro_precision": float(mp),
        "micro_recall": float(mr),
        "micro_f1": float(mf),
        "weighted_precision": float(p @ w),
        "weighted_recall": float(r @ w),
        "weighted_f1": float(f @ w),
    }


def per_label_scores(
    labels: list[str], tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, support: np.ndarray
) -> dict[str, dict[str, Any]]:
    p, r, f = prf(tp, fp, fn)
    return {
        label: {"precision": float(p[j]), "recall": float(r[j]), "f1": float(f[j]), "support": int(support[j])}
        for j, label in enumerate(labels)
    }


def threshold_table(grid_counts: np.ndarray, grid_pos: np.ndarray, n_pos: int) -> dict[str, list[float]]:
    predicted = np.cumsum(grid_counts[::-1])[::-1]  # pairs with proba >= t
    tp = np.cumsum(grid_pos[::-1])[::-1]
    precision = div(tp, predicted)
    recall = div(tp, np.full(100, n_pos))
    f1 = div(2 * tp, predicted + n_pos)
    return {
        "threshold": [float(t) for t in THRESHOLD_GRID],
        "precision": rounded(precision),
        "recall": rounded(recall),
        "f1": rounded(f1),
    }


def rounded(a: np.ndarray) -> list[float]:
    return np.round(np.asarray(a, dtype=np.float64), 6).tolist()


def finite_or_none(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None
