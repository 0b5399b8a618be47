"""Trained sentiment models: categorical polarity, or an ordinal score 0..N, over n-grams plus VADER features.

:class:`SentimentModel` is a scikit-learn estimator over lists of strings with one label per text. It builds on
the classification machinery (:mod:`nlpipe.tasks.features`, :mod:`nlpipe.tasks.search`) and adds what helps
sentiment, each choice measured with ``benchmarks/sentiment.py`` (same folds as VADER, fastText and TF-IDF +
LinearSVC):

- Features: the classifier's sublinear TF-IDF of word 1-2 grams and of within-word character 2-5 grams, stacked
  with a block of VADER lexicon features (:func:`nlpipe.tasks.sentiment.lexicon.lexicon_features`: neg, pos, compound
  and a one-hot bin of compound) scaled by ``lexicon_weight``. The lexicon block adds about 0.6 points of accuracy on
  rt-polarity and 0.8 points of accuracy and 1.1 of macro-F1 on airline tweets (5-fold means, 0.5 weight).
- Models: linear SVMs with the n-gram columns scaled by the damped naive-Bayes log-count ratio
  ``sign(r)|r|^0.5`` (the lexicon columns are left unscaled: they are on every text, so their ratio says
  nothing), or plain; the search keeps the first unless the second beats it on validation macro-F1 by more than
  the bootstrap standard error, as :class:`~nlpipe.tasks.classify.model.TextClassifier` does.
- Categorical labels (``scale=None``): one-vs-rest outputs (one output for two labels), probabilities calibrated
  on the held-out part by temperature (3+ labels) or Platt's sigmoid (2 labels).
- Ordinal scale (``scale=N``, labels ``"0"``..``"N"``): the one-vs-rest outputs above plus N cumulative outputs
  "score > k" (Frank & Hall 2001) on the same features, each Platt-calibrated; the cumulative probabilities are
  made non-increasing in k, differenced into P(score = k) and averaged with the one-vs-rest ones. The cumulative
  part ties neighbouring scores together; alone it lost 0.6 points of accuracy to one-vs-rest on the airline
  tweets as a 0..2 scale, the average keeps one-vs-rest's accuracy (-0.1) with a lower MAE (0.2008 against
  0.2016 and 0.2036) and a higher quadratic-weighted kappa. The decision is the most probable score, as for
  categories, so that label, confidence and the evaluation's accuracy agree.
- Class weights "balanced" (per cumulative output for the scale), a seeded stratified validation split, refit
  of the winner on all data.

No disk I/O, printing or database work. Save with ``skops.io.dump``; load with :data:`TRUSTED_TYPES`. The VADER
lexicon is not part of the fitted state: it is read from the installed ``vaderSentiment`` package, whose version
is kept in ``lexicon_``.
"""

from __future__ import annotations

import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from nlpipe.errors import InputError, TrainingError
from nlpipe.tasks.features import CharNgrams, WordNgrams, nb_log_count_ratio
from nlpipe.tasks.search import f1_gain_se, fit_platt, fit_temperature, macro_f1, sample_weights, stratified_split
from nlpipe.tasks.sentiment.features import ngram_blocks
from nlpipe.tasks.sentiment.lexicon import lexicon_features, lexicon_version, vader_scores
from nlpipe.tasks.sentiment.params import CANDIDATES, check_params, check_text_list, encode_labels
from nlpipe.tasks.sentiment.token_table import CollectorPaused, Tokens, tokenize

__all__ = ["SentimentModel", "TRUSTED_TYPES", "SAVED_TYPES"]

Progress = Callable[[str, int, int], None]

#: Types :func:`skops.io.load` must trust for a fitted :class:`SentimentModel` (``tests/test_tasks_sentiment.py``
#: checks the list is exact); the rest of the state is builtins and numpy arrays.
TRUSTED_TYPES: list[str] = [
    "nlpipe.tasks.features.CharNgrams",
    "nlpipe.tasks.features.WordNgrams",
    "nlpipe.tasks.sentiment.model.SentimentModel",
    # Only in files saved before CharNgrams rebuilt its per-word n-gram rows (word_grams_) on load instead of
    # saving them; kept so those files still load.
    "scipy.sparse._csr.csr_matrix",
]
#: What a file saved today holds (``tests/test_tasks_sentiment.py`` checks it exactly).
SAVED_TYPES: list[str] = TRUSTED_TYPES[:3]

