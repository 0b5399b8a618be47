"""Input checks of :func:`nlpipe.metrics.classification.classification_metrics`: labels, lengths,
``proba``, ``thresholds`` and the true labels' encoding, each failure an :class:`~nlpipe.errors.InputError`
(codes E501-E508, listed in :mod:`nlpipe.metrics.classification`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from nlpipe.errors import InputError


def check_labels(labels: Any) -> list[str]:
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


def check_len(seq: Any, name: str, allow_empty: bool = False) -> int:
    try:
        n = len(seq)
    except TypeError:
        raise InputError("E504", f"{name} must be a list, got {type(seq).__name__}.", field=name) from None
    if n == 0 and not allow_empty:
        raise InputError("E503", f"{name} is empty: there is nothing to evaluate.", field=name)
    return n


def check_proba(proba: Any, n: int, n_labels: int) -> np.ndarray:
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


def check_thresholds(thresholds: Any, n_labels: int) -> np.ndarray:
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


def encode_labels(examples: Sequence[Any], index: dict[str, int], name: str) -> tuple[np.ndarray, np.ndarray]:
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
