"""Classification metrics for the evaluate stage: pure functions, no disk access.

:func:`classification_metrics` turns true labels and model probabilities into one JSON-serialisable dict
(plain ``float``/``int``/``str``/``list``/``dict``; undefined values are ``None``, never NaN). The report
writer (:mod:`nlpipe.metrics.report`) renders that dict; the API returns it as is.

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
  one bin count as tied; both in :mod:`~nlpipe.metrics.ranking`) and ``pr_curve["micro"]["binned"]``
  is ``True``.
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

from collections import Counter
from typing import Any

import numpy as np

from nlpipe.errors import InputError
from nlpipe.metrics.checks import check_labels, check_len, check_proba, check_thresholds, encode_labels
from nlpipe.metrics.passes import multi_label_core, single_label_core
from nlpipe.metrics.ranking import ranking_metrics
from nlpipe.metrics.scores import averages, chunks, finite_or_none, per_label_scores, threshold_table

__all__ = ["classification_metrics"]


TEXT_LIMIT = 300


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
    labels = check_labels(labels)
    n_labels = len(labels)
    n = check_len(y_true, "y_true")
    worst_k, max_confusion_labels = _check_limits(worst_k, max_confusion_labels)
    P = check_proba(proba, n, n_labels)
    if texts is not None and check_len(texts, "texts", allow_empty=True) != n:
        raise InputError(
            "E506",
            f"texts has {len(texts)} items but y_true has {n}; pass one text per example.",
            field="texts",
        )
    index = {label: i for i, label in enumerate(labels)}
    rows, codes = encode_labels(y_true, index, "y_true")
    if multi_label:
        thr = check_thresholds(thresholds, n_labels)
        Y = np.zeros((n, n_labels), dtype=bool)
        Y[rows, codes] = True
        core = multi_label_core(Y, P, thr, labels, max_confusion_labels)
    else:
        core = single_label_core(_single_label_codes(rows, codes, n), P, labels, max_confusion_labels)
    out = _scored_sections(core, P, labels, multi_label)
    out["baseline"] = _baseline(core, train_labels, index, labels, multi_label)
    out["worst_errors"] = _worst_errors(core, worst_k, texts, labels, multi_label, P)
    return out


def _check_limits(worst_k: Any, max_confusion_labels: Any) -> tuple[int, int]:
    """``worst_k`` (>= 0) and ``max_confusion_labels`` (>= 1) as ints; E509 otherwise."""
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
    return int(worst_k), int(max_confusion_labels)


def _single_label_codes(rows: np.ndarray, codes: np.ndarray, n: int) -> np.ndarray:
    """The true label index of each example; E504 unless every example has exactly one."""
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
    return y


def _scored_sections(core: dict[str, Any], P: np.ndarray, labels: list[str], multi_label: bool) -> dict[str, Any]:
    """Averages, per-label scores, confusion, threshold table, ranking metrics and losses from the pass's counts."""
    n, n_labels = P.shape
    support = core["support"]
    out: dict[str, Any] = {"n_examples": n, "labels": list(labels), "multi_label": bool(multi_label)}
    out.update(averages(core["tp"], core["fp"], core["fn"], support))
    out["accuracy"] = finite_or_none(core["accuracy"])
    out["per_label"] = per_label_scores(labels, core["tp"], core["fp"], core["fn"], support)
    out["confusion"] = core["confusion"]
    out["thresholds"] = threshold_table(core["grid_counts"], core["grid_pos"], int(support.sum()))
    auc, curves = ranking_metrics(core["column_truth"], P, labels, support, core["micro"])
    out["pr_curve"] = curves
    out["roc_auc"] = auc
    out["log_loss"] = finite_or_none(core["log_loss"])
    if multi_label:
        out["hamming_loss"] = finite_or_none(core["hamming_errors"] / (n * n_labels))
        out["subset_accuracy"] = out["accuracy"]
    return out


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
        n_train = check_len(train_labels, "train_labels")
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
            for sl in chunks(n, L):
                ok += int(np.count_nonzero((Y[sl] == known).all(axis=1)))
            accuracy = ok / n
    else:
        accuracy = float(tp.sum()) / n
    avg = averages(tp, fp, fn, support)
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
