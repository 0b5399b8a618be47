"""The active-learning queue's cache in the store (tables ``queue_caches`` / ``queue_scores``) and the pool's SQL.

See :mod:`nlpipe.label.queue` for when a cache is kept, refreshed or emptied. :func:`refresh` scores the
documents a cache lacks, a chunk per transaction when given a Store; :func:`claim` stops a request whose cache
another request replaced meanwhile (E724).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nlpipe.errors import ConflictError
from nlpipe.label.queue_scoring import Scorer
from nlpipe.store.bulk import BulkWriter
from nlpipe.store.db import Store
from nlpipe.store.schema import Annotation, DatasetDocument, Document, QueueCache, QueueScore, utcnow

#: The cache's score table.
SCORES_TABLE = QueueScore.__table__


class CacheReplacedError(ConflictError):
    """Another request replaced the queue cache this one was filling (a newer model version, another seed)."""


class Db:
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


def document_texts(session: Session, dataset_id: int, doc_ids: Sequence[int]) -> dict[int, tuple[str, str | None]]:
    """(text, external id) of each of ``doc_ids`` in the dataset, read 500 ids per query."""
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


def out_of_pool(dataset_id: int, annotator: str | None) -> ColumnElement[bool]:
    """Annotations that take a document out of the pool: imported ones, and human ones (by ``annotator``)."""
    human = Annotation.source == "human"
    if annotator is not None:
        human = and_(human, Annotation.author == annotator)
    return and_(Annotation.dataset_id == dataset_id, or_(Annotation.source == "import", human))


def waiting(doc_col: Any, dataset_id: int, annotator: str | None) -> ColumnElement[bool]:
    """``doc_col`` is in the pool: no annotation takes it out."""
    return ~exists().where(out_of_pool(dataset_id, annotator), Annotation.document_id == doc_col)


def member_watermark(s: Session, dataset_id: int) -> tuple[int, int]:
    """(highest dataset_documents.id, number of documents) of the dataset: its documents' watermark."""
    n, last = s.execute(
        select(func.count(), func.coalesce(func.max(DatasetDocument.id), 0)).where(
            DatasetDocument.dataset_id == dataset_id
        )
    ).one()
    return int(last), int(n)


def out_stats(s: Session, dataset_id: int, annotator: str | None) -> tuple[int, int]:
    """(how many, sum of ids) of the dataset's documents out of the pool."""
    sub = select(Annotation.document_id).where(out_of_pool(dataset_id, annotator)).distinct().subquery()
    n, total = s.execute(select(func.count(), func.coalesce(func.sum(sub.c.document_id), 0))).one()
    return int(n), int(total)


@dataclass
class Cache:
    """A queue cache's row as this request opened it (``stamp`` tells whether another request replaced it)."""

    id: int
    key: dict[str, Any]  # dataset_id, strategy, model, version, annotator
    stamp: str
    members_seen: int
    members_count: int
    state: dict[str, Any] | None


def open_cache(conn: Db, dataset_id: int, strategy: str, model: str, version: str, annotator: str, stamp: str) -> Cache:
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
            return Cache(row.id, key, stamp, 0, 0, None)
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
        return Cache(row.id, key, row.stamp, row.members_seen, row.members_count, row.state)


SCORE_COLUMNS = ("cache_id", "document_id", "rank", "score", "detail")


#: Scores written in one refresh from which PostgreSQL's planner statistics of the cache are renewed: right after
#: a first computation of a million rows they still describe an empty table (a refresh took 2.2 s instead of 0.4).
ANALYZE_AFTER = 100_000


def refresh(
    conn: Db,
    cache: Cache,
    dataset_id: int,
    members: tuple[int, int],
    scorer: Scorer,
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
            claim(s, cache)
            writer = BulkWriter(s)
            with writer.large_cache():
                writer.insert(SCORES_TABLE, SCORE_COLUMNS, ((cache.id, *r) for r in rows), skip_existing=True)
        if progress:
            progress(start + len(chunk), len(todo))
    with conn.tx() as s:
        claim(s, cache, members_seen=last, members_count=count)
        if len(todo) >= ANALYZE_AFTER:
            BulkWriter(s).analyze(SCORES_TABLE)
    return len(todo)


def claim(s: Session, cache: Cache, **values: Any) -> None:
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
