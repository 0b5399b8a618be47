"""Text classification: sparse word and character n-gram features, linear models, a small time-boxed search.

:class:`TextClassifier` is a scikit-learn estimator over lists of strings. It does no disk I/O, printing or
database work; the caller saves it with ``skops.io.dump(clf, path)`` and loads it with
``skops.io.load(path, trusted=TRUSTED_TYPES)``.

How it trains (each choice measured with ``benchmarks/classify.py`` on AG News, rt-polarity and airline tweets,
same folds as the fastText and TF-IDF + LinearSVC baselines):

- Features: sublinear TF-IDF of word 1-2 grams stacked with TF-IDF of within-word character 2-5 grams
  (:mod:`nlpipe.tasks.features`, fast reimplementations of scikit-learn's vectorizers). The character view adds
  0.5-1.5 points of accuracy on each corpus. The vectorizers are unsupervised and fitted once on every text given.
- Models: linear SVMs (liblinear), one binary output per label, features optionally scaled by the naive-Bayes
  log-count ratio r of each output (NBSVM, Wang & Manning 2012). Full scaling (``nb_power`` 1) gains 0.6-1 point on
  news topics and movie reviews but loses 1.3 points of macro-F1 on tweets; the damped ``sign(r) |r|^0.5`` keeps
  most of the gain on the first two and loses nothing on tweets, so it is the default candidate, with the plain
  SVM as the alternative (:data:`DEFAULT_CANDIDATES`, :data:`CANDIDATES`).
- Search: each candidate is fitted on a seeded, stratified train part and scored by macro-F1 on the held-out
  part (or on ``validation``); no new candidate starts once ``time_budget`` would be exceeded; a later candidate
  replaces the incumbent only if it wins by more than the paired-bootstrap standard error of the difference
  (a 0.5-point win on 900 validation texts is noise: picking on it lost accuracy on AG News and rt-polarity).
  The winner is then refitted on all the data given.
- Probabilities: the SVM margins are calibrated on the held-out part: one temperature for single-label data with
  3+ labels (softmax; argmax unchanged), Platt's sigmoid (with his target smoothing) per output otherwise.
  Expected calibration error on the benchmark corpora: 0.02-0.03.
- Multi-label: per-label thresholds on the calibrated probabilities, chosen on the held-out part for best F1.
- Every candidate is linear, so the fitted state is one coefficient matrix over the stacked features (the NB
  scaling folded in): prediction is a sparse product, and :meth:`TextClassifier.explain` reads contributions
  (feature value x coefficient) straight off it.
"""

from __future__ import annotations

import math
import numbers
import re
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from nlpipe.errors import InputError, TrainingError
from nlpipe.tasks.classify.hashing import HashedNgrams
from nlpipe.tasks.classify.shortlist import ShortlistLinear, choose_keep
from nlpipe.tasks.features import CharNgrams, WordNgrams, char_wb_ngrams, nb_log_count_ratio, word_ngrams
from nlpipe.tasks.search import (
    best_threshold,
    f1_gain_se,
    fit_platt,
    fit_temperature,
    fit_temperature_hard,
    macro_f1,
    sample_weights,
    stratified_split,
)

__all__ = ["TextClassifier", "CANDIDATES", "DEFAULT_CANDIDATES", "TRUSTED_TYPES"]

Progress = Callable[[str, int, int], None]

#: Feature views candidates can stack, by name.
VIEWS: dict[str, dict[str, Any]] = {
    "word": {"kind": "word", "ngram_range": (1, 2), "min_df": 1},
    "char": {"kind": "char", "ngram_range": (2, 5), "min_df": 2},
}

#: Every candidate the search knows: feature views stacked, model, regularisation C, and the power p of the
#: naive-Bayes log-count-ratio scaling (features times sign(r)|r|^p: 0 = none, 1 = NBSVM as published).
CANDIDATES: dict[str, dict[str, Any]] = {
    "nbsvm_word_char": {"features": ["word", "char"], "model": "svm", "C": 0.3, "nb_power": 0.5},
    "svm_word_char": {"features": ["word", "char"], "model": "svm", "C": 0.3, "nb_power": 0.0},
    "nbsvm_full_word_char": {"features": ["word", "char"], "model": "svm", "C": 0.3, "nb_power": 1.0},
    "nbsvm_word": {"features": ["word"], "model": "svm", "C": 0.3, "nb_power": 0.5},
    "svm_word": {"features": ["word"], "model": "svm", "C": 0.5, "nb_power": 0.0},
    "logreg_word_char": {"features": ["word", "char"], "model": "logreg", "C": 10.0, "nb_power": 0.0},
}

#: What the search tries when ``candidates`` is None, in this order. The first is always fitted and is kept
#: unless another beats it on validation macro-F1 by more than one (paired bootstrap) standard error.
DEFAULT_CANDIDATES: tuple[str, ...] = ("nbsvm_word_char", "svm_word_char")

