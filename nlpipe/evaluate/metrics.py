"""Classification metrics for the evaluate stage: pure functions, no disk access.

:func:`classification_metrics` turns true labels and model probabilities into one JSON-serialisable dict
(plain ``float``/``int``/``str``/``list``/``dict``; undefined values are ``None``, never NaN). The report
writer (:mod:`nlpipe.evaluate.report`) renders that dict; the API returns it as is.

Conventions
-----------
- Averages run over **every label in** ``labels`` (scikit-learn's ``labels=`` semantics with
  ``zero_division=0``): a label the model knows but that has no support in ``y_true`` and is never
  predicted scores 0 and still counts in the macro average.
- Single-label decisions are the argmax; multi-label decisions are ``proba >= thresholds`` per label.
- ``roc_auc`` is one-vs-rest per label; a label whose column of ``y_true`` holds a single class gets
  ``None`` and is left out of the macro mean.
- Precision/recall curves follow ``sklearn.metrics.precision_recall_curve`` (recall decreasing, ending
  at ``recall=0, precision=1``) and ``average_precision_score``, computed from one sort per label so
  ROC AUC and the curve share it. The ``"micro"`` curve pools every (example, label) pair; above
  ``_EXACT_MICRO_PAIRS`` pairs its scores are binned into ``_MICRO_BINS`` equal-width bins (scores in
  one bin count as tied) and ``pr_curve["micro"]["binned"]`` is ``True``.
- Multi-label ``confusion``: ``per_label`` holds each label's 2x2 counts; ``matrix``/``top_pairs`` count
  examples where label *true* was missed while label *predicted* was wrongly predicted (rows = missed
  true label, columns = wrongly predicted label).
- Multi-label ``worst_errors`` scores an example by the model's confidence in its worst wrong decision:
  ``p`` for a wrongly predicted label, ``1 - p`` for a missed one.

Error codes (all :class:`~nlpipe.errors.InputError`): E501 unknown labels in ``y_true``, E502 ``proba``
shape/type, E503 empty input, E504 malformed ``y_true``/``train_labels``, E505 bad ``thresholds``,
E506 ``texts`` length, E507 duplicate ``labels``, E508 ``proba`` values outside [0, 1] or not finite,
E509 bad ``worst_k``/``max_confusion_labels``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from nlpipe.errors import InputError

__all__ = ["classification_metrics", "THRESHOLD_GRID"]

#: Decision thresholds of the ``thresholds`` table: 0.00, 0.01, ..., 0.99.
THRESHOLD_GRID = np.round(np.arange(100) * 0.01, 2)

MAX_CURVE_POINTS = 200  # points kept per precision/recall curve
MAX_PR_LABELS = 50  # per-label PR curves for at most this many labels (highest support first)
MAX_TOP_PAIRS = 20
TEXT_LIMIT = 300
_EXACT_MICRO_PAIRS = 2_000_000  # above this many (example, label) pairs the micro curve is binned
_MICRO_BINS = 1 << 17
_CHUNK_ELEMENTS = 1 << 21  # proba cells processed per chunk, bounds temporary memory
_DENSE_PAIR_LABELS = 256  # multi-label missed/wrong pair counts use a dense matmul up to this many labels
_EPS = float(np.finfo(np.float64).eps)


# --------------------------------------------------------------------------------------------- public


def classification_metrics(
    y_true: list[list[str]],
    proba: np.ndarray,
    labels: list[str],
    *,
    multi_label: bool,
    thresholds: np.ndarray | None = None,
    texts: list[str] | None = None,
    train_labels: list[list[str]] | None = None,
    worst_k: int = 20,
    max_confusion_labels: int = 30,
) -> dict[str, Any]:
    """Score probabilities ``proba`` (``(n, len(labels))``, columns in ``labels`` order) against ``y_true``.

    ``y_true`` holds each example's true labels (exactly one per example when ``multi_label`` is false; a
    bare string is read as a one-label list). ``thresholds`` (a scalar or one value per label, default 0.5)
    are the multi-label decision thresholds and are ignored for single-label. ``texts`` fill the
    ``worst_errors`` examples. ``train_labels`` feed the most-frequent baseline (``y_true`` when omitted).

    Returns a JSON-serialisable dict; see the module docstring for conventions and error codes.
    """
    labels = _check_labels(labels)
    n_labels = len(labels)
    n = _check_len(y_true, "y_true")
    if isinstance(worst_k, bool) or not isinstance(worst_k, int | np.integer) or worst_k < 0:
        raise InputError("E509", f"worst_k must be an integer >= 0, got {worst_k!r}.", field="worst_k")
    if (
        isinstance(max_confusion_labels, bool)
        or not isinstance(max_confusion_labels, int | np.integer)
        or max_confusion_labels < 1
    ):
        raise InputError(
            "E509",
            f"max_confusion_labels must be an integer >= 1, got {max_confusion_labels!r}.",
            field="max_confusion_labels",
        )
    worst_k, max_confusion_labels = int(worst_k), int(max_confusion_labels)
    P = _check_proba(proba, n, n_labels)
    if texts is not None and _check_len(texts, "texts", allow_empty=True) != n:
        raise InputError(
            "E506",
            f"texts has {len(texts)} items but y_true has {n}; pass one text per example.",
            field="texts",
        )
    index = {label: i for i, label in enumerate(labels)}
    rows, codes = _encode(y_true, index, "y_true")
    if multi_label:
        thr = _check_thresholds(thresholds, n_labels)
        Y = np.zeros((n, n_labels), dtype=bool)
        Y[rows, codes] = True
        core = _multi_label_core(Y, P, thr, labels, max_confusion_labels)
    else:
        counts = np.bincount(rows, minlength=n)
        bad = np.flatnonzero(counts != 1)
        if bad.size:
            i = int(bad[0])
            raise InputError(
                "E504",
                f"single-label evaluation needs exactly one true label per example; y_true[{i}] has "
                f"{int(counts[i])} ({bad.size} example(s) affected). Use multi_label=True for multi-label data.",
                field="y_true",
                index=i,
            )
        y = np.empty(n, dtype=np.intp)
        y[rows] = codes
        core = _single_label_core(y, P, labels, max_confusion_labels)

    support = core["support"]
    out: dict[str, Any] = {"n_examples": n, "labels": list(labels), "multi_label": bool(multi_label)}
    out.update(_averages(core["tp"], core["fp"], core["fn"], support))
    out["accuracy"] = _f(core["accuracy"])
    out["per_label"] = _per_label(labels, core["tp"], core["fp"], core["fn"], support)
    out["confusion"] = core["confusion"]
    out["thresholds"] = _threshold_table(core["grid_counts"], core["grid_pos"], int(support.sum()))
    auc, curves = _ranking_metrics(core["column_truth"], P, labels, support, core["micro"])
    out["pr_curve"] = curves
    out["roc_auc"] = auc
    out["log_loss"] = _f(core["log_loss"])
    if multi_label:
        out["hamming_loss"] = _f(core["hamming_errors"] / (n * n_labels))
        out["subset_accuracy"] = out["accuracy"]
    out["baseline"] = _baseline(core, train_labels, index, labels, multi_label)
    out["worst_errors"] = _worst_errors(core, worst_k, texts, labels, multi_label, P)
    return out


# ----------------------------------------------------------------------------------------- validation


def _check_labels(labels: Any) -> list[str]:
    if labels is None or isinstance(labels, str):
        raise InputError("E503", "labels must be a non-empty list of label names.", field="labels")
    labels = list(labels)
    if not labels:
        raise InputError("E503", "labels is empty: the model must know at least one label.", field="labels")
    if len(set(labels)) != len(labels):
        dupes = sorted({str(x) for x, c in Counter(labels).items() if c > 1})
        raise InputError(
            "E507",
            f"labels has duplicates: {_names(dupes)}; each proba column needs a distinct label.",
            field="labels",
        )
    return labels


def _check_len(seq: Any, name: str, allow_empty: bool = False) -> int:
    try:
        n = len(seq)
    except TypeError:
        raise InputError("E504", f"{name} must be a list, got {type(seq).__name__}.", field=name) from None
    if n == 0 and not allow_empty:
        raise InputError("E503", f"{name} is empty: there is nothing to evaluate.", field=name)
    return n


def _check_proba(proba: Any, n: int, n_labels: int) -> np.ndarray:
    try:
        P = np.asarray(proba, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(
            "E502", "proba must be a numeric array of shape (n_examples, n_labels).", field="proba"
        ) from None
    if P.ndim != 2 or P.shape != (n, n_labels):
        raise InputError(
            "E502",
            f"proba has shape {P.shape} but y_true has {n} examples and labels has {n_labels} labels; "
            f"expected ({n}, {n_labels}) with columns in labels order.",
            field="proba",
            shape=list(P.shape),
            expected=[n, n_labels],
        )
    if not np.isfinite(P).all():
        raise InputError("E508", "proba contains NaN or infinite values.", field="proba")
    lo, hi = float(P.min()), float(P.max())
    if lo < 0.0 or hi > 1.0:
        raise InputError(
            "E508",
            f"proba values must be probabilities in [0, 1]; found values in [{lo:g}, {hi:g}].",
            field="proba",
        )
    return np.ascontiguousarray(P)


def _check_thresholds(thresholds: Any, n_labels: int) -> np.ndarray:
    if thresholds is None:
        return np.full(n_labels, 0.5)
    try:
        thr = np.asarray(thresholds, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("E505", "thresholds must be numbers.", field="thresholds") from None
    if thr.ndim == 0:
        thr = np.full(n_labels, float(thr))
    if thr.shape != (n_labels,):
        raise InputError(
            "E505",
            f"thresholds has shape {thr.shape}; expected one threshold per label ({n_labels},).",
            field="thresholds",
        )
    if not np.isfinite(thr).all():
        raise InputError("E505", "thresholds contains NaN or infinite values.", field="thresholds")
    return thr


def _encode(examples: Sequence[Any], index: dict[str, int], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Flatten per-example label lists into (row, label index) pairs; raise E501 on unknown labels."""
    try:
        lists = [ex if type(ex) is list else [ex] if isinstance(ex, str) else list(ex) for ex in examples]
        flat = [label for ex in lists for label in ex]
        lengths = np.fromiter(map(len, lists), dtype=np.intp, count=len(lists))
        codes = np.fromiter(map(index.__getitem__, flat), dtype=np.intp, count=len(flat))
    except KeyError:
        unknown = sorted({str(x) for x in flat if x not in index})
        raise InputError(
            "E501",
            f"{name} has {len(unknown)} label(s) the model does not know: {_names(unknown)}. Evaluate on "
            f"data labeled with the model's {len(index)} labels, or retrain the model with these labels.",
            field=name,
            unknown_labels=unknown[:100],
        ) from None
    except TypeError:
        raise InputError(
            "E504",
            f"{name} must be a list of label lists (one list of label names per example).",
            field=name,
        ) from None
    rows = np.repeat(np.arange(len(lists), dtype=np.intp), lengths)
    return rows, codes


