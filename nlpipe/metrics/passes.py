"""The counting passes of a classification evaluation: one pass over the examples (in chunks, so memory stays
bounded) gathers every count the sections need, for single-label (argmax) or multi-label (thresholds) decisions.

Each pass returns a dict ("core") that :mod:`nlpipe.metrics.classification` turns into the result.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nlpipe.metrics.confusion import multi_confusion, single_confusion
from nlpipe.metrics.ranking import MicroAccumulator
from nlpipe.metrics.scores import THRESHOLD_GRID, chunks

_DENSE_PAIR_LABELS = 256  # multi-label missed/wrong pair counts use a dense matmul up to this many labels
_EPS = float(np.finfo(np.float64).eps)


def _grid_index(p: np.ndarray) -> np.ndarray:
    """Index k of the largest THRESHOLD_GRID value <= p (p in [0, 1]), exact against the float grid."""
    k = np.minimum((p * 100).astype(np.intp), 99)
    k -= p < THRESHOLD_GRID[k]
    k += (k < 99) & (p >= THRESHOLD_GRID[np.minimum(k + 1, 99)])
    return k


def single_label_core(y: np.ndarray, P: np.ndarray, labels: list[str], max_conf: int) -> dict[str, Any]:
    """The counts of argmax decisions against true label indices ``y``."""
    n, L = P.shape
    pred = P.argmax(axis=1)
    correct = pred == y
    support = np.bincount(y, minlength=L)
    tp = np.bincount(y[correct], minlength=L)
    fp = np.bincount(pred, minlength=L) - tp
    fn = support - tp
    p_true = P[np.arange(n), y]
    log_loss = -float(np.mean(np.log(np.clip(p_true, _EPS, 1 - _EPS))))

    grid_counts = np.zeros(100, dtype=np.int64)
    micro = MicroAccumulator(n, L)
    for sl in chunks(n, L):
        grid_counts += np.bincount(_grid_index(P[sl]).ravel(), minlength=100)
        micro.add(P[sl], y[sl, None] == np.arange(L))
    grid_pos = np.bincount(_grid_index(p_true), minlength=100)

    err = np.flatnonzero(~correct)
    return {
        "n": n,
        "support": support,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "accuracy": float(correct.mean()),
        "log_loss": log_loss,
        "grid_counts": grid_counts,
        "grid_pos": grid_pos,
        "micro": micro.result(),
        "column_truth": lambda j0, j1: y[None, :] == np.arange(j0, j1)[:, None],
        "confusion": single_confusion(y, pred, err, support, labels, max_conf),
        "err_rows": err,
        "err_scores": P[err, pred[err]],
        "pred": pred,
        "y": y,
    }


def multi_label_core(Y: np.ndarray, P: np.ndarray, thr: np.ndarray, labels: list[str], max_conf: int) -> dict[str, Any]:
    """The counts of ``P >= thr`` decisions against the boolean truth ``Y``, one chunk of examples at a time."""
    from scipy import sparse

    n, L = P.shape
    support = Y.sum(axis=0).astype(np.int64)
    tp = np.zeros(L, dtype=np.int64)
    pred_count = np.zeros(L, dtype=np.int64)
    grid = np.zeros(200, dtype=np.int64)  # bincount of 2 * grid index + truth
    row_score = np.full(n, -1.0)
    subset_ok = 0
    hamming = 0
    loss_sum = 0.0
    micro = MicroAccumulator(n, L)
    pair_counts = sparse.csr_matrix((L, L), dtype=np.int64)
    dense_pairs = np.zeros((L, L), dtype=np.int64) if L <= _DENSE_PAIR_LABELS else None
    with _single_threaded_blas():
        for sl in chunks(n, L):
            Yc, Pc = Y[sl], P[sl]
            Dc = Pc >= thr
            tp += np.count_nonzero(Yc & Dc, axis=0)
            pred_count += np.count_nonzero(Dc, axis=0)
            wrong = Yc ^ Dc
            hamming += int(np.count_nonzero(wrong))
            row_wrong = wrong.any(axis=1)
            subset_ok += int(row_wrong.size - np.count_nonzero(row_wrong))
            # confidence in each decision: p where predicted, 1 - p where not; also the log-loss terms
            work = 1.0 - Pc
            np.copyto(work, Pc, where=Dc)
            work[~wrong] = -1.0
            row_score[sl] = work.max(axis=1)
            np.clip(Pc, _EPS, 1 - _EPS, out=work)
            np.subtract(1.0, work, out=work, where=~Yc)
            np.log(work, out=work)
            loss_sum -= float(work.sum())
            if row_wrong.any():
                w = np.flatnonzero(row_wrong)
                missed = Yc[w] & ~Dc[w]
                extra = Dc[w] & ~Yc[w]
                both = missed.any(axis=1) & extra.any(axis=1)
                if both.any():
                    missed, extra = missed[both], extra[both]
                    if dense_pairs is not None:
                        # float32 matmul is exact here: a chunk has fewer than 2**24 rows
                        dense_pairs += (missed.T.astype(np.float32) @ extra.astype(np.float32)).astype(np.int64)
                    else:
                        m_sp = sparse.csr_matrix(missed, dtype=np.int64)
                        e_sp = sparse.csr_matrix(extra, dtype=np.int64)
                        pair_counts = pair_counts + (m_sp.T @ e_sp).tocsr()
            k = _grid_index(Pc)
            k <<= 1
            k |= Yc
            grid += np.bincount(k.ravel(), minlength=200)
            micro.add(Pc, Yc)
    if dense_pairs is not None:
        pair_counts = sparse.csr_matrix(dense_pairs)
    fp = pred_count - tp
    fn = support - tp
    err = np.flatnonzero(row_score >= 0)
    confusion = multi_confusion(pair_counts, tp, fp, fn, n, labels, max_conf)
    return {
        "n": n,
        "support": support,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "accuracy": subset_ok / n,
        "log_loss": loss_sum / (n * L),
        "hamming_errors": hamming,
        "grid_counts": grid[0::2] + grid[1::2],
        "grid_pos": grid[1::2],
        "micro": micro.result(),
        "column_truth": lambda j0, j1: np.ascontiguousarray(Y[:, j0:j1].T),
        "confusion": confusion,
        "err_rows": err,
        "err_scores": row_score[err],
        "Y": Y,
        "thr": thr,
    }


def _single_threaded_blas() -> Any:
    """Limit BLAS to one thread: small matmuls in a loop slow down badly when BLAS threads contend."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
