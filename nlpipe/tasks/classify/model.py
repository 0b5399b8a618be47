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
  SVM as the alternative (:data:`~nlpipe.tasks.classify.standard.DEFAULT_CANDIDATES`,
  :data:`~nlpipe.tasks.classify.standard.CANDIDATES`).
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
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from nlpipe.errors import InputError, TrainingError
from nlpipe.tasks.classify.checks import check_labels, check_texts, param_error, two_labels_or_more
from nlpipe.tasks.classify.explain import contributions
from nlpipe.tasks.classify.hashing import HashedNgrams
from nlpipe.tasks.classify.large import (
    FEATURES,
    HASH_BITS,
    HASHED_SVM,
    fit_hashed_svm,
    fit_shortlist,
    hashed_split,
    refit_shortlist,
    stream_counts,
)
from nlpipe.tasks.classify.linear import calibrate, decide, fit_linear, half_exact, label_matrix, proba
from nlpipe.tasks.classify.standard import CANDIDATES, DEFAULT_CANDIDATES, SearchSetup, pick_best, run_search
from nlpipe.tasks.search import macro_f1

__all__ = ["TextClassifier", "TRUSTED_TYPES"]

Progress = Callable[[str, int, int], None]

#: Fully-qualified type names :func:`skops.io.load` must trust to load a fitted :class:`TextClassifier`
#: (found with ``skops.io.get_untrusted_types`` on fitted models of every candidate, single- and multi-label;
#: ``tests/test_tasks_classify.py`` checks the list is exact). Everything else in the fitted state is a
#: builtin, a numpy array or a numpy scalar, which skops trusts by default.
TRUSTED_TYPES: list[str] = [
    "nlpipe.tasks.classify.model.TextClassifier",
    "nlpipe.tasks.features.CharNgrams",
    "nlpipe.tasks.features.WordNgrams",
    "nlpipe.tasks.classify.hashing.HashedNgrams",
    "nlpipe.tasks.classify.shortlist.ShortlistLinear",
    "scipy.sparse._csr.csr_matrix",
]

