"""Tables of the nlpipe store (SQLAlchemy 2 declarative mapping).

Changing a table here means adding an Alembic revision in ``nlpipe/store/migrations/versions`` so that a newer
nlpipe can open an older database; ``tests/test_store_migrations.py`` checks the two agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

#: The largest value an ``id`` column can hold: ids are INTEGER, 32-bit on PostgreSQL and 64-bit on SQLite.
MAX_ROW_ID = {"postgresql": 2**31 - 1}
MAX_ROW_ID_DEFAULT = 2**63 - 1


def utcnow() -> datetime:
    return datetime.now(UTC)


def storable_id(session: Session, value: int) -> bool:
    """Whether ``value`` fits the database's ``id`` columns: a larger one names no row, and comparing it with
    a column fails on PostgreSQL (integer out of range), so lookups answer "not found" without asking."""
    limit = MAX_ROW_ID.get(session.get_bind().dialect.name, MAX_ROW_ID_DEFAULT)
    return -limit - 1 <= value <= limit


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}

    if TYPE_CHECKING:
        # SQLAlchemy types ``__table__`` as any FromClause (a class may map a subquery); every class here maps
        # a Table, which is what the bulk writer (nlpipe.store.bulk) takes.
        __table__: ClassVar[Table]


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Document(Base):
    """A text, stored once however many datasets hold it (deduplicated by SHA-256 of the text)."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    mime: Mapped[str] = mapped_column(String(100), default="text/plain")
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The uploaded file this text came from, stored content-addressed as originals/<aa>/<sha256>.
    original_sha256: Mapped[str | None] = mapped_column(String(64))
    n_pages: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PageRow(Base):
    """One page of a paged document (PDF), with its words and their boxes.

    ``words`` is a list of ``[text, x0, y0, x1, y1, size, conf]`` in PDF points, origin top-left.
    """

    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("document_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    width: Mapped[float | None] = mapped_column(Float)
    height: Mapped[float | None] = mapped_column(Float)
    ocr: Mapped[bool] = mapped_column(Boolean, default=False)
    words: Mapped[list[Any] | None] = mapped_column(JSON)


class DatasetDocument(Base):
    """Membership of a document in a dataset, with the id the user's file gave it."""

    __tablename__ = "dataset_documents"
    __table_args__ = (UniqueConstraint("dataset_id", "document_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Split(Base):
    """Which split (train / validation / test) a document belongs to within a dataset.

    ``assigned_by`` is ``import`` when the user's file named the split and ``seeded`` when nlpipe drew it.
    """

    __tablename__ = "splits"
    __table_args__ = (UniqueConstraint("dataset_id", "document_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    split: Mapped[str] = mapped_column(String(20))
    assigned_by: Mapped[str] = mapped_column(String(20), default="import")
    seed: Mapped[int | None] = mapped_column(Integer)


class Annotation(Base):
    """A document label (``kind='label'``) or, later, a span (``kind='span'`` with start/end)."""

    __tablename__ = "annotations"
    __table_args__ = (Index("ix_annotations_dataset_doc", "dataset_id", "document_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10), default="label")
    label: Mapped[str] = mapped_column(String(200))
    start: Mapped[int | None] = mapped_column(Integer)
    end: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(10))
    author: Mapped[str | None] = mapped_column(String(200))
    score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AnnotationReview(Base):
    """An annotator's decision on a pre-annotation (rule, model or import): ``accept`` or ``reject``.

    The pre-annotation is named by its content (kind, label, start, end, source), so model suggestions that
    are not stored rows can be reviewed too. ``annotation_id`` is the human copy an ``accept`` made.
    """

    __tablename__ = "annotation_reviews"
    __table_args__ = (Index("ix_annotation_reviews_dataset_doc_author", "dataset_id", "document_id", "author"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(10))
    label: Mapped[str] = mapped_column(String(200))
    start: Mapped[int | None] = mapped_column(Integer)
    end: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(10))
    annotation_id: Mapped[int | None] = mapped_column(ForeignKey("annotations.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QueueCache(Base):
    """A cached order of a dataset's labeling queue: one per dataset, strategy, model version and annotator.

    ``stamp`` is what else must match for the rows to be reused (the model's creation time, the seed); the
    watermark (``members_seen``, the highest ``dataset_documents.id`` scored, and ``members_count``) tells which
    documents came since. ``state`` holds what a strategy needs to check its order is still valid (diversity:
    the documents out of the pool when it was computed). See ``nlpipe.label.queue``.
    """

    __tablename__ = "queue_caches"
    __table_args__ = (UniqueConstraint("dataset_id", "strategy", "model", "version", "annotator"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    strategy: Mapped[str] = mapped_column(String(20))
    model: Mapped[str] = mapped_column(String(200), default="")
    version: Mapped[str] = mapped_column(String(50), default="")
    annotator: Mapped[str] = mapped_column(String(200), default="")
    stamp: Mapped[str] = mapped_column(String(200), default="")
    members_seen: Mapped[int] = mapped_column(Integer, default=0)
    members_count: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class QueueScore(Base):
    """One document's place in a cached queue: ``rank`` orders it (ascending, ties by document id), ``score`` is
    what the queue shows, ``detail`` the model's predicted labels and best label scores (uncertainty)."""

    __tablename__ = "queue_scores"
    __table_args__ = (Index("ix_queue_scores_order", "cache_id", "rank", "document_id"),)

    cache_id: Mapped[int] = mapped_column(ForeignKey("queue_caches.id", ondelete="CASCADE"), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    rank: Mapped[float] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[list[Any] | None] = mapped_column(JSON)


class ModelRecord(Base):
    """A trained model version; the files live in ``models/<name>/<version>/``."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(50))
    task: Mapped[str] = mapped_column(String(30))
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    path: Mapped[str] = mapped_column(Text)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IngestRun(Base):
    """One run of ``nlpipe ingest`` or an upload into a dataset, written batch by batch (one transaction each).

    ``status`` is ``running`` until the run ends ``succeeded`` or ``failed``; a run whose process was killed stays
    ``running``. Runs that did not succeed leave the dataset incomplete until a later run that read all of their
    ``inputs`` (paths, or ``sha256:<hex>`` of uploaded files) succeeds: they become ``superseded``.
    """

    __tablename__ = "ingest_runs"
    __table_args__ = (Index("ix_ingest_runs_dataset_status", "dataset_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="running")
    inputs: Mapped[list[Any] | None] = mapped_column(JSON)
    documents: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    superseded_by: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiKey(Base):
    """An API key of the HTTP API (``nlpipe keys create``): its name (also the annotator it writes as), its scopes
    (space-separated), and the SHA-256 of the key -- the key itself is shown once and never stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Job(Base):
    """Long-running work (imports, training, batch runs) with progress counts.

    ``claim`` names the process running a job that runs in a process of its own (a batch job:
    ``host:pid:token``), set when that process claims the job and cleared when it gives it back; ``progress`` holds
    counts besides ``done`` / ``total`` while the job runs (a batch job's errors and documents per second).
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    total: Mapped[int | None] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    claim: Mapped[str | None] = mapped_column(String(200))
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    owner: Mapped[str | None] = mapped_column(String(100))  # the API key's name that made the job (None: CLI/open)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
