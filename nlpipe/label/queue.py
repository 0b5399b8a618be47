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

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, and_, case, delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nlpipe.errors import ConflictError, InputError
from nlpipe.store.annotations import check_annotator
from nlpipe.store.bulk import BulkWriter
from nlpipe.store.datasets import get_dataset
from nlpipe.store.db import Store
from nlpipe.store.schema import Annotation, DatasetDocument, Document, QueueCache, QueueScore, utcnow

STRATEGIES: tuple[str, ...] = ("uncertainty", "random", "diversity")
PREVIEW_CHARS = 300
MAX_CENTERS = 5000  # labeled documents used as starting centers for diversity (a seeded sample beyond this)
DIVERSITY_CANDIDATES = 10_000  # pool documents diversity orders (a seeded sample of a larger pool)
DIVERSITY_PICKS = 1000  # picks a diversity order computes at least (the cache serves later pages from them)
SCORE_CHUNK = 2000  # documents scored and written per step when the cache is filled


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
    _check_classifier(predictor)
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
        dist = 1.0 - x @ x[first].toarray().ravel()
        dist[first] = -np.inf
    while len(picks) < k:
        i = int(np.argmax(dist))  # ties: the lowest index, i.e. the oldest document
        picks.append(i)
        dists.append(float(max(dist[i], 0.0)))
        np.minimum(dist, 1.0 - x @ x[i].toarray().ravel(), out=dist)  # sparse rows times one dense row
        dist[i] = -np.inf  # picks stay at -inf: min(-inf, anything) = -inf
    return picks, dists


class CacheReplacedError(ConflictError):
    """Another request replaced the queue cache this one was filling (a newer model version, another seed)."""


class _Db:
    """A Store (each step its own short transaction, so a long first computation commits as it goes and does
    not hold the database) or an open Session (everything in the caller's transaction)."""

    def __init__(self, target: Store | Session) -> None:
        self.session = target if isinstance(target, Session) else None
        self.store = None if isinstance(target, Session) else target

    @contextmanager
    def tx(self) -> Iterator[Session]:
        if self.session is not None:
            yield self.session
        else:
            assert self.store is not None
            with self.store.session() as s:
                yield s


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


def _out_of_pool(dataset_id: int, annotator: str | None) -> ColumnElement[bool]:
    """Annotations that take a document out of the pool: imported ones, and human ones (by ``annotator``)."""
    human = Annotation.source == "human"
    if annotator is not None:
        human = and_(human, Annotation.author == annotator)
    return and_(Annotation.dataset_id == dataset_id, or_(Annotation.source == "import", human))


def _waiting(doc_col: Any, dataset_id: int, annotator: str | None) -> ColumnElement[bool]:
    """``doc_col`` is in the pool: no annotation takes it out."""
    return ~exists().where(_out_of_pool(dataset_id, annotator), Annotation.document_id == doc_col)


def _members(s: Session, dataset_id: int) -> tuple[int, int]:
    """(highest dataset_documents.id, number of documents) of the dataset: its documents' watermark."""
    n, last = s.execute(
        select(func.count(), func.coalesce(func.max(DatasetDocument.id), 0)).where(
            DatasetDocument.dataset_id == dataset_id
        )
    ).one()
    return int(last), int(n)


def _out_stats(s: Session, dataset_id: int, annotator: str | None) -> tuple[int, int]:
    """(how many, sum of ids) of the dataset's documents out of the pool."""
    sub = select(Annotation.document_id).where(_out_of_pool(dataset_id, annotator)).distinct().subquery()
    n, total = s.execute(select(func.count(), func.coalesce(func.sum(sub.c.document_id), 0))).one()
    return int(n), int(total)


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
    conn = _Db(db)
    with conn.tx() as s:
        ds = get_dataset(s, dataset)
        ds_id, ds_name = ds.id, ds.name
        if annotator is not None:
            annotator = check_annotator(annotator)
        members = _members(s, ds_id)
        out = _out_stats(s, ds_id, annotator)
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
        _check_classifier(predictor)
        cache = _open_cache(conn, ds_id, strategy, predictor.name, predictor.version, "", _model_stamp(predictor))
        _refresh(conn, cache, ds_id, members, _UncertaintyScorer(predictor), progress)
    elif strategy == "random":
        cache = _open_cache(conn, ds_id, strategy, "", "", "", f"seed={seed}")
        _refresh(conn, cache, ds_id, members, _RandomScorer(seed), progress)
    else:
        cache = _open_cache(conn, ds_id, strategy, "", "", annotator or "", f"seed={seed}")
        _diversity(conn, cache, ds_id, annotator, seed, k, members, out)
    with conn.tx() as s:
        rows = s.execute(
            select(QueueScore.document_id, QueueScore.score, QueueScore.detail)
            .where(QueueScore.cache_id == cache.id, _waiting(QueueScore.document_id, ds_id, annotator))
            .order_by(QueueScore.rank, QueueScore.document_id)
            .limit(k)
        ).all()
        texts = _texts(s, ds_id, [r[0] for r in rows])
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
    result["items"] = [asdict(item) for item in items]
    return result


