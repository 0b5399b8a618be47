"""The ``confusion`` section of a classification evaluation: the matrix (restricted to the labels most involved
in errors when there are many) and the most frequent confusions, single-label and multi-label."""

from __future__ import annotations

from typing import Any

import numpy as np

MAX_TOP_PAIRS = 20


def _top_pairs(rows: np.ndarray, cols: np.ndarray, counts: np.ndarray, labels: list[str]) -> list[dict]:
    order = np.lexsort((cols, rows, -counts))[:MAX_TOP_PAIRS]
    return [{"true": labels[int(rows[i])], "predicted": labels[int(cols[i])], "count": int(counts[i])} for i in order]


def _pick_confusion_labels(involvement: np.ndarray, secondary: np.ndarray, k: int) -> np.ndarray:
    order = np.lexsort((np.arange(len(involvement)), -secondary, -involvement))
    return np.sort(order[:k])


def single_confusion(
    y: np.ndarray, pred: np.ndarray, err: np.ndarray, support: np.ndarray, labels: list[str], max_conf: int
) -> dict[str, Any]:
    L = len(labels)
    ye, pe = y[err], pred[err]
    pair_codes, pair_counts = np.unique(ye.astype(np.int64) * L + pe, return_counts=True)
    top = _top_pairs(pair_codes // L, pair_codes % L, pair_counts, labels)
    if L <= max_conf:
        keep = np.arange(L)
    else:
        involvement = np.bincount(ye, minlength=L) + np.bincount(pe, minlength=L)
        keep = _pick_confusion_labels(involvement, support, max_conf)
    k = len(keep)
    sub = np.full(L, -1, dtype=np.intp)
    sub[keep] = np.arange(k)
    sy, sp = sub[y], sub[pred]
    inside = (sy >= 0) & (sp >= 0)
    matrix = np.bincount(sy[inside] * k + sp[inside], minlength=k * k).reshape(k, k)
    return {
        "labels": [labels[j] for j in keep],
        "matrix": matrix.tolist(),
        "top_pairs": top,
        "restricted": bool(k < L),
        "n_labels": L,
        "axes": {"rows": "true", "columns": "predicted"},
    }


def multi_confusion(
    pair_counts: Any, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, n: int, labels: list[str], max_conf: int
) -> dict[str, Any]:
    L = len(labels)
    coo = pair_counts.tocoo()
    top = _top_pairs(coo.row, coo.col, coo.data, labels)
    if L <= max_conf:
        keep = np.arange(L)
    else:
        involvement = np.asarray(pair_counts.sum(axis=0)).ravel() + np.asarray(pair_counts.sum(axis=1)).ravel()
        keep = _pick_confusion_labels(involvement, fp + fn, max_conf)
    matrix = pair_counts[keep][:, keep].toarray()
    tn = n - tp - fp - fn
    return {
        "per_label": {
            label: {"tp": int(tp[j]), "fp": int(fp[j]), "fn": int(fn[j]), "tn": int(tn[j])}
            for j, label in enumerate(labels)
        },
        "labels": [labels[j] for j in keep],
        "matrix": matrix.astype(np.int64).tolist(),
        "top_pairs": top,
        "restricted": bool(len(keep) < L),
        "n_labels": L,
        "axes": {"rows": "true label missed", "columns": "label wrongly predicted (same example)"},
    }