def _names(items: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(repr(x) for x in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


# ---------------------------------------------------------------------------------------------- core


def _chunks(n: int, n_labels: int) -> Iterator[slice]:
    step = max(1, _CHUNK_ELEMENTS // max(1, n_labels))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def _grid_index(p: np.ndarray) -> np.ndarray:
    """Index k of the largest THRESHOLD_GRID value <= p (p in [0, 1]), exact against the float grid."""
    k = np.minimum((p * 100).astype(np.intp), 99)
    k -= p < THRESHOLD_GRID[k]
    k += (k < 99) & (p >= THRESHOLD_GRID[np.minimum(k + 1, 99)])
    return k


def _micro_bin(p: np.ndarray) -> np.ndarray:
    return np.minimum((p * _MICRO_BINS).astype(np.intp), _MICRO_BINS - 1)


def _single_label_core(y: np.ndarray, P: np.ndarray, labels: list[str], max_conf: int) -> dict[str, Any]:
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
    micro = _MicroAccumulator(n, L)
    for sl in _chunks(n, L):
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
        "confusion": _single_confusion(y, pred, err, support, labels, max_conf),
        "err_rows": err,
        "err_scores": P[err, pred[err]],
        "pred": pred,
        "y": y,
    }


def _multi_label_core(
    Y: np.ndarray, P: np.ndarray, thr: np.ndarray, labels: list[str], max_conf: int
) -> dict[str, Any]:
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
    micro = _MicroAccumulator(n, L)
    pair_counts = sparse.csr_matrix((L, L), dtype=np.int64)
    dense_pairs = np.zeros((L, L), dtype=np.int64) if L <= _DENSE_PAIR_LABELS else None
    with _single_threaded_blas():
        for sl in _chunks(n, L):
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
    confusion = _multi_confusion(pair_counts, tp, fp, fn, n, labels, max_conf)
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


# ------------------------------------------------------------------------------------------ averages


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)


def prf(tp: Any, fp: Any, fn: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 from true positive, false positive and false negative counts (scalars or arrays;
    0 where undefined). Every P/R/F1 of nlpipe's evaluations comes from here."""
    tp, fp, fn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn))
    return _div(tp, tp + fp), _div(tp, tp + fn), _div(2 * tp, 2 * tp + fp + fn)