def _check_classifier(predictor: Any) -> None:
    if getattr(predictor, "task", "classify") != "classify":
        raise InputError(
            "E722",
            f"Model {getattr(predictor, 'name', '?')!r} is a {predictor.task} model; the uncertainty queue needs a "
            "classification model.",
            field="model",
        )


def _model_stamp(predictor: Any) -> str:
    """What tells two trainings of one model version apart (a models folder emptied and trained again)."""
    meta = getattr(predictor, "meta", None) or {}
    return str(meta.get("created_at") or "")[:200]


@dataclass
class _Cache:
    id: int
    key: dict[str, Any]  # dataset_id, strategy, model, version, annotator
    stamp: str
    members_seen: int
    members_count: int
    state: dict[str, Any] | None


def _open_cache(
    conn: _Db, dataset_id: int, strategy: str, model: str, version: str, annotator: str, stamp: str
) -> _Cache:
    """The cache of this queue, created (or emptied, when its stamp differs) as needed.

    A cache for a new model version replaces the caches of the model's other versions on this dataset.
    """
    key = {"dataset_id": dataset_id, "strategy": strategy, "model": model, "version": version, "annotator": annotator}
    where = [getattr(QueueCache, col) == value for col, value in key.items()]
    with conn.tx() as s:
        row = s.scalar(select(QueueCache).where(*where))
        if row is not None and row.stamp != stamp:
            # Stamp first (this locks the row, so a request still filling the old cache stops: E724), then empty.
            s.execute(
                update(QueueCache)
                .where(QueueCache.id == row.id)
                .values(stamp=stamp, members_seen=0, members_count=0, state=None, updated_at=utcnow())
            )
            s.execute(delete(QueueScore).where(QueueScore.cache_id == row.id))
            return _Cache(row.id, key, stamp, 0, 0, None)
        if row is None:
            s.execute(
                delete(QueueCache).where(
                    QueueCache.dataset_id == dataset_id,
                    QueueCache.strategy == strategy,
                    QueueCache.model == model,
                    QueueCache.annotator == annotator,
                    QueueCache.version != version,
                )
            )
            row = QueueCache(**key, stamp=stamp, members_seen=0, members_count=0)
            s.add(row)
            try:
                with s.begin_nested():
                    s.flush()
            except IntegrityError:  # another request created it first
                row = s.scalar(select(QueueCache).where(*where))
                if row is None or row.stamp != stamp:
                    raise CacheReplacedError(
                        "E724", "Another request is rebuilding this queue right now; ask again in a moment."
                    ) from None
        return _Cache(row.id, key, row.stamp, row.members_seen, row.members_count, row.state)


class _Scorer:
    """Per-document scores of one strategy: rows of (document id, rank, score, detail as JSON text)."""

    needs_texts = False
    chunk = 100_000  # documents scored and written per step (a transaction each, with a Store)

    def rows(self, doc_ids: list[int], texts: list[str] | None) -> list[tuple[int, float, float | None, str | None]]:
        raise NotImplementedError


class _UncertaintyScorer(_Scorer):
    needs_texts = True
    chunk = SCORE_CHUNK

    def __init__(self, predictor: Any) -> None:
        self.predictor = predictor
        self.labels = list(predictor.labels)

    def rows(self, doc_ids: list[int], texts: list[str] | None) -> list[tuple[int, float, float | None, str | None]]:
        assert texts is not None
        unc, preds, proba = model_scores(self.predictor, texts)
        out = []
        for i, doc_id in enumerate(doc_ids):
            top = np.argsort(-proba[i], kind="stable")[:3]
            detail = [preds[i], [[self.labels[j], round(float(proba[i, j]), 6)] for j in top]]
            u = float(unc[i])
            out.append((doc_id, -u, u, json.dumps(detail)))
        return out


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


class _RandomScorer(_Scorer):
    def __init__(self, seed: int) -> None:
        self.seed = seed

    def rows(self, doc_ids: list[int], texts: list[str] | None) -> list[tuple[int, float, float | None, str | None]]:
        keys = random_keys(np.asarray(doc_ids, dtype=np.int64), self.seed).tolist()
        return [(d, key, None, None) for d, key in zip(doc_ids, keys, strict=True)]


_SCORE_COLUMNS = ("cache_id", "document_id", "rank", "score", "detail")