_SVM_TOL = 0.1
#: Per fitted model, ``coef_`` and its transpose laid out for sparse products (see ``SentimentModel._coef_t``).
_COEF_T: weakref.WeakKeyDictionary[Any, tuple[np.ndarray, np.ndarray]] = weakref.WeakKeyDictionary()


def _one_hot(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Label indices as a boolean matrix, one column per class."""
    Y = np.zeros((len(y), n_classes), dtype=bool)
    Y[np.arange(len(y)), y] = True
    return Y


class SentimentModel(ClassifierMixin, BaseEstimator):
    """Sentiment from labeled texts: categorical labels, or an ordinal score 0..``scale``.

    Parameters
    ----------
    scale:
        None for categorical labels (any label set, e.g. negative / neutral / positive); an integer N in 1..10
        for an ordinal score whose labels are the strings "0".."N", every one present.
    time_budget:
        Seconds the model search may take; the first candidate is always fitted.
    seed:
        Seeds the validation split and the solvers: same data, parameters and seed give the same model.
    candidates:
        Names from :data:`~nlpipe.tasks.sentiment.params.CANDIDATES`, in order; None tries
        :data:`~nlpipe.tasks.sentiment.params.DEFAULT_CANDIDATES`.
    lexicon_weight:
        Scale of the VADER feature block relative to the (unit-norm) n-gram blocks; 0 leaves it out.
    class_weight:
        "balanced" or None.
    validation_fraction:
        Share of the data held out for the search and calibration when ``fit`` gets no ``validation``.

    Attributes
    ----------
    labels_: the label names, columns of :meth:`predict_proba` (sorted; on a scale "0".."N" in numeric order).
    vectorizers_: the fitted word and character n-gram views.
    coef_, intercept_: one row per output (one-vs-rest, or one for two labels; then on a scale of 3+ scores one per
        cumulative "score > k").
    calibration_scale_, calibration_bias_: the probability calibration of the outputs.
    search_, best_: the candidates tried (name, validation macro-F1, seconds, params) and the one kept.
    lexicon_: the lexicon the model was trained with (``vader-<version>``).
    """

    def __init__(
        self,
        scale: int | None = None,
        time_budget: float = 120.0,
        seed: int = 0,
        candidates: tuple[str, ...] | None = None,
        lexicon_weight: float = 0.5,
        class_weight: str | None = "balanced",
        validation_fraction: float = 0.15,
    ) -> None:
        self.scale = scale
        self.time_budget = time_budget
        self.seed = seed
        self.candidates = candidates
        self.lexicon_weight = lexicon_weight
        self.class_weight = class_weight
        self.validation_fraction = validation_fraction

    # ------------------------------------------------------------------------------------------------ fit

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        validation: tuple[Sequence[str], Sequence[str]] | None = None,
        progress: Progress | None = None,
    ) -> SentimentModel:
        """Search the candidates on a held-out part (or ``validation``), calibrate, refit the winner on all data.

        Raises :class:`~nlpipe.errors.TrainingError`: E350 and E356-E361 a parameter out of range (named);
        E351 a label that is not a score of the scale, E352 a score of the scale with no example; E362 labels
        that are not one non-empty string per text; E363 fewer than two labels; E364 no text with anything to
        learn from.
        """
        cands = check_params(self.get_params())
        seed = int(self.seed)
        texts = check_text_list(texts, "texts", TrainingError, "E362")
        y, classes = encode_labels(labels, len(texts), "labels", None, self.scale)
        if len(classes) < 2:
            found = f"only the label {classes[0]!r}" if classes else "no labels at all"
            raise TrainingError("E363", f"The training data has {found}; sentiment needs texts of at least two "
                                "different labels.", field="labels")  # fmt: skip
        Y = _one_hot(y, len(classes))
        T = self._targets(y, len(classes))
        if validation is None:  # hold out part of the data, and refit the winner on all of it
            tr, va = stratified_split(Y, float(self.validation_fraction), seed)
            if len(va) == 0:
                va = tr
            started = time.perf_counter()
            X, n_ngrams = self._fit_features(texts)
            fit_on, held_out = (X[tr], T[tr], Y[tr]), (X[va], Y[va], y[va])
        else:
            val_texts, y_val = self._check_validation(validation, classes)
            started = time.perf_counter()
            X, n_ngrams = self._fit_features(texts)
            fit_on, held_out = (X, T, Y), (self._features(val_texts, None), _one_hot(y_val, len(classes)), y_val)
        refit = validation is None
        search, fitted, best = self._search(cands, fit_on, held_out, n_ngrams, seed, started, refit, progress)
        chosen = fitted[best]
        if refit:
            if progress:
                progress("refit", 0, 1)
            chosen["W"], chosen["b"] = self._fit_outputs(X, T, Y, CANDIDATES[best], n_ngrams, seed)
            if progress:
                progress("refit", 1, 1)

        self.labels_ = classes
        self.coef_ = chosen["W"]
        self.intercept_ = chosen["b"]
        self.calibration_scale_ = chosen["scale"]
        self.calibration_bias_ = chosen["bias"]
        self.search_ = search
        self.best_ = best
        self.lexicon_ = lexicon_version()
        return self.prepare()  # a fitted model is ready to predict (its n-gram tables come from its vocabularies)

    def _check_validation(
        self, validation: tuple[Sequence[str], Sequence[str]], classes: list[str]
    ) -> tuple[list[str], np.ndarray]:
        """The validation texts and label indices, leaving out texts with a label the training data lacks (they
        cannot be scored); E362 when no text is left or ``validation`` is not a pair."""
        if not isinstance(validation, tuple | list) or len(validation) != 2:
            raise TrainingError("E362", "validation must be a pair (texts, labels) or None.", field="validation")
        val_texts = check_text_list(validation[0], "validation texts", TrainingError, "E362")
        y_val, _ = encode_labels(validation[1], len(val_texts), "validation labels", classes, self.scale)
        known = y_val >= 0
        if not known.any():
            raise TrainingError(
                "E362",
                "No validation text has a label of the training data; give validation texts labeled like the "
                "training texts, or validation=None.",
                field="validation",
            )
        return [t for t, k in zip(val_texts, known, strict=True) if k], y_val[known]

    def _fit_features(self, texts: list[str]) -> tuple[sp.csr_matrix, int]:
        """Fit the word and character n-gram views on ``texts``: the texts' features (the n-gram blocks, then the
        lexicon block) and the number of n-gram columns. E364 when there is no n-gram at all."""
        self.vectorizers_ = [WordNgrams(ngram_range=(1, 2), min_df=1), CharNgrams(ngram_range=(2, 5), min_df=2)]
        blocks = [v.fit_transform(texts) for v in self.vectorizers_]
        n_ngrams = sum(b.shape[1] for b in blocks)
        if n_ngrams == 0:
            raise TrainingError("E364", "No text has anything to learn from: every text is empty or has no words.",
                                field="texts")  # fmt: skip
        return sp.hstack([*blocks, self._lexicon_block(vader_scores(texts))], format="csr"), n_ngrams

    def _search(
        self,
        cands: tuple[str, ...],
        fit_on: tuple[sp.csr_matrix, np.ndarray, np.ndarray],
        held_out: tuple[sp.csr_matrix, np.ndarray, np.ndarray],
        n_ngrams: int,
        seed: int,
        started: float,
        refit: bool,
        progress: Progress | None,
    ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], str]:
        """Fit and calibrate each candidate on ``fit_on`` (features, targets, labels), in order while the time
        budget allows (counting a refit on all data when ``refit``), and score it on ``held_out`` (features,
        labels one-hot and as indices): the search's rows, each fitted candidate, and the one kept (the first,
        unless a later one beats it on macro-F1 by more than the bootstrap standard error)."""
        X_tr, T_tr, Y_tr = fit_on
        X_va, Y_va, y_va = held_out
        n_classes = Y_va.shape[1]
        search: list[dict[str, Any]] = []
        fitted: dict[str, dict[str, Any]] = {}
        fit_seconds: list[float] = []
        if progress:
            progress("search", 0, len(cands))
        for i, name in enumerate(cands):
            if i > 0:
                est = max(fit_seconds) * (1.0 + (1.0 / (1.0 - float(self.validation_fraction)) if refit else 0.0))
                if time.perf_counter() - started + est > float(self.time_budget):
                    break
            spec = CANDIDATES[name]
            t0 = time.perf_counter()
            W, b = self._fit_outputs(X_tr, T_tr, Y_tr, spec, n_ngrams, seed)
            fit_seconds.append(time.perf_counter() - t0)
            S_va = np.asarray(X_va @ W.T) + b
            scale, bias = self._calibrate(S_va, y_va, n_classes)
            decisions = np.zeros_like(Y_va)
            decisions[np.arange(len(Y_va)), self._proba(S_va, scale, bias).argmax(axis=1)] = True
            fitted[name] = {"W": W, "b": b, "scale": scale, "bias": bias, "decisions": decisions}
            search.append({"name": name, "score": round(macro_f1(Y_va, decisions), 6),
                           "seconds": round(time.perf_counter() - t0, 3), "params": dict(spec)})  # fmt: skip
            if progress:
                progress("search", i + 1, len(cands))
        best, best_score = search[0]["name"], search[0]["score"]
        for row in search[1:]:
            gain = row["score"] - best_score
            if gain > 0 and gain > f1_gain_se(Y_va, fitted[row["name"]]["decisions"], fitted[best]["decisions"], seed):
                best, best_score = row["name"], row["score"]
        return search, fitted, best

    # ------------------------------------------------------------------------------------------ internals

    def _targets(self, y: np.ndarray, n_classes: int) -> np.ndarray:
        """Binary targets, one column per output: one-vs-rest (one column for two labels), then on a scale of 3+
        scores the cumulative "score > k" for k = 0..N-1."""
        Y = np.zeros((len(y), n_classes), dtype=bool)
        Y[np.arange(len(y)), y] = True
        if n_classes == 2:
            return Y[:, 1:2]
        if self.scale is None:
            return Y
        return np.hstack([Y, y[:, None] > np.arange(n_classes - 1)[None, :]])

    def _lexicon_block(self, scores: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix(lexicon_features(scores) * float(self.lexicon_weight))

    def _coef_t(self) -> np.ndarray:
        """``coef_.T`` as a C-contiguous array, kept while ``coef_`` is the same array: scipy copies a transposed
        view into that layout on every sparse product (the same numbers; 5 MB for a model of tweets)."""
        found = _COEF_T.get(self)
        if found is None or found[0] is not self.coef_:
            found = (self.coef_, np.ascontiguousarray(self.coef_.T))
            _COEF_T[self] = found
        return found[1]

    def _features(self, texts: list[str], lexicon_scores: np.ndarray | None) -> sp.csr_matrix:
        scores = vader_scores(texts) if lexicon_scores is None else lexicon_scores
        blocks = [v.transform(texts) for v in self.vectorizers_]
        return sp.hstack([*blocks, self._lexicon_block(scores)], format="csr")

    def _scores(self, texts: list[str], lexicon_scores: np.ndarray | None, tokens: Tokens | None) -> np.ndarray:
        """The linear scores ``features @ coef_.T + intercept_``, one column per output.

        With the usual vectorizers they come from :mod:`nlpipe.tasks.sentiment.features` (the n-gram counts from
        a table of the tokens seen, straight to scores; equal to the features' up to the order of floating-point
        additions), the texts split and looked up once for the n-grams and the lexicon; else from
        :meth:`_features`."""
        fast = ngram_blocks(*self.vectorizers_) if len(self.vectorizers_) == 2 else None
        if fast is None:
            return np.asarray(self._features(texts, lexicon_scores) @ self._coef_t()) + self.intercept_
        tokens = tokens or tokenize(texts)
        lexicon = vader_scores(texts, tokens) if lexicon_scores is None else lexicon_scores
        weights = self._coef_t()
        S = fast.scores(texts, tokens, weights)
        S += (lexicon_features(lexicon) * float(self.lexicon_weight)) @ weights[fast.n_word + fast.n_char :]
        return S + self.intercept_

    def _fit_outputs(
        self, X: sp.csr_matrix, T: np.ndarray, Y: np.ndarray, spec: dict[str, Any], n_ngrams: int, seed: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """One linear SVM per output; the naive-Bayes scaling of the n-gram columns folded into the coefficients."""
        n_ovr = Y.shape[1] if T.shape[1] > 1 else 1
        weights = np.hstack(
            [  # one-vs-rest outputs weighted per label; cumulative ones per positive/negative side
                sample_weights(Y, T[:, :n_ovr], False, self.class_weight),
                sample_weights(Y, T[:, n_ovr:], True, self.class_weight),
            ]
        )
        W = np.zeros((T.shape[1], X.shape[1]))
        b = np.zeros(T.shape[1])
        power = float(spec["nb_power"])
        ratios = nb_log_count_ratio(X[:, :n_ngrams], T) if power > 0 else None
        for k in range(T.shape[1]):
            t = T[:, k]
            if t.all() or not t.any():
                b[k] = 1.0 if t.all() else -1.0
                continue
            Xk, r = X, None
            if ratios is not None:
                r = np.ones(X.shape[1])
                r[:n_ngrams] = np.sign(ratios[:, k]) * np.abs(ratios[:, k]) ** power
                Xk = X.copy()
                Xk.data *= r[Xk.indices]
            svm = LinearSVC(C=spec["C"], tol=_SVM_TOL, random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                svm.fit(Xk, t.astype(np.int64), sample_weight=weights[:, k])
            W[k] = svm.coef_.ravel() * (r if r is not None else 1.0)
            b[k] = float(svm.intercept_[0])
        return W, b

    def _calibrate(self, S: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
        """Temperature of the one-vs-rest outputs (3+ labels) or Platt's sigmoid of the one output (2 labels);
        then Platt's sigmoid of each cumulative output."""
        if n_classes == 2:
            a, c = fit_platt(S[:, 0], y == 1)
            return np.array([a]), np.array([c])
        scale, bias = [fit_temperature(S[:, :n_classes], y)], [0.0]
        for k in range(S.shape[1] - n_classes):
            a, c = fit_platt(S[:, n_classes + k], y > k)
            scale.append(a)
            bias.append(c)
        return np.array(scale), np.array(bias)

    def _proba(self, S: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> np.ndarray:
        if S.shape[1] == 1:
            p = expit(S[:, 0] * scale[0] + bias[0])
            return np.column_stack([1.0 - p, p])
        n_classes = S.shape[1] if self.scale is None else int(self.scale) + 1
        P = softmax(S[:, :n_classes] * scale[0], axis=1)
        if self.scale is None:
            return P
        # P(score > k), made non-increasing in k, differenced into P(score = k); averaged with one-vs-rest.
        above = np.minimum.accumulate(expit(S[:, n_classes:] * scale[1:] + bias[1:]), axis=1)
        ones, zeros = np.ones((len(S), 1)), np.zeros((len(S), 1))
        return (P - np.diff(np.hstack([ones, above, zeros]), axis=1)) / 2.0

    # ------------------------------------------------------------------------------------------ predict

    def prepare(self) -> SentimentModel:
        """Build what prediction keeps per fitted model (the n-gram tables of :mod:`~nlpipe.tasks.sentiment.features`
        with the data of its training words, the transposed weights) now rather than on the first batches: ``fit``
        ends with it and a loaded model's predictor calls it."""
        check_is_fitted(self)
        blocks = ngram_blocks(*self.vectorizers_) if len(self.vectorizers_) == 2 else None
        if blocks is not None:
            blocks.warm(self._coef_t())
        self._coef_t()
        return self

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Raw linear scores, one column per output (before calibration)."""
        check_is_fitted(self)
        texts = check_text_list(texts, "texts", InputError, "E425")
        with CollectorPaused():
            return self._scores(texts, None, None)

    def predict_proba(
        self, texts: Sequence[str], lexicon_scores: np.ndarray | None = None, tokens: Tokens | None = None
    ) -> np.ndarray:
        """Calibrated probabilities, shape (len(texts), len(labels_)), rows summing to 1.

        ``lexicon_scores`` are the texts' :func:`~nlpipe.tasks.sentiment.lexicon.vader_scores` when the caller has them
        already (the predictor needs them for the magnitude too); they are computed otherwise. ``tokens`` are the
        texts split and looked up (:func:`~nlpipe.tasks.sentiment.token_table.tokenize`), when the caller has them too.
        """
        check_is_fitted(self)
        texts = check_text_list(texts, "texts", InputError, "E425")
        if not texts:
            return np.zeros((0, len(self.labels_)))
        with CollectorPaused():
            S = self._scores(texts, lexicon_scores, tokens)
        return self._proba(S, self.calibration_scale_, self.calibration_bias_)

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The most probable label of each text."""
        P = self.predict_proba(texts)
        return [self.labels_[int(i)] for i in P.argmax(axis=1)]

    def score(self, texts: Sequence[str], labels: Sequence[str], sample_weight: object = None) -> float:
        """Accuracy."""
        pred = self.predict(texts)
        return float(np.mean([p == str(t) for p, t in zip(pred, labels, strict=True)])) if pred else 0.0
