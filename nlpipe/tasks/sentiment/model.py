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

import math
import numbers
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
from nlpipe.tasks.sentiment.token_table import CollectorPaused, Tokens, tokenize

__all__ = ["SentimentModel", "CANDIDATES", "DEFAULT_CANDIDATES", "TRUSTED_TYPES", "MAX_SCALE", "scale_indices"]

Progress = Callable[[str, int, int], None]

#: Largest ordinal scale N (scores 0..N), as in AutoML.
MAX_SCALE = 10

#: Candidates the search knows: SVM regularisation C and the power of the naive-Bayes scaling of the n-grams.
CANDIDATES: dict[str, dict[str, Any]] = {
    "nbsvm_lexicon": {"C": 0.3, "nb_power": 0.5},
    "svm_lexicon": {"C": 0.3, "nb_power": 0.0},
}
DEFAULT_CANDIDATES: tuple[str, ...] = ("nbsvm_lexicon", "svm_lexicon")

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


def _param_error(code: str, name: str, must: str, got: object) -> TrainingError:
    return TrainingError(code, f"Parameter {name} must be {must}; got {got!r}.", field=name)


def _check_texts(texts: object, name: str, error: type[Exception], code: str) -> list[str]:
    if isinstance(texts, str | bytes) or not isinstance(texts, Sequence | np.ndarray):
        raise error(code, f"{name} must be a list of strings; got {type(texts).__name__}.", field=name)
    out = list(texts)
    if set(map(type, out)) <= {str}:  # the usual case, without an isinstance call per text
        return out
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise error(code, f"{name}[{i}] is {type(t).__name__}, not a string.", field=f"{name}[{i}]")
    return out


