"""The active-learning queue: which documents a person should label next.

The *pool* is every document of the dataset that still needs a person: not labeled by an import, and with
no human annotation (with an ``annotator``: none by that annotator, so several annotators can label the same
documents and their agreement can be measured). Three strategies order it:

- ``uncertainty``: least confident first, by a classification model. Single-label: the margin between the
  two highest scores (uncertainty = 1 - margin). Multi-label: the label closest to its decision threshold
  decides (uncertainty = 1 - distance / largest possible distance). Needs a model (E721).
- ``random``: a seeded shuffle (same seed, same order): documents ordered by a pseudo-random key drawn from the
  seed and the document id (:func:`random_keys`), so labeling or adding documents does not reshuffle the rest.
- ``diversity``: farthest-first traversal (greedy k-center) over TF-IDF vectors with cosine distance, starting
  from the documents already labeled (or, with none, from the most typical document), so each pick is the
  document least like anything labeled or picked so far. **Bounded:** a pool of more than
  ``DIVERSITY_CANDIDATES`` documents is first cut to a seeded sample of that many (and more than
  ``MAX_CENTERS`` labeled documents to a seeded sample of centers), so the cost does not grow with the pool;
  the queue then lists the sample's order (up to ``DIVERSITY_CANDIDATES`` documents), and draws a new sample
  when its picks run out.

**Cache.** Orders are cached in the store (tables ``queue_caches`` / ``queue_scores``): one cache per dataset,
strategy, model version and (diversity only) annotator, so a queue answers with one indexed query after its
first computation. Uncertainty and random keep a score per document of the dataset (except the imported
ones, which never enter the pool); a request scores only the documents added since the last one (found by
the highest ``dataset_documents.id`` and the count seen then), and reads the top of the order while leaving
out, in SQL, what is no longer in the pool (labeled since, or by this annotator). Labels do not change a
model's score, so labeling rescores nothing. A new model version (or the same version trained again: its
``created_at`` differs) or another seed empties the cache and scores everything again; a model's new version
replaces the caches of its other versions. Diversity keeps its picks and is computed again when documents
were added, or when a document left the pool out of turn (labeled while not the next pick). Filling a cache
commits every ``SCORE_CHUNK`` documents when given a Store, so a long first computation does not hold the
database and resumes where it stopped; a request whose cache another request replaced meanwhile stops with
E724 (ask again).

Without a strategy, ``uncertainty`` is used when a classification model is given and ``diversity`` otherwise
(an entity or sentiment model only makes suggestions on the labeling page). The model is
passed in as a loaded predictor (duck-typed: ``labels``, ``predict(texts, top_k=...)``, ``multi_label``,
``thresholds``, ``name``, ``version``, and ``meta["created_at"]`` when it has one), so this module does not
depend on the predict layer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nlpipe.errors import InputError
from nlpipe.label.queue_cache import Db, document_texts, member_watermark, open_cache, out_stats, refresh, waiting
from nlpipe.label.queue_diversity import fill_diversity
from nlpipe.label.queue_scoring import RandomScorer, UncertaintyScorer, check_classifier
from nlpipe.store.annotation_checks import check_annotator
from nlpipe.store.datasets import get_dataset
from nlpipe.store.db import Store
from nlpipe.store.schema import QueueScore

STRATEGIES: tuple[str, ...] = ("uncertainty", "random", "diversity")
PREVIEW_CHARS = 300


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


def build_queue(
    db: Store | Session,
    dataset: str,
    *,
    strategy: str | None = None,
    predictor: Any | None = None,
    limit: int | None = 20,
    annotator: str | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The dataset's documents that still need a person, in the order to label them (first ``limit``).

    ``db`` is a Store (the cache is filled in short transactions of its own) or an open Session (all in the
    caller's transaction). ``progress(scored, to score)`` is called as the cache is filled. Returns
    ``{"dataset", "strategy", "model", "annotator", "pool", "items": [QueueItem as dict]}`` where ``pool`` is
    how many documents wait in total.
    """
    classifier = predictor is not None and getattr(predictor, "task", "classify") == "classify"
    strategy = check_strategy(strategy, predictor is not None, classifier)
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise InputError("E723", f"limit must be a positive integer, got {limit!r}.", field="limit")
    conn = Db(db)
    with conn.tx() as s:
        ds = get_dataset(s, dataset)
        ds_id, ds_name = ds.id, ds.name
        if annotator is not None:
            annotator = check_annotator(annotator)
        members = member_watermark(s, ds_id)
        out = out_stats(s, ds_id, annotator)
    pool = members[1] - out[0]
    model = {"name": predictor.name, "version": predictor.version} if predictor is not None else None
    result: dict[str, Any] = {
        "dataset": ds_name,
        "strategy": strategy,
        "model": model,
        "annotator": annotator,
        "pool": pool,
        "items": [],
    }
    if pool <= 0:
        return result
    k = pool if limit is None else min(limit, pool)
    if strategy == "uncertainty":
        assert predictor is not None  # check_strategy: uncertainty needs a model (E721)
        check_classifier(predictor)
        cache = open_cache(conn, ds_id, strategy, predictor.name, predictor.version, "", _model_stamp(predictor))
        refresh(conn, cache, ds_id, members, UncertaintyScorer(predictor), progress)
    elif strategy == "random":
        cache = open_cache(conn, ds_id, strategy, "", "", "", f"seed={seed}")
        refresh(conn, cache, ds_id, members, RandomScorer(seed), progress)
    else:
        cache = open_cache(conn, ds_id, strategy, "", "", annotator or "", f"seed={seed}")
        fill_diversity(conn, cache, ds_id, annotator, seed, k, members, out)
    result["items"] = _top_items(conn, cache.id, ds_id, annotator, k)
    return result


def _top_items(conn: Db, cache_id: int, dataset_id: int, annotator: str | None, k: int) -> list[dict[str, Any]]:
    """The first ``k`` documents of the cached order still in the pool, as QueueItem dicts."""
    with conn.tx() as s:
        rows = s.execute(
            select(QueueScore.document_id, QueueScore.score, QueueScore.detail)
            .where(QueueScore.cache_id == cache_id, waiting(QueueScore.document_id, dataset_id, annotator))
            .order_by(QueueScore.rank, QueueScore.document_id)
            .limit(k)
        ).all()
        texts = document_texts(s, dataset_id, [r[0] for r in rows])
    items = []
    for rank, (doc_id, score, detail) in enumerate(rows, 1):
        predicted, labels = (detail or [[], []])[:2]
        items.append(
            QueueItem(
                rank=rank,
                document_id=doc_id,
                external_id=texts[doc_id][1],
                preview=texts[doc_id][0][:PREVIEW_CHARS],
                score=None if score is None else round(float(score), 6),
                predicted=list(predicted),
                labels=[{"label": lab, "score": sc} for lab, sc in labels],
            )
        )
    return [asdict(item) for item in items]


def _model_stamp(predictor: Any) -> str:
    """What tells two trainings of one model version apart (a models folder emptied and trained again)."""
    meta = getattr(predictor, "meta", None) or {}
    return str(meta.get("created_at") or "")[:200]