#: Fully-qualified type names :func:`skops.io.load` must trust to load a fitted :class:`TextClassifier`
#: (found with ``skops.io.get_untrusted_types`` on fitted models of every candidate, single- and multi-label;
#: ``tests/test_tasks_classify.py`` checks the list is exact). Everything else in the fitted state is a
#: builtin, a numpy array or a numpy scalar, which skops trusts by default.
_EDGE_PUNCT = re.compile(r"^\W+|\W+$")

TRUSTED_TYPES: list[str] = [
    "nlpipe.tasks.classify.model.TextClassifier",
    "nlpipe.tasks.features.CharNgrams",
    "nlpipe.tasks.features.WordNgrams",
    "nlpipe.tasks.classify.hashing.HashedNgrams",
    "nlpipe.tasks.classify.shortlist.ShortlistLinear",
    "scipy.sparse._csr.csr_matrix",
]

#: Training strategies, chosen by data size and label count when ``strategy="auto"`` (see :meth:`fit`):
#: ``standard``, the candidate search above; ``hashed``, one linear SVM per label over hashed word 1-2 grams,
#: fitted once (for many documents: no vocabulary, no refit); ``shortlist``, centroid candidates and a re-ranker
#: per label (:mod:`nlpipe.tasks.classify.shortlist`, for hundreds to thousands of labels).
STRATEGIES: tuple[str, ...] = ("auto", "standard", "hashed", "shortlist")
MANY_LABELS = 100  # more outputs than this: shortlist, unless the data is small (FEW_LABEL_ROWS)
#: At most this many outputs x training texts, more than MANY_LABELS outputs stay ``standard`` with the word view
#: alone (:data:`MANY_LABEL_CANDIDATES`): 250 labels x 4k texts train in 31 s to 0.940 accuracy where the shortlist
#: reaches 0.914 and TF-IDF + LinearSVC 0.937 (``benchmarks/scale.py``, budget row); the character view would
#: multiply the time by four (one SVM per label over five times the non-zeros).
FEW_LABEL_ROWS = 2_000_000
MANY_LABEL_CANDIDATES: tuple[str, ...] = ("nbsvm_word", "svm_word")
MANY_DOCS = 50_000  # more training texts than this (and few labels): hashed
#: Hashed feature columns (2**bits): ``hashed`` keeps dense weights (labels x columns: 2**20 is 4 MB a label);
#: ``shortlist`` keeps sparse ones, so it affords fewer collisions.
HASH_BITS = {"hashed": 20, "shortlist": 22}
MAX_ROWS = 200_000  # hashed: rows one label's SVM is fitted on at most (all its positives, sampled negatives)

_SVM_TOL = 0.1  # liblinear's own default; scikit-learn's 1e-4 costs 30-40% more time for the same accuracy


def _half_exact(W: np.ndarray) -> np.ndarray:
    """``W`` as float32, rounded to the nearest float16 where every weight fits one (|w| < 65,504): the saved
    file then holds 2 bytes a weight and the loaded model predicts exactly as the trained one. Rounding to 11
    significant bits changed no prediction's accuracy on the benchmark corpora (``benchmarks/classify.py``)."""
    W = np.ascontiguousarray(W, dtype=np.float32)
    if W.size and np.isfinite(W).all() and float(np.abs(W).max()) < 65_000.0:
        W = W.astype(np.float16).astype(np.float32)
    return W


def _param_error(code: str, name: str, must: str, got: object) -> TrainingError:
    return TrainingError(code, f"Parameter {name} must be {must}; got {got!r}.", field=name)


def _make_view(name: str) -> WordNgrams | CharNgrams:
    spec = VIEWS[name]
    cls = WordNgrams if spec["kind"] == "word" else CharNgrams
    return cls(ngram_range=spec["ngram_range"], min_df=spec["min_df"])


# --------------------------------------------------------------------------------------------------- checks


def _is_list_like(x: object) -> bool:
    return not isinstance(x, str | bytes) and isinstance(x, Sequence | np.ndarray)


def _check_texts(texts: object, name: str, error: type[Exception], code: str) -> list[str]:
    if not _is_list_like(texts):
        raise error(code, f"{name} must be a list of strings; got {type(texts).__name__}.", field=name)
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise error(
                code,
                f"{name}[{i}] is {type(t).__name__}, not a string; give one string per text.",
                field=f"{name}[{i}]",
            )
    return out


def _check_labels(y: object, n: int, multi_label: bool, name: str) -> list[list[str]]:
    if not _is_list_like(y):
        raise TrainingError(
            "E301", f"{name} must be a list with one list of labels per text; got {type(y).__name__}.", field=name
        )
    if len(y) != n:
        raise TrainingError(
            "E301",
            f"There are {n} texts but {len(y)} label lists in {name}; give exactly one list of labels per text.",
            field=name,
        )
    out: list[list[str]] = []
    for i, labs in enumerate(y):
        if not _is_list_like(labs):
            raise TrainingError(
                "E304",
                f"{name}[{i}] is {type(labs).__name__}, not a list of labels; give one "
                "list per text, e.g. [['sports'], ['politics']].",
                field=f"{name}[{i}]",
            )
        labs = list(labs)
        for lab in labs:
            if not isinstance(lab, str) or not lab.strip():
                raise TrainingError(
                    "E304",
                    f"{name}[{i}] holds the label {lab!r}; labels must be non-empty strings.",
                    field=f"{name}[{i}]",
                )
        if not multi_label and len(labs) != 1:
            what = "no label" if not labs else f"{len(labs)} labels ({', '.join(map(repr, labs))})"
            raise TrainingError(
                "E303",
                f"{name}[{i}] has {what}, but single-label training needs exactly one "
                "label per text. Fix or drop that text, or train with multi_label=True.",
                field=f"{name}[{i}]",
            )
        out.append(sorted(set(labs)))
    return out