#: Scores written in one refresh from which PostgreSQL's planner statistics of the cache are renewed: right after
#: a first computation of a million rows they still describe an empty table (a refresh took 2.2 s instead of 0.4).
ANALYZE_AFTER = 100_000


def _refresh(
    conn: _Db,
    cache: _Cache,
    dataset_id: int,
    members: tuple[int, int],
    scorer: _Scorer,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Score the documents the cache lacks; returns how many were scored.

    Nothing to do when the dataset's documents are the ones seen last time (same highest id and count). Else
    the documents added since (ids above the watermark) are scored, or, when the count shows documents came
    in below it, every document without a score. Documents with imported labels never enter the pool and are
    not scored. Scores are written ``SCORE_CHUNK`` documents at a time (in a transaction each, with a Store),
    so an interrupted first computation resumes where it stopped.
    """
    last, count = members
    if (last, count) == (cache.members_seen, cache.members_count):
        return 0
    dd = DatasetDocument
    imported = exists().where(
        Annotation.dataset_id == dataset_id, Annotation.document_id == dd.document_id, Annotation.source == "import"
    )
    scored = exists().where(QueueScore.cache_id == cache.id, QueueScore.document_id == dd.document_id)
    with conn.tx() as s:
        came = s.scalar(
            select(func.count()).where(dd.dataset_id == dataset_id, dd.id > cache.members_seen, dd.id <= last)
        )
        query = select(dd.document_id).where(dd.dataset_id == dataset_id, dd.id <= last, ~imported, ~scored)
        if cache.members_count + int(came or 0) == count:  # nothing came in below the watermark
            query = query.where(dd.id > cache.members_seen)
        todo = list(s.scalars(query.order_by(dd.document_id)))
    for start in range(0, len(todo), scorer.chunk):
        chunk = todo[start : start + scorer.chunk]
        texts = None
        if scorer.needs_texts:
            with conn.tx() as s:
                found = dict(s.execute(select(Document.id, Document.text).where(Document.id.in_(chunk))).all())
            texts = [found[d] for d in chunk]
        rows = scorer.rows(chunk, texts)
        with conn.tx() as s:
            _claim(s, cache)
            writer = BulkWriter(s)
            with writer.large_cache():
                writer.insert(QueueScore.__table__, _SCORE_COLUMNS, ((cache.id, *r) for r in rows), skip_existing=True)
        if progress:
            progress(start + len(chunk), len(todo))
    with conn.tx() as s:
        _claim(s, cache, members_seen=last, members_count=count)
        if len(todo) >= ANALYZE_AFTER:
            BulkWriter(s).analyze(QueueScore.__table__)
    return len(todo)


def _claim(s: Session, cache: _Cache, **values: Any) -> None:
    """Touch the cache's row (locking it until the transaction ends) with ``values``; E724 when another request
    has replaced it meanwhile (another model version, another seed), so no stale scores are written."""
    same = [getattr(QueueCache, col) == value for col, value in cache.key.items()]  # ids can be reused
    done = s.execute(
        update(QueueCache)
        .where(QueueCache.id == cache.id, QueueCache.stamp == cache.stamp, *same)
        .values(updated_at=utcnow(), **values)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise CacheReplacedError(
            "E724",
            "Another request replaced this queue's cache (another model version or seed) while it was being "
            "filled; ask again.",
        )


def _diversity(
    conn: _Db,
    cache: _Cache,
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
                    and_(Annotation.document_id == QueueScore.document_id, _out_of_pool(dataset_id, annotator)),
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
                    _waiting(DatasetDocument.document_id, dataset_id, annotator),
                )
                .order_by(DatasetDocument.document_id)
            )
        )
        labeled = sorted(
            s.scalars(select(Annotation.document_id).where(_out_of_pool(dataset_id, annotator)).distinct())
        )
    rng = np.random.default_rng(seed)
    complete = len(pool) <= DIVERSITY_CANDIDATES
    if not complete:
        pool = sorted(rng.choice(pool, DIVERSITY_CANDIDATES, replace=False).tolist())
    if len(labeled) > MAX_CENTERS:
        labeled = sorted(np.random.default_rng(seed).choice(labeled, MAX_CENTERS, replace=False).tolist())
    n_picks = min(len(pool), max(k, DIVERSITY_PICKS))
    with conn.tx() as s:
        texts = _texts(s, dataset_id, pool + labeled)
    picks, dists = _farthest(texts, pool, labeled, n_picks)
    with conn.tx() as s:
        _claim(
            s,
            cache,
            members_seen=members[0],
            members_count=members[1],
            state={"out": list(out), "complete": complete and n_picks == len(pool)},
        )
        s.execute(delete(QueueScore).where(QueueScore.cache_id == cache.id))
        BulkWriter(s).insert(
            QueueScore.__table__,
            _SCORE_COLUMNS,
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
