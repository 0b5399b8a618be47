"""Metrics of an ordinal score 0..N (sentiment on a scale): pure functions, no disk access.

:func:`ordinal_metrics` gives what AutoML reports for sentiment scores: mean absolute and mean squared error,
Cohen's kappa with linear and quadratic weights, and the confusion matrix over every score of the scale (rows
true, columns predicted, scores without examples included), beside a baseline that always predicts the median
training score (the constant with the lowest expected absolute error; its kappa is 0).

Weighted kappa: ``1 - sum(w * O) / sum(w * E)`` with ``O`` the confusion matrix, ``E`` the outer product of its
row and column sums divided by n, and ``w[i, j] = |i - j| / N`` (linear) or ``((i - j) / N) ** 2`` (quadratic);
the same numbers as ``sklearn.metrics.cohen_kappa_score(weights=...)``. Undefined (every truth and prediction the
same score) is ``None``.

Error codes (all :class:`~nlpipe.errors.InputError`): E540 a scale that is not an integer 1..10, E541 empty or
mismatched ``y_true``/``y_pred``, E542 a value that is not a score of the scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nlpipe.errors import InputError

__all__ = ["ordinal_metrics", "weighted_kappa"]

MAX_SCALE = 10


def _scores(values: Sequence[object], scale: int, name: str) -> np.ndarray:
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values):
        text = str(v)
        if isinstance(v, bool) or not text.isdigit() or int(text) > scale:
            raise InputError(
                "E542", f"{name}[{i}] is {v!r}, not a score of the scale 0..{scale}.", field=f"{name}[{i}]"
            )
        out[i] = int(text)
    return out


def weighted_kappa(confusion: np.ndarray, weights: str) -> float | None:
    """Cohen's kappa of a square confusion matrix with ``"linear"`` or ``"quadratic"`` disagreement weights."""
    observed = np.asarray(confusion, dtype=np.float64)
    k = observed.shape[0]
    n = observed.sum()
    if n == 0 or k < 2:
        return None
    i, j = np.indices((k, k))
    w = np.abs(i - j) / (k - 1)
    if weights == "quadratic":
        w = w**2
    chance = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / n
    expected = float((w * chance).sum())
    if expected == 0.0:
        return None
    return float(1.0 - (w * observed).sum() / expected)


def _summary(truth: np.ndarray, pred: np.ndarray, scale: int) -> dict[str, Any]:
    conf = np.zeros((scale + 1, scale + 1), dtype=np.int64)
    np.add.at(conf, (truth, pred), 1)
    err = (pred - truth).astype(np.float64)
    return {
        "mae": float(np.abs(err).mean()),
        "mse": float((err**2).mean()),
        "kappa_linear": weighted_kappa(conf, "linear"),
        "kappa_quadratic": weighted_kappa(conf, "quadratic"),
        "confusion": conf,
    }


def ordinal_metrics(
    y_true: Sequence[object],
    y_pred: Sequence[object],
    scale: int,
    *,
    train_scores: Sequence[object] | None = None,
) -> dict[str, Any]:
    """MAE, MSE, linear/quadratic kappa and the confusion matrix of predicted scores ``y_pred`` against
    ``y_true`` (integers or their strings, 0..``scale``), with the median-score baseline (median of
    ``train_scores``, default ``y_true``)."""
    if isinstance(scale, bool) or not isinstance(scale, int | np.integer) or not 1 <= scale <= MAX_SCALE:
        raise InputError("E540", f"scale must be an integer from 1 to {MAX_SCALE}, got {scale!r}.", field="scale")
    scale = int(scale)
    if len(y_true) == 0 or len(y_true) != len(y_pred):
        raise InputError(
            "E541",
            f"y_true has {len(y_true)} scores and y_pred {len(y_pred)}; give the same, non-zero number of each.",
            field="y_pred",
        )
    truth = _scores(y_true, scale, "y_true")
    pred = _scores(y_pred, scale, "y_pred")
    model = _summary(truth, pred, scale)
    ref = truth if train_scores is None or len(train_scores) == 0 else _scores(train_scores, scale, "train_scores")
    median = int(np.sort(ref)[(len(ref) - 1) // 2])  # the lower median: a score of the scale
    base = _summary(truth, np.full_like(truth, median), scale)
    return {
        "scale": scale,
        "n_examples": len(truth),
        "mae": model["mae"],
        "mse": model["mse"],
        "kappa_linear": model["kappa_linear"],
        "kappa_quadratic": model["kappa_quadratic"],
        "confusion": {"labels": [str(k) for k in range(scale + 1)], "matrix": model["confusion"].tolist()},
        "baseline": {
            "predicts": str(median),
            "mae": base["mae"],
            "mse": base["mse"],
            "kappa_linear": base["kappa_linear"],
            "kappa_quadratic": base["kappa_quadratic"],
        },
    }


_ROWS = (
    ("mae", "Mean absolute error", "lower is better"),
    ("mse", "Mean squared error", "lower is better"),
    ("kappa_linear", "Cohen's kappa, linear weights", "1 = perfect, 0 = chance"),
    ("kappa_quadratic", "Cohen's kappa, quadratic weights", "1 = perfect, 0 = chance"),
)


def render_section(o: Mapping[str, Any]) -> str:
    """The report.html section of an :func:`ordinal_metrics` result: the figures beside the baseline and the
    confusion matrix over the whole scale."""
    from nlpipe.metrics.htmlparts import escape as _e
    from nlpipe.metrics.htmlparts import heatmap_img as _heatmap_img
    from nlpipe.metrics.htmlparts import num as _num

    base = o.get("baseline") or {}
    rows = []
    for key, name, note in _ROWS:
        model, ref = o.get(key), base.get(key)
        rows.append(
            f'<tr><th>{_e(name)}</th><td>{_num(model)}</td><td>{_num(ref)}</td><td class="note">{_e(note)}</td></tr>'
        )
    conf = o.get("confusion") or {}
    heat = _heatmap_img(conf["labels"], conf["matrix"], False) if conf.get("labels") and conf.get("matrix") else ""
    return (
        f'<section id="ordinal"><h2>Ordinal scale 0..{_e(o.get("scale"))}</h2>'
        "<p>Scores are compared as numbers: an error of 2 costs more than an error of 1.</p>"
        f'<table class="headline"><tr><th></th><th>Model</th><th>Baseline (always {_e(base.get("predicts"))}, the '
        f"median training score)</th><th></th></tr>{''.join(rows)}</table>"
        f"<h3>Confusion over the scale</h3><p>Rows are true scores, columns predicted scores.</p>{heat}</section>"
    )