def _label_matrix(lists: list[list[str]], index: dict[str, int]) -> sp.csr_matrix:
    """Boolean (texts x labels) CSR matrix of label lists."""
    lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    cols = np.fromiter((index[lab] for labs in lists for lab in labs), dtype=np.int64, count=int(lengths.sum()))
    indptr = np.r_[0, np.cumsum(lengths)]
    return sp.csr_matrix((np.ones(len(cols), dtype=bool), cols, indptr), shape=(len(lists), len(index)))


def _sparse_stratified_split(Y: sp.csr_matrix, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
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


def _two_labels_or_more(lists: list[list[str]]) -> list[str]:
    """The sorted labels of the training data; E302 unless there are at least two."""
    labels = sorted({lab for labs in lists for lab in labs})
    if len(labels) < 2:
        found = f"only the label {labels[0]!r}" if labels else "no labels at all"
        raise TrainingError(
            "E302",
            f"The training data has {found}; a classifier needs texts of at least two different labels.",
            field="y",
        )
    return labels


def _calibrate_shortlist(S: np.ndarray, Y: np.ndarray, multi: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


# ------------------------------------------------------------------------------------------ the estimator


class TextClassifier(ClassifierMixin, BaseEstimator):
    """Single- or multi-label text classifier with an automatic, time-boxed model search.

    Parameters
    ----------
    multi_label:
        False: each text has exactly one label (softmax-calibrated, argmax decision). True: any number of labels
        per text, including none (one sigmoid per label, per-label thresholds).
    time_budget:
        Seconds the model search may take. No new candidate starts once it would end past the budget (estimated
        from the candidates fitted so far, plus the final refit); the first candidate is always fitted.
    seed:
        Seeds the validation split and the solvers: same data, parameters and seed give identical probabilities.
    candidates:
        Names from :data:`CANDIDATES` to try, in order; None tries :data:`DEFAULT_CANDIDATES`.
    class_weight:
        "balanced" (weights inversely proportional to label frequency) or None.
    validation_fraction:
        Share of the training data held out for the search when ``fit`` gets no ``validation``.

    Attributes
    ----------
    labels_: sorted label names; columns of :meth:`predict_proba`.
    thresholds_: per-label decision thresholds (tuned on validation for multi-label; 0.5s for single-label).
    search_: one dict per candidate tried: name, score (validation macro-F1), seconds, params.
    best_: name of the chosen candidate.
    vectorizers_, view_names_, coef_, intercept_: the fitted features and the linear scores they feed
    (``coef_`` has one row per output: one for two single-label labels, else one per label).
    calibration_scale_, calibration_bias_: the calibration of those scores.
    """

    def __init__(
        self,
        multi_label: bool = False,
        time_budget: float = 120.0,
        seed: int = 0,
        candidates: tuple[str, ...] | None = None,
        class_weight: str | None = "balanced",
        validation_fraction: float = 0.15,
        strategy: str = "auto",
    ) -> None:
        self.strategy = strategy
        self.multi_label = multi_label
        self.time_budget = time_budget
        self.seed = seed
        self.candidates = candidates
        self.class_weight = class_weight
        self.validation_fraction = validation_fraction

    # ----------------------------------------------------------------------------------------- parameters

    def _check_params(self) -> tuple[str, ...]:
        if not isinstance(self.multi_label, bool | np.bool_):
            raise _param_error("E320", "multi_label", "True or False", self.multi_label)
        tb = self.time_budget
        if isinstance(tb, bool) or not isinstance(tb, numbers.Real) or not math.isfinite(tb) or tb <= 0:
            raise _param_error("E321", "time_budget", "a positive, finite number of seconds", tb)
        sd = self.seed
        if isinstance(sd, bool) or not isinstance(sd, numbers.Integral) or not 0 <= sd < 2**32:
            raise _param_error("E322", "seed", "an integer between 0 and 2**32 - 1", sd)
        cands = DEFAULT_CANDIDATES if self.candidates is None else self.candidates
        if isinstance(cands, str) or not isinstance(cands, Sequence) or not cands:
            raise _param_error(
                "E323", "candidates", f"None or a non-empty tuple of names from {sorted(CANDIDATES)}", self.candidates
            )
        unknown = [c for c in cands if c not in CANDIDATES]
        if unknown or len(set(cands)) != len(cands):
            must = f"distinct names from {sorted(CANDIDATES)}" + (f" (unknown: {unknown})" if unknown else "")
            raise _param_error("E323", "candidates", must, self.candidates)
        if self.class_weight not in (None, "balanced"):
            raise _param_error("E324", "class_weight", "'balanced' or None", self.class_weight)
        vf = self.validation_fraction
        if isinstance(vf, bool) or not isinstance(vf, numbers.Real) or not 0.0 < vf <= 0.5:
            raise _param_error("E325", "validation_fraction", "a number in (0, 0.5]", vf)
        if self.strategy not in STRATEGIES:
            raise _param_error("E326", "strategy", f"one of {', '.join(STRATEGIES)}", self.strategy)
        return tuple(cands)

    def _choose_strategy(self, n_texts: int, n_labels: int) -> str:
        if self.strategy != "auto":
            return str(self.strategy)
        outputs = 1 if (n_labels == 2 and not self.multi_label) else n_labels
        if outputs > MANY_LABELS and outputs * n_texts > FEW_LABEL_ROWS:
            return "shortlist"
        if outputs > MANY_LABELS:
            return "standard"
        return "hashed" if n_texts > MANY_DOCS else "standard"

    # ------------------------------------------------------------------------------------------------ fit

    def fit(
        self,
        texts: list[str],
        y: list[list[str]],
        validation: tuple[list[str], list[list[str]]] | None = None,
        progress: Progress | None = None,
    ) -> TextClassifier:
        """Search the candidates, keep the best on validation macro-F1, and fit it.

        ``y`` holds one list of labels per text (single-label: exactly one; multi-label: any number, including
        none). Without ``validation``, a seeded stratified ``validation_fraction`` of the data is held out for the
        search and the winner is refitted on all of it; with ``validation`` (texts, label lists), the search scores
        on it, labels the training data lacks are ignored, and nothing is refitted. ``progress(stage, done,
        total)`` is called for the stages "search" (once per candidate) and "refit".

        Raises :class:`~nlpipe.errors.TrainingError`: E301 no texts, or not one label list per text; E302 fewer
        than two distinct labels; E303 a text without exactly one label in single-label mode; E304 a text that
        is not a string or a label that is not a non-empty string; E305 no text has any character to learn from;
        E306 a malformed or unusable ``validation``; E320-E325 a parameter out of range (the message names it).
        """
        cands = self._check_params()
        multi = bool(self.multi_label)
        seed = int(self.seed)
        texts = _check_texts(texts, "texts", TrainingError, "E304")
        if not texts:
            raise TrainingError("E301", "texts is empty; give at least two labeled texts to train on.", field="texts")
        lists = _check_labels(y, len(texts), multi, "y")
        labels = _two_labels_or_more(lists)
        self.strategy_ = self._choose_strategy(len(texts), len(labels))
        if self.strategy_ != "standard":
            return self._fit_large(texts, lists, labels, validation, progress)
        if self.candidates is None and self.strategy == "auto" and len(labels) > MANY_LABELS:
            cands = MANY_LABEL_CANDIDATES  # many labels, little data (FEW_LABEL_ROWS): the word view alone
        index = {lab: j for j, lab in enumerate(labels)}
        Y = np.zeros((len(texts), len(labels)), dtype=bool)
        for i, labs in enumerate(lists):
            Y[i, [index[lab] for lab in labs]] = True

        if validation is None:
            tr, va = stratified_split(Y, float(self.validation_fraction), seed)
            if len(va) == 0:  # fewer than two texts per label: nothing to hold out, score on the training texts
                va = tr
            fit_texts, val_texts, refit = texts, None, True
            Y_tr, Y_va = Y[tr], Y[va]
        else:
            val_texts, Y_va = self._check_validation(validation, index, multi)
            fit_texts, refit, tr, va = texts, False, np.arange(len(texts)), None
            Y_tr = Y

        started = time.perf_counter()
        views: dict[str, tuple[WordNgrams | CharNgrams, sp.csr_matrix, sp.csr_matrix]] = {}
        view_seconds: dict[str, float] = {}
        stacked: dict[tuple[str, ...], tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]] = {}

        def features(names: list[str]) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
            for v in names:
                if v not in views:
                    t0 = time.perf_counter()
                    vec = _make_view(v)
                    X_all = vec.fit_transform(fit_texts)
                    X_va = X_all[va] if val_texts is None else vec.transform(val_texts)
                    views[v] = (vec, X_all, X_va)
                    view_seconds[v] = time.perf_counter() - t0
            key = tuple(names)
            if key not in stacked:
                X_all = sp.hstack([views[v][1] for v in names], format="csr")
                X_va = sp.hstack([views[v][2] for v in names], format="csr")
                stacked.clear()  # keep one stack in memory
                stacked[key] = (X_all, X_all[tr] if refit else X_all, X_va)
            return stacked[key]

        search: list[dict[str, Any]] = []
        fitted: dict[str, dict[str, Any]] = {}
        fit_seconds: dict[str, float] = {}
        if progress:
            progress("search", 0, len(cands))
        for i, name in enumerate(cands):
            spec = CANDIDATES[name]
            if i > 0 and search:
                new_views = [v for v in spec["features"] if v not in views]
                est = max(fit_seconds.values()) + sum(max(view_seconds.values()) for _ in new_views)
                est_refit = max(fit_seconds.values()) / (1.0 - float(self.validation_fraction)) if refit else 0.0
                if time.perf_counter() - started + est + est_refit > float(self.time_budget):
                    break
            t0 = time.perf_counter()
            X_all, X_tr, X_va = features(spec["features"])
            if X_all.shape[1] == 0:
                continue
            t1 = time.perf_counter()
            W, b = self._fit_linear(X_tr, Y_tr, spec, multi, seed)
            fit_seconds[name] = time.perf_counter() - t1
            S_va = np.asarray(X_va @ W.T) + b
            scale, bias, thresholds = self._calibrate(S_va, Y_va, multi)
            P = self._proba(S_va, scale, bias, multi)
            score = macro_f1(Y_va, self._decide(P, thresholds, multi))
            fitted[name] = {
                "W": W,
                "b": b,
                "scale": scale,
                "bias": bias,
                "thresholds": thresholds,
                "decisions": self._decide(P, thresholds, multi),
            }
            search.append(
                {
                    "name": name,
                    "score": round(score, 6),
                    "seconds": round(time.perf_counter() - t0, 3),
                    "params": {k: (list(v) if isinstance(v, list | tuple) else v) for k, v in spec.items()},
                }
            )
            if progress:
                progress("search", i + 1, len(cands))
        if not search:
            raise TrainingError(
                "E305",
                "No text has anything to learn from: every text is empty or blank. Give texts with words in them.",
                field="texts",
            )
        if progress:
            progress("search", len(cands), len(cands))

        # The first candidate is the default; another replaces the best so far only when its validation gain is
        # larger than the gain's standard error, so noise on a small validation set does not pick the winner.
        best = search[0]["name"]
        best_score = search[0]["score"]
        for row in search[1:]:
            gain = row["score"] - best_score
            if gain > 0 and gain > f1_gain_se(Y_va, fitted[row["name"]]["decisions"], fitted[best]["decisions"], seed):
                best, best_score = row["name"], row["score"]
        spec = CANDIDATES[best]
        chosen = fitted[best]
        if refit:
            if progress:
                progress("refit", 0, 1)
            X_all, _, _ = features(spec["features"])
            chosen["W"], chosen["b"] = self._fit_linear(X_all, Y, spec, multi, seed)
            if progress:
                progress("refit", 1, 1)

        self.labels_ = labels
        self.view_names_ = list(spec["features"])
        self.vectorizers_ = [views[v][0] for v in spec["features"]]
        self.weights_ = _half_exact(chosen["W"].T)
        self.intercept_ = chosen["b"].astype(np.float32)
        self.calibration_scale_ = chosen["scale"]
        self.calibration_bias_ = chosen["bias"]
        self.thresholds_ = chosen["thresholds"]
        self.search_ = search
        self.best_ = best
        return self.prepare()

    def _fit_large(
        self,
        texts: list[str],
        lists: list[list[str]],
        labels: list[str],
        validation: tuple[list[str], list[list[str]]] | None,
        progress: Progress | None,
    ) -> TextClassifier:
        """The ``hashed`` and ``shortlist`` strategies: hashed features, one model, calibrated on validation.

        No candidate search and, for ``hashed``, no refit: at these sizes a held-out 15% costs less accuracy than
        a second fit costs time. ``shortlist`` is refitted on all the data when the budget leaves room for it.
        """
        started = time.perf_counter()
        hasher = HashedNgrams(n_bits=HASH_BITS[self.strategy_])
        X = hasher.fit_transform(texts)  # the IDF is unsupervised: fitted on every training text
        return self._fit_hashed(hasher, X, lists, labels, validation, progress, started)

    def fit_stream(
        self,
        batches: Iterable[tuple[Sequence[str], Sequence[Sequence[str]]]],
        validation: tuple[list[str], list[list[str]]] | None = None,
        progress: Progress | None = None,
        total: int = 0,
    ) -> TextClassifier:
        """:meth:`fit` on (texts, label lists) batches, for more texts than fit in memory at once.

        Each batch is turned into hashed n-gram counts as it arrives and its texts are dropped, so memory holds
        the sparse features, never the texts or their n-gram strings; the IDF is the sum of the batches'
        document frequencies. A batch is independent of the others (a partition, when the batches come from a
        cluster). The strategy is ``hashed`` or ``shortlist`` (the ``standard`` search needs every text to
        build its vocabularies). ``progress("features", done, total)`` counts texts; ``total`` is a hint.
        Raises what :meth:`fit` raises.
        """
        self._check_params()
        started = time.perf_counter()
        multi = bool(self.multi_label)
        hasher = HashedNgrams(n_bits=max(HASH_BITS.values()))  # folded to fewer bits once the strategy is known
        parts: list[sp.csr_matrix] = []
        lists: list[list[str]] = []
        df = None
        for texts, y in batches:
            texts = _check_texts(texts, "texts", TrainingError, "E304")
            labs = _check_labels(y, len(texts), multi, "y")
            counts = hasher.counts(texts)
            df = hasher.partial_df(counts, df)
            parts.append(counts)
            lists.extend(labs)
            if progress:
                progress("features", len(lists), max(total, len(lists)))
        if not lists or df is None:
            raise TrainingError("E301", "texts is empty; give at least two labeled texts to train on.", field="texts")
        labels = _two_labels_or_more(lists)
        X = sp.vstack(parts, format="csr")
        del parts
        chosen = self._choose_strategy(len(lists), len(labels))
        self.strategy_ = "hashed" if chosen == "standard" else chosen
        if HASH_BITS[self.strategy_] != hasher.n_bits:
            hasher, X = hasher.fold(X, HASH_BITS[self.strategy_])
            df = hasher.partial_df(X)
        hasher.set_idf(df, X.shape[0])
        X = hasher.tfidf(X)
        return self._fit_hashed(hasher, X, lists, labels, validation, progress, started)

    def _fit_hashed(
        self,
        hasher: HashedNgrams,
        X: sp.csr_matrix,
        lists: list[list[str]],
        labels: list[str],
        validation: tuple[list[str], list[list[str]]] | None,
        progress: Progress | None,
        started: float,
    ) -> TextClassifier:
        strategy, multi, seed = self.strategy_, bool(self.multi_label), int(self.seed)
        index = {lab: j for j, lab in enumerate(labels)}
        Y = _label_matrix(lists, index)
        del lists
        if validation is None:
            tr, va = _sparse_stratified_split(Y, float(self.validation_fraction), seed)
            if len(va) == 0:
                va = tr
            X_tr, Y_tr, X_va, Y_va = X[tr], Y[tr], X[va], Y[va]
            refit = len(va) != len(tr) or not np.array_equal(va, tr)
            if strategy == "hashed":  # never refitted: the whole matrix is not needed again
                del X
        else:
            v_texts, Y_va_dense = self._check_validation(validation, index, multi)
            X_tr, Y_tr, X_va, Y_va = X, Y, hasher.transform(v_texts), sp.csr_matrix(Y_va_dense)
            refit = False
        Y_va_dense = Y_va.toarray().astype(bool)
        if progress:
            progress("search", 0, 1)
        t0 = time.perf_counter()
        if strategy == "shortlist":
            keep = choose_keep(X_tr, Y_tr, X_va, Y_va_dense, multi)
            model = ShortlistLinear(keep=keep, seed=seed)
            model.fit(X_tr, Y_tr)
            if math.isinf(model.tune_centroid_weight(X_va, Y_va_dense, multi)):
                model.drop_rerankers()
            S_va = model.decision_function(X_va)
            scale, bias, thresholds = _calibrate_shortlist(S_va, Y_va_dense, multi)
            params: dict[str, Any] = {
                "features": "hashed word 1-2 grams",
                "n_candidates": model.n_candidates,
                "keep": keep,
                "centroid_weight": None if model.centroids_only else model.centroid_weight_,
                "rerankers": not model.centroids_only,
            }
        else:
            spec = {"model": "svm", "C": 0.3, "nb_power": 0.0}
            W, b = self._fit_linear(X_tr, Y_tr.toarray().astype(bool), spec, multi, seed, max_rows=MAX_ROWS)
            self.weights_ = _half_exact(W.T)
            self.intercept_ = b.astype(np.float32)
            del W
            S_va = np.asarray(X_va @ self.weights_) + self.intercept_
            scale, bias, thresholds = self._calibrate(S_va, Y_va_dense, multi)
            params = {"features": "hashed word 1-2 grams", **spec}
        fit_seconds = time.perf_counter() - t0
        P = self._proba(S_va, scale, bias, multi)
        score = macro_f1(Y_va_dense, self._decide(P, thresholds, multi))
        if progress:
            progress("search", 1, 1)
        elapsed = time.perf_counter() - started
        if strategy == "shortlist" and refit and elapsed + 1.2 * fit_seconds <= float(self.time_budget):
            if progress:
                progress("refit", 0, 1)
            weight = model.centroid_weight_
            model = ShortlistLinear(keep=model.keep, rerank=not model.centroids_only, seed=seed).fit(X, Y)
            model.centroid_weight_ = weight
            if progress:
                progress("refit", 1, 1)
        if strategy == "shortlist":
            self.shortlist_ = model
        self.hasher_ = hasher
        self.labels_ = labels
        self.view_names_ = []
        self.vectorizers_ = []
        self.calibration_scale_, self.calibration_bias_, self.thresholds_ = scale, bias, thresholds
        name = f"{strategy}_hashed" if strategy == "shortlist" else "svm_hashed"
        self.search_ = [{"name": name, "score": round(score, 6), "seconds": round(fit_seconds, 3), "params": params}]
        self.best_ = name
        return self

    def _check_validation(self, validation: object, index: dict[str, int], multi: bool) -> tuple[list[str], np.ndarray]:
        if not isinstance(validation, tuple | list) or len(validation) != 2:
            raise TrainingError(
                "E306",
                f"validation must be a pair (texts, label lists) or None; got {type(validation).__name__}.",
                field="validation",
            )
        v_texts = _check_texts(validation[0], "validation texts", TrainingError, "E306")
        v_lists = _check_labels(validation[1], len(v_texts), multi, "validation labels")
        keep = []
        for i, labs in enumerate(v_lists):
            known = [lab for lab in labs if lab in index]
            if multi or known:  # single-label rows whose label was never trained on cannot be scored
                keep.append((i, known))
        if not keep:
            raise TrainingError(
                "E306",
                "No validation text has a label that occurs in the training data; give "
                "validation texts labeled like the training texts, or validation=None.",
                field="validation",
            )
        Y = np.zeros((len(keep), len(index)), dtype=bool)
        for r, (_, known) in enumerate(keep):
            Y[r, [index[lab] for lab in known]] = True
        return [v_texts[i] for i, _ in keep], Y

    # ------------------------------------------------------------------------------------------ internals

    def _fit_linear(
        self,
        X: sp.csr_matrix,
        Y: np.ndarray,
        spec: dict[str, Any],
        multi: bool,
        seed: int,
        max_rows: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One binary linear model per output; NB scaling folded into the coefficients.

        ``max_rows``: an output whose data has more rows sees all its positive rows and a seeded sample of the
        negative ones (weighted up by the share left out), so one output's fit costs at most that many rows.
        """
        T = Y[:, 1:2] if (not multi and Y.shape[1] == 2) else Y
        w_rows = sample_weights(Y, T, multi, self.class_weight)
        rng = np.random.default_rng(seed)
        X = sp.csr_matrix(X, dtype=np.float64)  # liblinear's type: converted once here, not once per label
        W = np.zeros((T.shape[1], X.shape[1]))
        b = np.zeros(T.shape[1])
        power = float(spec["nb_power"])
        block = 16  # NB ratios are computed for 16 outputs at a time: features x 16, not features x labels
        ratios, ratios_block = None, -1
        for k in range(T.shape[1]):
            t = T[:, k]
            if t.all() or not t.any():  # a label on every text or none: constant score
                b[k] = 1.0 if t.all() else -1.0
                continue
            Xk = X
            r = None
            if power > 0:
                if k // block != ratios_block:
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

    @staticmethod
    def _calibrate(S: np.ndarray, Y: np.ndarray, multi: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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

    @staticmethod
    def _proba(S: np.ndarray, scale: np.ndarray, bias: np.ndarray, multi: bool) -> np.ndarray:
        if multi:
            return expit(S * scale + bias)
        if S.shape[1] == 1:
            p = expit(S[:, 0] * scale[0] + bias[0])
            return np.column_stack([1.0 - p, p])
        return softmax(S * scale[0], axis=1)

    @staticmethod
    def _decide(P: np.ndarray, thresholds: np.ndarray, multi: bool) -> np.ndarray:
        if multi:
            return P >= thresholds
        out = np.zeros(P.shape, dtype=bool)
        out[np.arange(P.shape[0]), P.argmax(axis=1)] = True
        return out

    def _features(self, texts: list[str]) -> sp.csr_matrix:
        if self.strategy_ != "standard":
            return self.hasher_.transform(texts)
        return sp.hstack([v.transform(texts) for v in self.vectorizers_], format="csr", dtype=np.float32)

    def _scores(self, texts: list[str]) -> np.ndarray:
        if self.strategy_ == "standard":  # view by view, each straight to its scores (features.py, the C loop)
            S = np.zeros((len(texts), self.weights_.shape[1]))
            start = 0
            for vec in self.vectorizers_:
                width = len(vec.vocabulary_)
                S += vec.scores(texts, self.weights_[start : start + width])
                start += width
            return S + self.intercept_
        X = self._features(texts)
        if self.strategy_ == "shortlist":
            return self.shortlist_.decision_function(X)
        return np.asarray(X @ self.weights_) + self.intercept_

    @property
    def coef_(self) -> np.ndarray:
        """The linear weights as scikit-learn lays them out, (outputs, features): a view of ``weights_``, which
        is stored (features, outputs) so that ``X @ weights_`` reads it in place (no copy per prediction)."""
        if getattr(self, "strategy_", "standard") == "shortlist":
            return self.shortlist_.weights_.T
        return self.weights_.T

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        W = state.get("weights_")
        if isinstance(W, np.ndarray) and W.dtype == np.float32 and W.size:
            half = W.astype(np.float16)
            if np.array_equal(half.astype(np.float32), W):  # exactly representable (see _half_exact): 2 bytes each
                state["weights_"] = half
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("weights_"), np.ndarray) and state["weights_"].dtype == np.float16:
            state = {**state, "weights_": state["weights_"].astype(np.float32)}
        if "coef_" in state:  # saved before weights_: (outputs, features) float64
            state = dict(state)
            state["weights_"] = np.ascontiguousarray(np.asarray(state.pop("coef_")).T, dtype=np.float32)
        state.setdefault("strategy_", "standard")
        super().__setstate__(state)
        self.prepare()

    def prepare(self) -> TextClassifier:
        """Build the vectorizers' lookup tables for prediction now (at the end of fit and on load), so that the
        first request does not pay for them."""
        for vec in getattr(self, "vectorizers_", None) or []:
            vec.prepare()
        return self

    # ------------------------------------------------------------------------------------------ predict

    def decision_function(self, texts: list[str]) -> np.ndarray:
        """Raw linear scores, one column per output (before calibration)."""
        check_is_fitted(self)
        return self._scores(_check_texts(texts, "texts", InputError, "E342"))

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Calibrated probabilities, shape (len(texts), len(labels_)); single-label rows sum to 1."""
        check_is_fitted(self)
        texts = _check_texts(texts, "texts", InputError, "E342")
        if not texts:
            return np.zeros((0, len(self.labels_)))
        return self._proba(self._scores(texts), self.calibration_scale_, self.calibration_bias_, bool(self.multi_label))

    def predict(self, texts: list[str]) -> list[list[str]]:
        """Single-label: ``[[most probable label]]``. Multi-label: the labels at or above their threshold, most
        probable first (possibly none)."""
        P = self.predict_proba(texts)
        if not self.multi_label:
            return [[self.labels_[j]] for j in P.argmax(axis=1).tolist()]
        out: list[list[str]] = []
        for row in P:
            order = np.argsort(-row, kind="stable")
            out.append([self.labels_[j] for j in order if row[j] >= self.thresholds_[j]])
        return out

    def score(self, texts: list[str], y: list[list[str]], sample_weight: object = None) -> float:
        """Share of texts whose predicted label set equals the true one (accuracy for single-label)."""
        pred = self.predict(texts)
        truth = _check_labels(y, len(pred), True, "y")
        return float(np.mean([set(p) == set(t) for p, t in zip(pred, truth, strict=True)])) if pred else 0.0

    def explain(self, text: str, label: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` terms of ``text`` that raise ``label``'s score most: (term, contribution), positive ones
        only, largest first.

        A word n-gram's contribution is its feature value x coefficient. A character n-gram's contribution is
        shared out among the words of ``text`` that contain it, so every term reported is a word or word
        n-gram a person can find in the text (lower-cased, surrounding punctuation stripped).
        """
        check_is_fitted(self)
        if not isinstance(text, str):
            raise InputError("E342", f"text is {type(text).__name__}, not a string.", field="text")
        if label not in self.labels_:
            raise InputError(
                "E340", f"Unknown label {label!r}; this model knows: {', '.join(self.labels_)}.", field="label"
            )
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise InputError("E341", f"k must be a positive integer; got {k!r}.", field="k")
        j = self.labels_.index(label)
        if self.strategy_ == "shortlist":
            w = self.shortlist_.label_weights(j)
        elif self.weights_.shape[1] == 1:  # two single-label labels: one score, positive for labels_[1]
            w = self.weights_[:, 0] if j == 1 else -self.weights_[:, 0]
        else:
            w = self.weights_[:, j]
        contrib: dict[str, float] = {}
        offset = 0
        if self.strategy_ != "standard":
            x = self.hasher_.transform([text])
            owners = self.hasher_.terms(text)
            for col, val in zip(x.indices, x.data, strict=True):
                terms = owners.get(int(col), [])
                for term in terms:
                    contrib[term] = contrib.get(term, 0.0) + float(val * w[col]) / len(terms)
        for vec in self.vectorizers_:
            x = vec.transform([text])
            owners = self._terms_of(vec, text)
            for col, val in zip(x.indices, x.data, strict=True):
                terms = owners[col]
                share = float(val * w[offset + col]) / len(terms)
                for term in terms:
                    contrib[term] = contrib.get(term, 0.0) + share
            offset += len(vec.vocabulary_)
        ranked = sorted(((t, c) for t, c in contrib.items() if c > 0 and t), key=lambda tc: (-tc[1], tc[0]))
        return ranked[: int(k)]

    @staticmethod
    def _terms_of(vec: WordNgrams | CharNgrams, text: str) -> dict[int, list[str]]:
        """Column -> the terms of ``text`` it stands for: the word n-gram itself, or for a character n-gram
        every occurrence of a word that contains it (no reverse vocabulary is stored)."""
        lo, hi = vec.ngram_range
        out: dict[int, list[str]] = {}
        if isinstance(vec, WordNgrams):
            for t in word_ngrams(text, lo, hi):
                col = vec.vocabulary_.get(t)
                if col is not None:
                    out[col] = [t.strip()]
            return out
        for word in text.lower().split():
            shown = _EDGE_PUNCT.sub("", word)
            for g in set(char_wb_ngrams(word, lo, hi)):
                col = vec.vocabulary_.get(g)
                if col is not None:
                    out.setdefault(col, []).append(shown)
        return out