def scale_indices(
    labels: Sequence[object], scale: int, *, where: str = "labels", require_all: bool = True
) -> np.ndarray:
    """The integer score of each label on the scale 0..``scale``, checking every label is one of ``"0"``..``"N"``
    (E351) and (``require_all``) every score of the scale occurs (E352)."""
    allowed = {str(k): k for k in range(scale + 1)}
    bad = sorted({str(lab) for lab in labels if str(lab) not in allowed or isinstance(lab, bool)})
    if bad:
        shown = ", ".join(repr(b) for b in bad[:10]) + (" ..." if len(bad) > 10 else "")
        raise TrainingError(
            "E351",
            f"{where} holds {len(bad)} value(s) that are not scores on the scale 0..{scale}: {shown}. On a scale "
            f"every label must be one of the strings '0'..'{scale}'; fix the labels or the --scale.",
            field=where,
        )
    y = np.array([allowed[str(lab)] for lab in labels], dtype=np.int64)
    if not require_all:
        return y
    counts = np.bincount(y, minlength=scale + 1)
    missing = [str(k) for k in range(scale + 1) if counts[k] == 0]
    if missing:
        raise TrainingError(
            "E352",
            f"{where} has no example of score(s) {', '.join(missing)} of the scale 0..{scale}; every score must "
            f"occur. Label examples of them, or train with a smaller --scale.",
            field=where,
        )
    return y


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
        Names from :data:`CANDIDATES`, in order; None tries :data:`DEFAULT_CANDIDATES`.
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

    # ----------------------------------------------------------------------------------------- parameters

    def _check_params(self) -> tuple[str, ...]:
        sc = self.scale
        bad_scale = isinstance(sc, bool) or not isinstance(sc, numbers.Integral) or not 1 <= sc <= MAX_SCALE
        if sc is not None and bad_scale:
            raise _param_error("E350", "scale", f"None or an integer from 1 to {MAX_SCALE}", sc)
        tb = self.time_budget
        if isinstance(tb, bool) or not isinstance(tb, numbers.Real) or not math.isfinite(tb) or tb <= 0:
            raise _param_error("E356", "time_budget", "a positive, finite number of seconds", tb)
        sd = self.seed
        if isinstance(sd, bool) or not isinstance(sd, numbers.Integral) or not 0 <= sd < 2**32:
            raise _param_error("E357", "seed", "an integer between 0 and 2**32 - 1", sd)
        cands = DEFAULT_CANDIDATES if self.candidates is None else self.candidates
        if (
            isinstance(cands, str)
            or not isinstance(cands, Sequence)
            or not cands
            or any(c not in CANDIDATES for c in cands)
            or len(set(cands)) != len(cands)
        ):
            raise _param_error("E358", "candidates", f"None or distinct names from {sorted(CANDIDATES)}", cands)
        lw = self.lexicon_weight
        if isinstance(lw, bool) or not isinstance(lw, numbers.Real) or not math.isfinite(lw) or lw < 0:
            raise _param_error("E359", "lexicon_weight", "a finite number >= 0", lw)
        if self.class_weight not in (None, "balanced"):
            raise _param_error("E360", "class_weight", "'balanced' or None", self.class_weight)
        vf = self.validation_fraction
        if isinstance(vf, bool) or not isinstance(vf, numbers.Real) or not 0.0 < vf <= 0.5:
            raise _param_error("E361", "validation_fraction", "a number in (0, 0.5]", vf)
        return tuple(cands)

    def _encode(self, labels: object, n: int, name: str, classes: list[str] | None) -> tuple[np.ndarray, list[str]]:
        """Label indices and the class list; given ``classes`` (validation labels), a label outside them is -1."""
        if isinstance(labels, str | bytes) or not isinstance(labels, Sequence | np.ndarray):
            raise TrainingError("E362", f"{name} must be a list with one label per text; got "
                                f"{type(labels).__name__}.", field=name)  # fmt: skip
        labels = list(labels)
        if len(labels) != n:
            raise TrainingError("E362", f"There are {n} texts but {len(labels)} labels in {name}; give exactly one "
                                "label per text.", field=name)  # fmt: skip
        if self.scale is not None:
            y = scale_indices(labels, int(self.scale), where=name, require_all=classes is None)
            return y, [str(k) for k in range(int(self.scale) + 1)]
        for i, lab in enumerate(labels):
            if not isinstance(lab, str) or not lab.strip():
                raise TrainingError("E362", f"{name}[{i}] is {lab!r}; labels must be non-empty strings (one per "
                                    "text).", field=f"{name}[{i}]")  # fmt: skip
        classes = classes if classes is not None else sorted(set(labels))
        index = {c: j for j, c in enumerate(classes)}
        return np.array([index.get(lab, -1) for lab in labels], dtype=np.int64), classes

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
        cands = self._check_params()
        seed = int(self.seed)
        texts = _check_texts(texts, "texts", TrainingError, "E362")
        y, classes = self._encode(labels, len(texts), "labels", None)
        if len(classes) < 2:
            found = f"only the label {classes[0]!r}" if classes else "no labels at all"
            raise TrainingError("E363", f"The training data has {found}; sentiment needs texts of at least two "
                                "different labels.", field="labels")  # fmt: skip
        Y = np.zeros((len(texts), len(classes)), dtype=bool)
        Y[np.arange(len(texts)), y] = True
        T = self._targets(y, len(classes))

        if validation is None:
            tr, va = stratified_split(Y, float(self.validation_fraction), seed)
            if len(va) == 0:
                va = tr
            refit, val_texts = True, None
        else:
            if not isinstance(validation, tuple | list) or len(validation) != 2:
                raise TrainingError("E362", "validation must be a pair (texts, labels) or None.", field="validation")
            val_texts = _check_texts(validation[0], "validation texts", TrainingError, "E362")
            y_val, _ = self._encode(validation[1], len(val_texts), "validation labels", classes)
            known = y_val >= 0  # validation texts with a label the training data lacks cannot be scored
            if not known.any():
                raise TrainingError(
                    "E362",
                    "No validation text has a label of the training data; give validation texts labeled like the "
                    "training texts, or validation=None.",
                    field="validation",
                )
            val_texts, y_val = [t for t, k in zip(val_texts, known, strict=True) if k], y_val[known]
            tr, va, refit = np.arange(len(texts)), None, False

        started = time.perf_counter()
        self.vectorizers_ = [WordNgrams(ngram_range=(1, 2), min_df=1), CharNgrams(ngram_range=(2, 5), min_df=2)]
        blocks = [v.fit_transform(texts) for v in self.vectorizers_]
        n_ngrams = sum(b.shape[1] for b in blocks)
        if n_ngrams == 0:
            raise TrainingError("E364", "No text has anything to learn from: every text is empty or has no words.",
                                field="texts")  # fmt: skip
        X = sp.hstack([*blocks, self._lexicon_block(vader_scores(texts))], format="csr")
        if refit:
            X_tr, T_tr, Y_tr, X_va, Y_va = X[tr], T[tr], Y[tr], X[va], Y[va]
            y_va = y[va]
        else:
            X_tr, T_tr, Y_tr = X, T, Y
            X_va = self._features(val_texts, None)
            y_va = y_val
            Y_va = np.zeros((len(val_texts), len(classes)), dtype=bool)
            Y_va[np.arange(len(val_texts)), y_va] = True

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
            scale, bias = self._calibrate(S_va, y_va, len(classes))
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
        texts = _check_texts(texts, "texts", InputError, "E425")
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
        texts = _check_texts(texts, "texts", InputError, "E425")
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
