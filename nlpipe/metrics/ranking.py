"""Ranking metrics of a classification evaluation: ROC AUC per label and precision/recall curves.

Curves follow ``sklearn.metrics.precision_recall_curve`` and ``average_precision_score``, from one sort per
label shared with ROC AUC. The ``"micro"`` curve pools every (example, label) pair; above
``_EXACT_MICRO_PAIRS`` pairs its scores are binned (:class:`MicroAccumulator`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nlpipe.metrics.scores import CHUNK_ELEMENTS, div, rounded

MAX_CURVE_POINTS = 200  # points kept per precision/recall curve
MAX_PR_LABELS = 50  # per-label PR curves for at most this many labels (highest support first)
_EXACT_MICRO_PAIRS = 2_000_000  # above this many (example, label) pairs the micro curve is binned
_MICRO_BINS = 1 << 17


def _micro_bin(p: np.ndarray) -> np.ndarray:
    return np.minimum((p * _MICRO_BINS).astype(np.intp), _MICRO_BINS - 1)


class MicroAccumulator:
    """Pooled (example, label) pairs for the micro PR curve: kept exactly when few, else histogrammed."""

    def __init__(self, n: int, n_labels: int) -> None:
        self.binned = n * n_labels > _EXACT_MICRO_PAIRS
        self.parts: list[tuple[np.ndarray, np.ndarray]] = []
        if self.binned:
            self.hist = np.zeros(2 * _MICRO_BINS, dtype=np.int64)  # bincount of 2 * bin + truth

    def add(self, scores: np.ndarray, truth: np.ndarray) -> None:
        if self.binned:
            b = _micro_bin(scores)
            b <<= 1
            b |= truth
            self.hist += np.bincount(b.ravel(), minlength=2 * _MICRO_BINS)
        else:
            self.parts.append((truth.ravel(), scores.ravel()))

    def result(self) -> dict[str, Any]:
        if self.binned:
            return {"binned": True, "pos": self.hist[1::2], "total": self.hist[0::2] + self.hist[1::2]}
        truth = np.concatenate([t for t, _ in self.parts])
        scores = np.concatenate([s for _, s in self.parts])
        return {"binned": False, "truth": truth, "scores": scores}


def _sorted_counts(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative true/false positives at each distinct score, highest first (sklearn _binary_clf_curve).

    Scores are in [0, 1], so their float64 bit patterns order like the floats; packing the truth bit under
    them lets one (SIMD) ``np.sort`` of int64 keys replace a much slower ``argsort``.
    """
    s = np.asarray(scores, dtype=np.float64) + 0.0  # a contiguous copy; also folds -0.0 into 0.0
    key = s.view(np.int64) << 1
    key |= np.asarray(truth, dtype=bool)
    key.sort()
    n = key.size
    starts = np.flatnonzero(np.diff(key >> 1)) + 1  # ascending: first index of each distinct score but the lowest
    cum_pos = np.cumsum(key & 1)
    n_pos = cum_pos[-1]
    # walking down from the highest score: counts of examples / positives with score >= each distinct value
    at_or_above = np.append(n - starts[::-1], n)
    tps = np.append(n_pos - cum_pos[starts[::-1] - 1], n_pos)
    return tps, at_or_above - tps


def _auc(tps: np.ndarray, fps: np.ndarray) -> float | None:
    pos, neg = tps[-1], fps[-1]
    if pos == 0 or neg == 0:
        return None
    tpr = np.concatenate(([0.0], tps / pos))
    fpr = np.concatenate(([0.0], fps / neg))
    return float(np.trapezoid(tpr, fpr))


def _pr(tps: np.ndarray, fps: np.ndarray) -> dict[str, Any]:
    pos = tps[-1]
    if pos == 0:
        return {"precision": [], "recall": [], "average_precision": None}
    precision = div(tps, tps + fps)
    recall = tps / pos
    ap = float(max(0.0, np.sum(np.diff(recall, prepend=0.0) * precision)))
    precision = np.append(precision[::-1], 1.0)
    recall = np.append(recall[::-1], 0.0)
    keep = _downsample(len(precision))
    return {"precision": rounded(precision[keep]), "recall": rounded(recall[keep]), "average_precision": ap}


def _downsample(m: int) -> np.ndarray:
    if m <= MAX_CURVE_POINTS:
        return np.arange(m)
    return np.unique(np.linspace(0, m - 1, MAX_CURVE_POINTS).round().astype(np.intp))


def ranking_metrics(
    column_truth: Any, P: np.ndarray, labels: list[str], support: np.ndarray, micro: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    n, L = P.shape
    if L <= MAX_PR_LABELS:
        curve_labels = set(range(L))
    else:
        curve_labels = set(np.lexsort((np.arange(L), -support))[:MAX_PR_LABELS].tolist())
    per_label_auc: dict[str, float | None] = {}
    curves: dict[str, Any] = {}
    step = max(1, min(L, CHUNK_ELEMENTS // n))
    for j0 in range(0, L, step):
        j1 = min(L, j0 + step)
        # column blocks copied to rows: one strided pass instead of a cache-hostile gather per label
        truth_block = column_truth(j0, j1)
        score_block = np.ascontiguousarray(P[:, j0:j1].T)
        for j in range(j0, j1):
            label = labels[j]
            pos = int(support[j])
            want_curve = j in curve_labels
            if (pos == 0 or pos == n) and not want_curve:
                per_label_auc[label] = None
                continue
            tps, fps = _sorted_counts(truth_block[j - j0], score_block[j - j0])
            per_label_auc[label] = _auc(tps, fps)
            if want_curve:
                curves[label] = _pr(tps, fps)
    if micro["binned"]:
        nz = np.flatnonzero(micro["total"])[::-1]
        tps = np.cumsum(micro["pos"][nz])
        fps = np.cumsum(micro["total"][nz]) - tps
    else:
        tps, fps = _sorted_counts(micro["truth"], micro["scores"])
    curves["micro"] = {**_pr(tps, fps), "binned": micro["binned"]}
    defined = [v for v in per_label_auc.values() if v is not None]
    auc = {"macro": float(np.mean(defined)) if defined else None, "per_label": per_label_auc}
    return auc, curves
