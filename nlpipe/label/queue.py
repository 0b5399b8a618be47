"""The active-learning queue: which documents a person should label next.

The *pool* is every document of the dataset that still needs a person: not labeled by an import, and with
no human annotation (with an ``annotator``: none by that annotator, so several annotators can label the same
documents and their agreement can be measured). Three strategies order it:

- ``uncertainty``: least confident first, by a classification model. Single-label: the margin between the
  two highest scores (uncertainty = 1 - margin). Multi-label: the label closest to its decision threshold
  decides (uncertainty = 1 - distance / largest possible distance). Needs a model (E721).
- ``random``: a seeded shuffle (same seed, same order).
- ``diversity``: farthest-first traversal (greedy k-center) over TF-IDF vectors with cosine distance, starting
  from the documents already labeled (or, with none, from the most typical document), so each pick is the
  document least like anything labeled or picked so far.

Without a strategy, ``uncertainty`` is used when a classification model is given and ``diversity`` otherwise
(an entity or sentiment model only makes suggestions on the labeling page). The model is
passed in as a loaded predictor (duck-typed: ``labels``, ``predict(texts, top_k=...)``, ``multi_label``,
``thresholds``), so this module does not depend on the predict layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from nlpipe.errors import InputError
from nlpipe.store.annotations import check_annotator, documents_with, labeling_pool
from nlpipe.store.datasets import get_dataset
from nlpipe.store.schema import DatasetDocument, Document

STRATEGIES: tuple[str, ...] = ("uncertainty", "random", "diversity")
PREVIEW_CHARS = 300
MAX_CENTERS = 5000  # labeled documents used as starting centers for diversity (a seeded sample beyond this)


@dataclass
class QueueItem:
    rank: int
    document_id: int
    external_id: str | None
    preview: str
    score: float | None = None
    predicted: list[str] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)


def check_strategy(strategy: str | None, has_model: bool, classifier: bool | None = None) -> str:
    """The strategy to use; without one, uncertainty for a classification model, else diversity."""
    if strategy is None:
        return "uncertainty" if (has_model if classifier is None else classifier) else "diversity"
    if strategy not in STRATEGIES:
        raise InputError(
            "E720", f"Unknown queue strategy {strategy!r}; use one of {', '.join(STRATEGIES)}.", field="strategy"
        )
    if strategy == "uncertainty" and not has_model:
        raise InputError(
            "E721",
            "The uncertainty strategy needs a trained classification model: pass --model NAME (API: model=NAME), "
            "or use --strategy diversity or random.",
            field="model",
        )
    return strategy


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
    if getattr(predictor, "task", "classify") != "classify":
        raise InputError(
            "E722",
            f"Model {getattr(predictor, 'name', '?')!r} is a {predictor.task} model; the uncertainty queue needs a "
            "classification model.",
            field="model",
        )
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
        dist = 1.0 - np.asarray((x @ x[first].T).todense()).ravel()
        dist[first] = -np.inf
    while len(picks) < k:
        i = int(np.argmax(dist))  # ties: the lowest index, i.e. the oldest document
        picks.append(i)
        dists.append(float(max(dist[i], 0.0)))
        dist = np.minimum(dist, 1.0 - np.asarray((x @ x[i].T).todense()).ravel())
        dist[picks] = -np.inf
    return picks, dists


def _texts(session: Session, dataset_id: int, doc_ids: Sequence[int]) -> dict[int, tuple[str, str | None]]:
    out: dict[int, tuple[str, str | None]] = {}
    ids = list(doc_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for doc_id, text, ext in session.execute(
            select(Document.id, Document.text, DatasetDocument.external_id)
            .join(DatasetDocument, DatasetDocument.document_id == Document.id)
            .where(DatasetDocument.dataset_id == dataset_id, Document.id.in_(chunk))
        ):
            out[doc_id] = (text, ext)
    return out


def build_queue(
    session: Session,
    dataset: str,
    *,
    strategy: str | None = None,
    predictor: Any | None = None,
    limit: int | None = 20,
    annotator: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The dataset's documents that still need a person, in the order to label them (first ``limit``).

    Returns ``{"dataset", "strategy", "model", "annotator", "pool", "items": [QueueItem as dict]}`` where
    ``pool`` is how many documents wait in total.
    """
    classifier = predictor is not None and getattr(predictor, "task", "classify") == "classify"
    strategy = check_strategy(strategy, predictor is not None, classifier)
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise InputError("E723", f"limit must be a positive integer, got {limit!r}.", field="limit")
    ds = get_dataset(session, dataset)
    if annotator is not None:
        annotator = check_annotator(annotator)
    done = documents_with(session, ds.id, sources=["human"], author=annotator)
    pool = [d for d in labeling_pool(session, ds.id) if d not in done]
    k = len(pool) if limit is None else min(limit, len(pool))
    model = {"name": predictor.name, "version": predictor.version} if predictor is not None else None
    result: dict[str, Any] = {
        "dataset": ds.name,
        "strategy": strategy,
        "model": model,
        "annotator": annotator,
        "pool": len(pool),
        "items": [],
    }
    if not pool:
        return result
    scores: list[float | None]
    predicted: dict[int, list[str]] = {}
    label_scores: dict[int, list[dict[str, Any]]] = {}
    if strategy == "random":
        order = [pool[i] for i in np.random.default_rng(seed).permutation(len(pool))[:k]]
        scores = [None] * len(order)
        texts = _texts(session, ds.id, order)
    elif strategy == "uncertainty":
        texts = _texts(session, ds.id, pool)
        unc, preds, proba = model_scores(predictor, [texts[d][0] for d in pool])
        ranked = np.lexsort((np.arange(len(pool)), -unc))[:k]  # most uncertain first; ties by document id
        order = [pool[i] for i in ranked]
        scores = [round(float(unc[i]), 6) for i in ranked]
        labels = list(predictor.labels)  # type: ignore[union-attr]
        for i in ranked:
            predicted[pool[i]] = preds[i]
            top = np.argsort(-proba[i], kind="stable")[:3]
            label_scores[pool[i]] = [{"label": labels[j], "score": round(float(proba[i, j]), 6)} for j in top]
    else:
        order, scores, texts = _diversity(session, ds.id, pool, k, seed)
    result["items"] = [
        asdict(
            QueueItem(
                rank=r,
                document_id=d,
                external_id=texts[d][1],
                preview=texts[d][0][:PREVIEW_CHARS],
                score=s,
                predicted=predicted.get(d, []),
                labels=label_scores.get(d, []),
            )
        )
        for r, (d, s) in enumerate(zip(order, scores, strict=True), 1)
    ]
    return result


def _diversity(
    session: Session, dataset_id: int, pool: list[int], k: int, seed: int
) -> tuple[list[int], list[float | None], dict[int, tuple[str, str | None]]]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    pool_set = set(pool)
    labeled = sorted(documents_with(session, dataset_id, sources=["human", "import"]) - pool_set)
    if len(labeled) > MAX_CENTERS:
        labeled = sorted(np.random.default_rng(seed).choice(labeled, MAX_CENTERS, replace=False).tolist())
    texts = _texts(session, dataset_id, pool + labeled)
    try:
        vec = TfidfVectorizer(sublinear_tf=True, dtype=np.float64)
        x_all = vec.fit_transform([texts[d][0] for d in pool + labeled]).tocsr()
    except ValueError:  # no words at all (empty or punctuation-only texts): keep the pool's order
        return pool[:k], [None] * k, texts
    x, centers = x_all[: len(pool)], x_all[len(pool) :]
    picks, dists = farthest_first(x, centers if labeled else None, k)
    return [pool[i] for i in picks], [round(d, 6) for d in dists], texts
