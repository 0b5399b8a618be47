"""The ``standard`` strategy of :class:`~nlpipe.tasks.classify.model.TextClassifier`: the candidates (feature
views stacked, linear model, regularisation, naive-Bayes scaling), the time-boxed search that fits each on a
held-out split and scores it by macro-F1, and the rule that picks the winner (see the model module's docstring
for why each choice was made)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from nlpipe.errors import TrainingError
from nlpipe.tasks.classify.checks import check_validation
from nlpipe.tasks.classify.linear import calibrate, decide, fit_linear, proba
from nlpipe.tasks.features import CharNgrams, WordNgrams
from nlpipe.tasks.search import f1_gain_se, macro_f1, stratified_split

__all__ = ["CANDIDATES", "DEFAULT_CANDIDATES", "VIEWS", "SearchSetup", "ViewCache", "pick_best", "run_search"]

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

Stack = tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]  # all training rows, the search's train part, validation


def make_view(name: str) -> WordNgrams | CharNgrams:
    spec = VIEWS[name]
    cls = WordNgrams if spec["kind"] == "word" else CharNgrams
    return cls(ngram_range=spec["ngram_range"], min_df=spec["min_df"])


class ViewCache:
    """The feature views fitted so far (each once, on every training text: the vectorizers are unsupervised) and
    the one stack of views in use (one at a time in memory).

    ``val_texts`` None: validation is the rows ``va`` of the training texts, and the search trains on the rows
    ``tr`` (``refit``); else validation is ``val_texts`` and the search trains on every training text."""

    def __init__(
        self, texts: list[str], val_texts: list[str] | None, tr: np.ndarray, va: np.ndarray | None, refit: bool
    ) -> None:
        self.texts, self.val_texts, self.tr, self.va, self.refit = texts, val_texts, tr, va, refit
        self.views: dict[str, tuple[WordNgrams | CharNgrams, sp.csr_matrix, sp.csr_matrix]] = {}
        self.seconds: dict[str, float] = {}
        self._stacked: dict[tuple[str, ...], Stack] = {}

    def stack(self, names: list[str]) -> Stack:
        """The views ``names`` side by side: (all training rows, the search's train rows, validation rows)."""
        for v in names:
            if v not in self.views:
                t0 = time.perf_counter()
                vec = make_view(v)
                X_all = vec.fit_transform(self.texts)
                X_va = X_all[self.va] if self.val_texts is None else vec.transform(self.val_texts)
                self.views[v] = (vec, X_all, X_va)
                self.seconds[v] = time.perf_counter() - t0
        key = tuple(names)
        if key not in self._stacked:
            X_all = sp.hstack([self.views[v][1] for v in names], format="csr")
            X_va = sp.hstack([self.views[v][2] for v in names], format="csr")
            self._stacked.clear()  # keep one stack in memory
            self._stacked[key] = (X_all, X_all[self.tr] if self.refit else X_all, X_va)
        return self._stacked[key]


@dataclass
class SearchSetup:
    """What every candidate of one search is fitted and scored on, and how (the estimator's parameters)."""

    views: ViewCache
    Y_tr: np.ndarray
    Y_va: np.ndarray
    multi: bool
    seed: int
    class_weight: str | None
    time_budget: float
    validation_fraction: float

    @classmethod
    def split(
        cls,
        texts: list[str],
        Y: np.ndarray,
        validation: object,
        index: dict[str, int],
        params: dict[str, Any],
    ) -> SearchSetup:
        """Without ``validation``, a seeded stratified ``validation_fraction`` of the texts is held out (the
        winner is refitted on all of them); with it, the search trains on every text and scores on it.
        ``params``: multi, seed, class_weight, time_budget, validation_fraction."""
        multi, seed, fraction = params["multi"], params["seed"], params["validation_fraction"]
        if validation is None:
            tr, va = stratified_split(Y, fraction, seed)
            if len(va) == 0:  # fewer than two texts per label: nothing to hold out, score on the training texts
                va = tr
            views = ViewCache(texts, None, tr, va, refit=True)
            Y_tr, Y_va = Y[tr], Y[va]
        else:
            val_texts, Y_va = check_validation(validation, index, multi)
            views = ViewCache(texts, val_texts, np.arange(len(texts)), None, refit=False)
            Y_tr = Y
        return cls(views, Y_tr, Y_va, **params)


def _over_budget(setup: SearchSetup, spec: dict[str, Any], fit_seconds: dict[str, float], started: float) -> bool:
    """Whether candidate ``spec`` (its new views, its fit, and the final refit) would end past the budget,
    estimated from the slowest view and fit so far."""
    views = setup.views
    new_views = [v for v in spec["features"] if v not in views.views]
    est = max(fit_seconds.values()) + sum(max(views.seconds.values()) for _ in new_views)
    est_refit = max(fit_seconds.values()) / (1.0 - setup.validation_fraction) if views.refit else 0.0
    return time.perf_counter() - started + est + est_refit > setup.time_budget


def _fit_candidate(
    setup: SearchSetup, name: str, X_tr: sp.csr_matrix, X_va: sp.csr_matrix
) -> tuple[dict[str, Any], float, float]:
    """Candidate ``name`` fitted on the search's train part and calibrated on validation: its state (weights,
    calibration, validation decisions), validation macro-F1 and the seconds of its linear fit."""
    spec = CANDIDATES[name]
    multi = setup.multi
    t1 = time.perf_counter()
    W, b = fit_linear(X_tr, setup.Y_tr, spec, multi, setup.seed, setup.class_weight)
    seconds = time.perf_counter() - t1
    S_va = np.asarray(X_va @ W.T) + b
    scale, bias, thresholds = calibrate(S_va, setup.Y_va, multi)
    P = proba(S_va, scale, bias, multi)
    score = macro_f1(setup.Y_va, decide(P, thresholds, multi))
    state = {
        "W": W,
        "b": b,
        "scale": scale,
        "bias": bias,
        "thresholds": thresholds,
        "decisions": decide(P, thresholds, multi),
    }
    return state, score, seconds


def run_search(
    cands: tuple[str, ...], setup: SearchSetup, started: float, progress: Progress | None
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Each candidate in turn until the next would end past the budget (the first always runs): one row per
    candidate fitted (name, score, seconds, params) and each one's state by name. E305 when no candidate had
    any feature to fit on."""
    search: list[dict[str, Any]] = []
    fitted: dict[str, dict[str, Any]] = {}
    fit_seconds: dict[str, float] = {}
    if progress:
        progress("search", 0, len(cands))
    for i, name in enumerate(cands):
        spec = CANDIDATES[name]
        if i > 0 and search and _over_budget(setup, spec, fit_seconds, started):
            break
        t0 = time.perf_counter()
        X_all, X_tr, X_va = setup.views.stack(spec["features"])
        if X_all.shape[1] == 0:
            continue
        fitted[name], score, fit_seconds[name] = _fit_candidate(setup, name, X_tr, X_va)
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
    return search, fitted


def pick_best(search: list[dict[str, Any]], fitted: dict[str, dict[str, Any]], Y_va: np.ndarray, seed: int) -> str:
    """The first candidate is the default; another replaces the best so far only when its validation gain is
    larger than the gain's standard error, so noise on a small validation set does not pick the winner."""
    best = search[0]["name"]
    best_score = search[0]["score"]
    for row in search[1:]:
        gain = row["score"] - best_score
        if gain > 0 and gain > f1_gain_se(Y_va, fitted[row["name"]]["decisions"], fitted[best]["decisions"], seed):
            best, best_score = row["name"], row["score"]
    return best
