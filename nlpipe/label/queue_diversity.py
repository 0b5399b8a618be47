"""The diversity order of the active-learning queue (:mod:`nlpipe.label.queue`): farthest-first over TF-IDF of a
seeded sample of the pool, from the labeled documents, kept in the cache while its picks are labeled in turn."""

from __future__ import annotations

import numpy as np
from sqlalchemy import and_, case, delete, func, select

from nlpipe.label.queue_cache import (
    SCORE_COLUMNS,
    SCORES_TABLE,
    Cache,
    Db,
    claim,
    document_texts,
    out_of_pool,
    waiting,
)
from nlpipe.label.queue_scoring import farthest_first
from nlpipe.store.bulk import BulkWriter
from nlpipe.store.schema import Annotation, DatasetDocument, QueueScore

MAX_CENTERS = 5000  # labeled documents used as starting centers for diversity (a seeded sample beyond this)
DIVERSITY_CANDIDATES = 10_000  # pool documents diversity orders (a seeded sample of a larger pool)
DIVERSITY_PICKS = 1000  # picks a diversity order computes at least (the cache serves later pages from them)


def fill_diversity(
    conn: Db,
    cache: Cache,
    dataset_id: int,
    annotator: str | None,
    seed: int,
    k: int,
    members: tuple[int, int],
    out: tuple[int, int],
) -> None:
    """Fill the cache with a farthest-first order of (a sample of) the pool, unless the cached one still holds.

    The cached order still holds when the dataset has the same documents, the only documents that left the pool
    since are its first picks (labeling the picks in turn is what farthest-first assumed: each pick became a
    center, so computing again would give the rest of the order unchanged), and enough picks remain. Otherwise
    (a document labeled out of turn, an import, a new document) the order is computed again.
    """
    state = cache.state or {}
    if (members == (cache.members_seen, cache.members_count)) and state.get("out"):
        with conn.tx() as s:
            picks, gone, gone_sum, last_gone = s.execute(
                select(
                    func.count(QueueScore.document_id.distinct()),
                    func.count(Annotation.document_id.distinct()),
                    func.coalesce(func.sum(Annotation.document_id.distinct()), 0),
                    func.max(case((Annotation.document_id.is_not(None), QueueScore.rank))),
                )
                .select_from(QueueScore)
                .outerjoin(
                    Annotation,
                    and_(Annotation.document_id == QueueScore.document_id, out_of_pool(dataset_id, annotator)),
                )
                .where(QueueScore.cache_id == cache.id)
            ).one()
        in_turn = gone == 0 or last_gone == gone - 1  # the picks that left the pool are the first ones
        unchanged = [out[0] - gone, out[1] - gone_sum] == state["out"]  # and nothing else left it
        if in_turn and unchanged and (picks - gone >= k or state.get("complete")):
            return
    with conn.tx() as s:
        pool = list(
            s.scalars(
                select(DatasetDocument.document_id)
                .where(
                    DatasetDocument.dataset_id == dataset_id,
                    waiting(DatasetDocument.document_id, dataset_id, annotator),
                )
                .order_by(DatasetDocument.document_id)
            )
        )
        labeled = sorted(s.scalars(select(Annotation.document_id).where(out_of_pool(dataset_id, annotator)).distinct()))
    rng = np.random.default_rng(seed)
    complete = len(pool) <= DIVERSITY_CANDIDATES
    if not complete:
        pool = sorted(rng.choice(pool, DIVERSITY_CANDIDATES, replace=False).tolist())
    if len(labeled) > MAX_CENTERS:
        labeled = sorted(np.random.default_rng(seed).choice(labeled, MAX_CENTERS, replace=False).tolist())
    n_picks = min(len(pool), max(k, DIVERSITY_PICKS))
    with conn.tx() as s:
        texts = document_texts(s, dataset_id, pool + labeled)
    picks, dists = _farthest(texts, pool, labeled, n_picks)
    with conn.tx() as s:
        claim(
            s,
            cache,
            members_seen=members[0],
            members_count=members[1],
            state={"out": list(out), "complete": complete and n_picks == len(pool)},
        )
        s.execute(delete(QueueScore).where(QueueScore.cache_id == cache.id))
        BulkWriter(s).insert(
            SCORES_TABLE,
            SCORE_COLUMNS,
            ((cache.id, pool[i], float(rank), d, None) for rank, (i, d) in enumerate(zip(picks, dists, strict=True))),
        )


def _farthest(
    texts: dict[int, tuple[str, str | None]], pool: list[int], labeled: list[int], k: int
) -> tuple[list[int], list[float | None]]:
    """Farthest-first over TF-IDF of the pool's texts from the labeled ones: (positions in ``pool``, distances)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    try:
        vec = TfidfVectorizer(sublinear_tf=True, dtype=np.float64)
        x_all = vec.fit_transform([texts[d][0] for d in pool + labeled]).tocsr()
    except ValueError:  # no words at all (empty or punctuation-only texts): keep the pool's order
        return list(range(k)), [None] * k
    x, centers = x_all[: len(pool)], x_all[len(pool) :]
    picks, dists = farthest_first(x, centers if labeled else None, k)
    return picks, list(dists)
