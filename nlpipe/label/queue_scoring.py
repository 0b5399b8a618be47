"""How the active-learning queue (:mod:`nlpipe.label.queue`) scores documents, without the database: uncertainty
from a classification model's scores, the random order's seeded keys, and farthest-first traversal for diversity.

The ``Scorer`` classes turn a chunk of documents into the rows the queue's cache stores.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from nlpipe.errors import InputError

#: A cached row of a document: (document id, rank, score, detail as JSON text).
ScoreRow = tuple[int, float, float | None, str | None]
SCORE_CHUNK = 2000  # documents scored and written per step when the cache is filled


def margin_uncertainty(proba: np.ndarray) -> np.ndarray:
    """Single-label: 1 - (highest score - second highest score) per row; 1 is the least confident."""
    if proba.shape[1] < 2:
        return 1.0 - proba[:, 0] if proba.shape[1] else np.zeros(len(proba))
    top2 = -np.sort(-proba, axis=1)[:, :2]
    return 1.0 - (top2[:, 0] - top2[:, 1])


def threshold_uncertainty(proba: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Multi-label: 1 - (distance of the closest label to its threshold / that label's largest possible distance)."""
    t = np.clip(np.asarray(thresholds, dtype=float), 1e-6, 1 - 1e-6)
    scaled = np.abs(proba - t) / np.maximum(t, 1.0 - t)
    return 1.0 - scaled.min(axis=1) if proba.shape[1] else np.zeros(len(proba))


def model_scores(predictor: Any, texts: Sequence[str]) -> tuple[np.ndarray, list[list[str]], np.ndarray]:
    """(uncertainty per text, predicted labels per text, score matrix in ``predictor.labels`` order)."""
    check_classifier(predictor)
    labels = list(predictor.labels)
    index = {lab: i for i, lab in enumerate(labels)}
    proba = np.zeros((len(texts), len(labels)))
    predicted: list[list[str]] = []
    for row, pred in enumerate(predictor.predict(list(texts), top_k=max(len(labels), 1)) if texts else []):
        for ls in pred.labels:
            proba[row, index[ls.label]] = ls.score
        predicted.append(list(pred.predicted))
    if getattr(predictor, "multi_label", False):
        unc = threshold_uncertainty(proba, getattr(predictor, "thresholds", np.full(len(labels), 0.5)))
    else:
        unc = margin_uncertainty(proba)
    return unc, predicted, proba


def check_classifier(predictor: Any) -> None:
    """E722 unless ``predictor`` is a classification model (uncertainty needs class scores)."""
    if getattr(predictor, "task", "classify") != "classify":
        raise InputError(
            "E722",
            f"Model {getattr(predictor, 'name', '?')!r} is a {predictor.task} model; the uncertainty queue needs a "
            "classification model.",
            field="model",
        )


def random_keys(doc_ids: np.ndarray, seed: int) -> np.ndarray:
    """A seeded pseudo-random number in [0, 1) per document id (splitmix64): the random queue's order.

    A document keeps its key however the pool changes, so labeling one document does not reshuffle the rest.
    """

    def mix(x: np.ndarray) -> np.ndarray:
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))

    with np.errstate(over="ignore"):
        salt = mix(np.array([seed % 2**64], dtype=np.uint64))[0]
        x = mix(np.asarray(doc_ids, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15) + salt)
    return (x >> np.uint64(11)).astype(np.float64) / float(2**53)


class Scorer:
    """Per-document scores of one strategy: rows of (document id, rank, score, detail as JSON text)."""

    needs_texts = False
    chunk = 100_000  # documents scored and written per step (a transaction each, with a Store)

    def rows(self, doc_ids: list[int], texts: list[str] | None) -> list[ScoreRow]:
        raise NotImplementedError


class UncertaintyScorer(Scorer):
    needs_texts = True
    chunk = SCORE_CHUNK

    def __init__(self, predictor: Any) -> None:
        self.predictor = predictor
        self.labels = list(predictor.labels)

    def rows(self, doc_ids: list[int], texts: list[str] | None) -> list[ScoreRow]:
        assert texts is not None
        unc, preds, proba = model_scores(self.predictor, texts)
        out: list[ScoreRow] = []
        for i, doc_id in enumerate(doc_ids):
            top = np.argsort(-proba[i], kind="stable")[:3]
            detail = [preds[i], [[self.labels[j], round(float(proba[i, j]), 6)] for j in top]]
            u = float(unc[i])
            out.append((doc_id, -u, u, json.dumps(detail)))
        return out


class RandomScorer(Scorer):
    def __init__(self, seed: int) -> None:
        self.seed = seed

    def rows(self, doc_ids: list[int], texts: list[str] | None) -> list[ScoreRow]:
        keys = random_keys(np.asarray(doc_ids, dtype=np.int64), self.seed).tolist()
        return [(d, key, None, None) for d, key in zip(doc_ids, keys, strict=True)]


def farthest_first(x: Any, centers: Any | None, k: int) -> tuple[list[int], list[float]]:
    """Greedy k-center over L2-normalised rows of ``x`` (cosine distance): indices picked and their distances.

    Each pick is the row farthest from its nearest center (given ``centers`` and earlier picks). Without
    centers the first pick is the row most similar to the mean row.
    """
    n = x.shape[0]
    k = min(k, n)
    if n == 0 or k == 0:
        return [], []
    if centers is not None and centers.shape[0]:
        sims = np.zeros(n)
        for start in range(0, centers.shape[0], 1000):
            block = np.asarray((x @ centers[start : start + 1000].T).max(axis=1).todense()).ravel()
            sims = np.maximum(sims, block)
        dist = 1.0 - sims
        picks: list[int] = []
        dists: list[float] = []
    else:
        mean = np.asarray(x.mean(axis=0)).ravel()
        norm = np.linalg.norm(mean)
        typical = np.asarray(x @ (mean / norm if norm else mean)).ravel()
        first = int(np.argmax(typical))
        picks, dists = [first], [float(max(1.0 - typical[first], 0.0))]
        dist = 1.0 - x @ x[first].toarray().ravel()
        dist[first] = -np.inf
    while len(picks) < k:
        i = int(np.argmax(dist))  # ties: the lowest index, i.e. the oldest document
        picks.append(i)
        dists.append(float(max(dist[i], 0.0)))
        np.minimum(dist, 1.0 - x @ x[i].toarray().ravel(), out=dist)  # sparse rows times one dense row
        dist[i] = -np.inf  # picks stay at -inf: min(-inf, anything) = -inf
    return picks, dists