def _averages(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, support: np.ndarray) -> dict[str, float]:
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


def _per_label(
    labels: list[str], tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, support: np.ndarray
) -> dict[str, dict[str, Any]]:
    p, r, f = prf(tp, fp, fn)
    return {
        label: {"precision": float(p[j]), "recall": float(r[j]), "f1": float(f[j]), "support": int(support[j])}
        for j, label in enumerate(labels)
    }


def _threshold_table(grid_counts: np.ndarray, grid_pos: np.ndarray, n_pos: int) -> dict[str, list[float]]:
    predicted = np.cumsum(grid_counts[::-1])[::-1]  # pairs with proba >= t
    tp = np.cumsum(grid_pos[::-1])[::-1]
    precision = _div(tp, predicted)
    recall = _div(tp, np.full(100, n_pos))
    f1 = _div(2 * tp, predicted + n_pos)
    return {
        "threshold": [float(t) for t in THRESHOLD_GRID],
        "precision": _rounded(precision),
        "recall": _rounded(recall),
        "f1": _rounded(f1),
    }


# ---------------------------------------------------------------------------------------- confusion


def _top_pairs(rows: np.ndarray, cols: np.ndarray, counts: np.ndarray, labels: list[str]) -> list[dict]:
    order = np.lexsort((cols, rows, -counts))[:MAX_TOP_PAIRS]
    return [{"true": labels[int(rows[i])], "predicted": labels[int(cols[i])], "count": int(counts[i])} for i in order]