#: Training strategies, chosen by data size and label count when ``strategy="auto"`` (see :meth:`fit`):
#: ``standard``, the candidate search (:mod:`nlpipe.tasks.classify.standard`); ``hashed``, one linear SVM per
#: label over hashed word 1-2 grams, fitted once (for many documents: no vocabulary, no refit); ``shortlist``,
#: centroid candidates and a re-ranker per label (for hundreds to thousands of labels; both in
#: :mod:`nlpipe.tasks.classify.large`).
STRATEGIES: tuple[str, ...] = ("auto", "standard", "hashed", "shortlist")
MANY_LABELS = 100  # more outputs than this: shortlist, unless the data is small (FEW_LABEL_ROWS)
#: At most this many outputs x training texts, more than MANY_LABELS outputs stay ``standard`` with the word view
#: alone (:data:`MANY_LABEL_CANDIDATES`): 250 labels x 4k texts train in 31 s to 0.940 accuracy where the shortlist
#: reaches 0.914 and TF-IDF + LinearSVC 0.937 (``benchmarks/scale.py``, budget row); the character view would
#: multiply the time by four (one SVM per label over five times the non-zeros).
FEW_LABEL_ROWS = 2_000_000
MANY_LABEL_CANDIDATES: tuple[str, ...] = ("nbsvm_word", "svm_word")
MANY_DOCS = 50_000  # more training texts than this (and few labels): hashed


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
        Names from :data:`~nlpipe.tasks.classify.standard.CANDIDATES` to try, in order; None tries
        :data:`~nlpipe.tasks.classify.standard.DEFAULT_CANDIDATES`.
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
            raise param_error("E320", "multi_label", "True or False", self.multi_label)
        tb = self.time_budget
        if isinstance(tb, bool) or not isinstance(tb, numbers.Real) or not math.isfinite(tb) or tb <= 0:
            raise param_error("E321", "time_budget", "a positive, finite number of seconds", tb)
        sd = self.seed
        if isinstance(sd, bool) or not isinstance(sd, numbers.Integral) or not 0 <= sd < 2**32:
            raise param_error("E322", "seed", "an integer between 0 and 2**32 - 1", sd)
        cands = DEFAULT_CANDIDATES if self.candidates is None else self.candidates
        if isinstance(cands, str) or not isinstance(cands, Sequence) or not cands:
            raise param_error(
                "E323", "candidates", f"None or a non-empty tuple of names from {sorted(CANDIDATES)}", self.candidates
            )
        unknown = [c for c in cands if c not in CANDIDATES]
        if unknown or len(set(cands)) != len(cands):
            must = f"distinct names from {sorted(CANDIDATES)}" + (f" (unknown: {unknown})" if unknown else "")
            raise param_error("E323", "candidates", must, self.candidates)
        if self.class_weight not in (None, "balanced"):
            raise param_error("E324", "class_weight", "'balanced' or None", self.class_weight)
        vf = self.validation_fraction
        if isinstance(vf, bool) or not isinstance(vf, numbers.Real) or not 0.0 < vf <= 0.5:
            raise param_error("E325", "validation_fraction", "a number in (0, 0.5]", vf)
        if self.strategy not in STRATEGIES:
            raise param_error("E326", "strategy", f"one of {', '.join(STRATEGIES)}", self.strategy)
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
        texts = check_texts(texts, "texts", TrainingError, "E304")
        if not texts:
            raise TrainingError("E301", "texts is empty; give at least two labeled texts to train on.", field="texts")
        lists = check_labels(y, len(texts), multi, "y")
        labels = two_labels_or_more(lists)
        self.strategy_ = self._choose_strategy(len(texts), len(labels))
        if self.strategy_ != "standard":
            return self._fit_large(texts, lists, labels, validation, progress)
        if self.candidates is None and self.strategy == "auto" and len(labels) > MANY_LABELS:
            cands = MANY_LABEL_CANDIDATES  # many labels, little data (FEW_LABEL_ROWS): the word view alone
        return self._fit_standard(texts, lists, labels, cands, validation, progress)

    def _fit_standard(
        self,
        texts: list[str],
        lists: list[list[str]],
        labels: list[str],
        cands: tuple[str, ...],
        validation: tuple[list[str], list[list[str]]] | None,
        progress: Progress | None,
    ) -> TextClassifier:
        """The ``standard`` strategy: the candidate search (:mod:`nlpipe.tasks.classify.standard`), the winner
        refitted on every text unless ``validation`` was given."""
        multi, seed = bool(self.multi_label), int(self.seed)
        index = {lab: j for j, lab in enumerate(labels)}
        Y = np.zeros((len(texts), len(labels)), dtype=bool)
        for i, labs in enumerate(lists):
            Y[i, [index[lab] for lab in labs]] = True
        params = {
            "multi": multi,
            "seed": seed,
            "class_weight": self.class_weight,
            "time_budget": float(self.time_budget),
            "validation_fraction": float(self.validation_fraction),
        }
        setup = SearchSetup.split(texts, Y, validation, index, params)
        started = time.perf_counter()
        search, fitted = run_search(cands, setup, started, progress)
        best = pick_best(search, fitted, setup.Y_va, seed)
        spec = CANDIDATES[best]
        chosen = fitted[best]
        if setup.views.refit:
            if progress:
                progress("refit", 0, 1)
            X_all, _, _ = setup.views.stack(spec["features"])
            chosen["W"], chosen["b"] = fit_linear(X_all, Y, spec, multi, seed, self.class_weight)
            if progress:
                progress("refit", 1, 1)

        self.labels_ = labels
        self.view_names_ = list(spec["features"])
        self.vectorizers_ = [setup.views.views[v][0] for v in spec["features"]]
        self.weights_ = half_exact(chosen["W"].T)
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
        hasher, X, lists, df = stream_counts(batches, bool(self.multi_label), progress, total)
        labels = two_labels_or_more(lists)
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
        """One model of the strategy (:mod:`nlpipe.tasks.classify.large`) on hashed features ``X``, calibrated
        and scored on the held-out part; ``shortlist`` refitted on every row when the budget allows."""
        strategy, multi, seed = self.strategy_, bool(self.multi_label), int(self.seed)
        index = {lab: j for j, lab in enumerate(labels)}
        Y = label_matrix(lists, index)
        del lists
        split = hashed_split(hasher, X, Y, validation, index, multi, seed, float(self.validation_fraction))
        if progress:
            progress("search", 0, 1)
        t0 = time.perf_counter()
        shortlist = None
        if strategy == "shortlist":
            shortlist, S_va, (scale, bias, thresholds), params = fit_shortlist(split, multi, seed)
        else:
            self.weights_, self.intercept_ = fit_hashed_svm(split, multi, seed, self.class_weight)
            S_va = np.asarray(split.X_va @ self.weights_) + self.intercept_
            scale, bias, thresholds = calibrate(S_va, split.Y_va, multi)
            params = {"features": FEATURES, **HASHED_SVM}
        fit_seconds = time.perf_counter() - t0
        score = macro_f1(split.Y_va, decide(proba(S_va, scale, bias, multi), thresholds, multi))
        if progress:
            progress("search", 1, 1)
        elapsed = time.perf_counter() - started
        if shortlist is not None:
            if split.refit and elapsed + 1.2 * fit_seconds <= float(self.time_budget):
                if progress:
                    progress("refit", 0, 1)
                shortlist = refit_shortlist(shortlist, X, Y, seed)
                if progress:
                    progress("refit", 1, 1)
            self.shortlist_ = shortlist
        self.hasher_ = hasher
        self.labels_ = labels
        self.view_names_ = []
        self.vectorizers_ = []
        self.calibration_scale_, self.calibration_bias_, self.thresholds_ = scale, bias, thresholds
        name = f"{strategy}_hashed" if strategy == "shortlist" else "svm_hashed"
        self.search_ = [{"name": name, "score": round(score, 6), "seconds": round(fit_seconds, 3), "params": params}]
        self.best_ = name
        return self

    # ------------------------------------------------------------------------------------------ internals

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
            if np.array_equal(half.astype(np.float32), W):  # exactly representable (see half_exact): 2 bytes each
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
        return self._scores(check_texts(texts, "texts", InputError, "E342"))

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Calibrated probabilities, shape (len(texts), len(labels_)); single-label rows sum to 1."""
        check_is_fitted(self)
        texts = check_texts(texts, "texts", InputError, "E342")
        if not texts:
            return np.zeros((0, len(self.labels_)))
        return proba(self._scores(texts), self.calibration_scale_, self.calibration_bias_, bool(self.multi_label))

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
        truth = check_labels(y, len(pred), True, "y")
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
        hasher = self.hasher_ if self.strategy_ != "standard" else None
        contrib = contributions(text, w, hasher, self.vectorizers_)
        ranked = sorted(((t, c) for t, c in contrib.items() if c > 0 and t), key=lambda tc: (-tc[1], tc[0]))
        return ranked[: int(k)]