def _pick_confusion_labels(involvement: np.ndarray, secondary: np.ndarray, k: int) -> np.ndarray:
    order = np.lexsort((np.arange(len(involvement)), -secondary, -involvement))
    return np.sort(order[:k])


def _single_confusion(
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


def _multi_confusion(
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


# ----------------------------------------------------------------------------------- ranking metrics


class _MicroAccumulator:
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
    precision = _div(tps, tps + fps)
    recall = tps / pos
    ap = float(max(0.0, np.sum(np.diff(recall, prepend=0.0) * precision)))
    precision = np.append(precision[::-1], 1.0)
    recall = np.append(recall[::-1], 0.0)
    keep = _downsample(len(precision))
    return {"precision": _rounded(precision[keep]), "recall": _rounded(recall[keep]), "average_precision": ap}


def _downsample(m: int) -> np.ndarray:
    if m <= MAX_CURVE_POINTS:
        return np.arange(m)
    return np.unique(np.linspace(0, m - 1, MAX_CURVE_POINTS).round().astype(np.intp))


def _ranking_metrics(
    column_truth: Any, P: np.ndarray, labels: list[str], support: np.ndarray, micro: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    n, L = P.shape
    if L <= MAX_PR_LABELS:
        curve_labels = set(range(L))
    else:
        curve_labels = set(np.lexsort((np.arange(L), -support))[:MAX_PR_LABELS].tolist())
    per_label_auc: dict[str, float | None] = {}
    curves: dict[str, Any] = {}
    step = max(1, min(L, _CHUNK_ELEMENTS // n))
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


# --------------------------------------------------------------------------------- baseline & errors


def _baseline(
    core: dict[str, Any], train_labels: Any, index: dict[str, int], labels: list[str], multi_label: bool
) -> dict[str, Any]:
    """DummyClassifier(strategy="most_frequent") fitted on train_labels (or y_true) and scored here."""
    n, support = core["n"], core["support"]
    L = len(labels)
    if train_labels is None:
        source = "eval"
        n_train = n
        counts: dict[str, int] = {labels[j]: int(c) for j, c in enumerate(support) if c}
    else:
        source = "train"
        n_train = _check_len(train_labels, "train_labels")
        try:
            counts = Counter(
                label for ex in train_labels for label in dict.fromkeys([ex] if isinstance(ex, str) else ex)
            )
        except TypeError:
            raise InputError("E504", "train_labels must be a list of label lists.", field="train_labels") from None
        if not counts:
            raise InputError(
                "E504", "train_labels holds no labels; pass None to fit the baseline on y_true.", field="train_labels"
            )
    if multi_label:
        # per-label most frequent of {absent, present}: present wins only with a strict majority
        predicts = sorted((lab for lab, c in counts.items() if c * 2 > n_train), key=str)
    else:
        best = max(counts.values())
        predicts = [min((lab for lab, c in counts.items() if c == best), key=str)]
    known = np.zeros(L, dtype=bool)
    for lab in predicts:
        if lab in index:
            known[index[lab]] = True
    outside = len(predicts) > int(known.sum())  # predicts a label the model does not know
    tp = np.where(known, support, 0)
    fp = np.where(known, n - support, 0)
    fn = support - tp
    if multi_label:
        if outside:
            accuracy = 0.0
        else:
            Y = core["Y"]
            ok = 0
            for sl in _chunks(n, L):
                ok += int(np.count_nonzero((Y[sl] == known).all(axis=1)))
            accuracy = ok / n
    else:
        accuracy = float(tp.sum()) / n
    avg = _averages(tp, fp, fn, support)
    return {
        "strategy": "most_frequent",
        "fitted_on": source,
        "predicts": [str(x) for x in predicts],
        "accuracy": accuracy,
        "macro_f1": avg["macro_f1"],
        "micro_f1": avg["micro_f1"],
        "weighted_f1": avg["weighted_f1"],
    }


def _worst_errors(
    core: dict[str, Any], k: int, texts: Any, labels: list[str], multi_label: bool, P: np.ndarray
) -> list[dict[str, Any]]:
    rows, scores = core["err_rows"], core["err_scores"]
    if k == 0 or rows.size == 0:
        return []
    if rows.size > k:
        # the k-th largest score and everything above it, then a stable sort (ties: lower index first)
        cut = np.partition(scores, rows.size - k)[rows.size - k]
        sel = np.flatnonzero(scores >= cut)
        rows, scores = rows[sel], scores[sel]
    order = np.lexsort((rows, -scores))[:k]
    out = []
    for i in order:
        r = int(rows[i])
        if multi_label:
            row_p = P[r]
            decided = np.flatnonzero(row_p >= core["thr"])
            predicted = [labels[j] for j in decided[np.argsort(-row_p[decided], kind="stable")]]
            true = [labels[j] for j in np.flatnonzero(core["Y"][r])]
        else:
            predicted = [labels[int(core["pred"][r])]]
            true = [labels[int(core["y"][r])]]
        text = None
        if texts is not None:
            text = str(texts[r])
            if len(text) > TEXT_LIMIT:
                text = text[: TEXT_LIMIT - 1] + "\u2026"
        out.append({"index": r, "text": text, "true": true, "predicted": predicted, "score": float(scores[i])})
    return out


# ------------------------------------------------------------------------------------------- helpers


def _f(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _rounded(a: np.ndarray) -> list[float]:
    return np.round(np.asarray(a, dtype=np.float64), 6).tolist()
