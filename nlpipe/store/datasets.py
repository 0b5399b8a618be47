"""Datasets: their names, creation and look-up, and their documents read back with truth labels, spans and splits.

Every function takes an open ``Session`` and returns data; nothing here prints. Storing records in a dataset is
:mod:`nlpipe.store.importing`; the split an import draws is :mod:`nlpipe.store.splits`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nlpipe.errors import ConflictError, InputError, NotFoundError
from nlpipe.store.db import Store
from nlpipe.store.schema import Annotation, Dataset, DatasetDocument, Document, IngestRun, Split
from nlpipe.types import NAME_RE, Record, Span

# Label annotations that count as the truth for training and evaluation, by precedence: a document's labels
# come from the first group that has any (model predictions never count as truth).
TRUTH_SOURCES: tuple[tuple[str, ...], ...] = (("human", "import"), ("rule",))
CHUNK = 500  # row dicts per ORM insert() call (pages, rule annotations)
INCOMPLETE_RUNS = ("running", "failed")  # ingest run statuses that leave their dataset incomplete


def check_name(name: str, what: str = "dataset") -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InputError(
            "E201",
            f"Invalid {what} name {name!r}: use 1-100 letters, digits, '_', '.' or '-', starting with a "
            "letter or digit.",
            field="name",
        )
    return name


def create_dataset(session: Session, name: str, description: str | None = None) -> Dataset:
    check_name(name)
    if session.scalar(select(Dataset.id).where(Dataset.name == name)) is not None:
        raise ConflictError("E202", f"Dataset {name!r} already exists. Import into it or choose another name.")
    ds = Dataset(name=name, description=description)
    session.add(ds)
    session.flush()
    return ds


def ensure_dataset(store: Store, name: str) -> None:
    """Create dataset ``name`` in a transaction of its own unless it exists. Writers that create the same dataset at
    once (concurrent uploads into a new dataset) all end up with the one row: the unique name makes the others'
    inserts fail, and they find the winner's."""
    with store.session() as s:
        if s.scalar(select(Dataset.id).where(Dataset.name == name)) is not None:
            return
        check_name(name)
    try:
        with store.session() as s:
            s.add(Dataset(name=name))
    except IntegrityError:
        with store.session() as s:
            if s.scalar(select(Dataset.id).where(Dataset.name == name)) is None:
                raise


def get_dataset(session: Session, name: str) -> Dataset:
    ds = session.scalar(select(Dataset).where(Dataset.name == name))
    if ds is None:
        raise NotFoundError(
            "E203",
            f"No dataset named {name!r}. Create it with `nlpipe datasets create {name}`, "
            "or see `nlpipe datasets list`.",
        )
    return ds


@dataclass
class LabeledData:
    """The documents of one dataset with their truth labels and split, in a stable order (document id)."""

    doc_ids: list[int]
    texts: list[str]
    labels: list[list[str]]
    splits: list[str]
    external_ids: list[str | None]
    spans: list[list[Span]] = field(default_factory=list)

    def subset(self, split: str | Iterable[str]) -> LabeledData:
        wanted = {split} if isinstance(split, str) else set(split)
        idx = [i for i, sp in enumerate(self.splits) if sp in wanted]
        return LabeledData(
            [self.doc_ids[i] for i in idx],
            [self.texts[i] for i in idx],
            [self.labels[i] for i in idx],
            [self.splits[i] for i in idx],
            [self.external_ids[i] for i in idx],
            [self.spans[i] for i in idx] if self.spans else [],
        )

    def __len__(self) -> int:
        return len(self.doc_ids)


def truth_labels(rows: Iterable[tuple[int, str, str]]) -> dict[int, list[str]]:
    """Pick each document's truth labels from (document_id, label, source) rows by TRUTH_SOURCES precedence."""
    by_doc: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for doc_id, label, src in rows:
        if label not in by_doc[doc_id][src]:
            by_doc[doc_id][src].append(label)
    out: dict[int, list[str]] = {}
    for doc_id, by_src in by_doc.items():
        for group in TRUTH_SOURCES:
            labs = sorted({lab for src in group for lab in by_src.get(src, [])})
            if labs:
                out[doc_id] = labs
                break
    return out


def truth_spans(rows: Iterable[tuple[int, str, int, int, str]]) -> dict[int, list[Span]]:
    """Pick each document's truth spans from (document_id, label, start, end, source) rows.

    Same precedence as labels: spans from human or imported annotations when a document has any, else
    rule-made spans; model spans never count. Spans are sorted by (start, end, label).
    """
    by_doc: dict[int, dict[str, set[tuple[int, int, str]]]] = defaultdict(lambda: defaultdict(set))
    for doc_id, label, start, end, src in rows:
        by_doc[doc_id][src].add((start, end, label))
    out: dict[int, list[Span]] = {}
    for doc_id, by_src in by_doc.items():
        for group in TRUTH_SOURCES:
            found = sorted({t for src in group for t in by_src.get(src, set())})
            if found:
                out[doc_id] = [Span(st, en, lab, source=group[0]) for st, en, lab in found]
                break
    return out


def load_dataset(session: Session, name: str, *, labeled_only: bool = True, with_spans: bool = False) -> LabeledData:
    """Every document of the dataset with its truth labels and split (unlabeled ones skipped by default).

    ``with_spans`` also loads each document's truth entity spans into ``LabeledData.spans``; a document with
    spans but no labels then counts as labeled.
    """
    ds = get_dataset(session, name)
    spans: dict[int, list[Span]] = {}
    if with_spans:
        # A span always has its offsets (every writer checks them): the columns are nullable for labels only.
        span_rows = cast(
            "Sequence[tuple[int, str, int, int, str]]",
            session.execute(
                select(
                    Annotation.document_id, Annotation.label, Annotation.start, Annotation.end, Annotation.source
                ).where(Annotation.dataset_id == ds.id, Annotation.kind == "span")
            ).all(),
        )
        spans = truth_spans(span_rows)
    labels = truth_labels(
        session.execute(
            select(Annotation.document_id, Annotation.label, Annotation.source).where(
                Annotation.dataset_id == ds.id, Annotation.kind == "label"
            )
        ).all()
    )
    rows = session.execute(
        select(Document.id, Document.text, Split.split, DatasetDocument.external_id)
        .join(DatasetDocument, DatasetDocument.document_id == Document.id)
        .outerjoin(Split, (Split.document_id == Document.id) & (Split.dataset_id == ds.id))
        .where(DatasetDocument.dataset_id == ds.id)
        .order_by(Document.id)
    ).all()
    out = LabeledData([], [], [], [], [])
    for doc_id, text, split, ext in rows:
        labs = labels.get(doc_id, [])
        if labeled_only and not labs and not spans.get(doc_id):
            continue
        out.doc_ids.append(doc_id)
        out.texts.append(text)
        out.labels.append(labs)
        out.splits.append(split or "train")
        out.external_ids.append(ext)
        if with_spans:
            out.spans.append(spans.get(doc_id, []))
    return out


def export_records(session: Session, name: str) -> Iterator[Record]:
    """Every document of the dataset as a Record with its truth labels, truth spans and split."""
    data = load_dataset(session, name, labeled_only=False, with_spans=True)
    for i in range(len(data)):
        yield Record(
            text=data.texts[i],
            labels=data.labels[i],
            split=data.splits[i],
            external_id=data.external_ids[i],
            spans=data.spans[i],
        )


def list_datasets(session: Session) -> list[dict[str, Any]]:
    """Every dataset with its document count and ``state``: ``incomplete`` while an ingest into it has not finished
    (killed, failed, or still running: ``incomplete_runs`` of them; see :mod:`nlpipe.store.runs`), else
    ``complete``."""
    counts = dict(
        session.execute(select(DatasetDocument.dataset_id, func.count()).group_by(DatasetDocument.dataset_id)).all()
    )
    unfinished = dict(
        session.execute(
            select(IngestRun.dataset_id, func.count())
            .where(IngestRun.status.in_(INCOMPLETE_RUNS))
            .group_by(IngestRun.dataset_id)
        ).all()
    )
    return [
        {
            "name": ds.name,
            "documents": counts.get(ds.id, 0),
            "created_at": ds.created_at.isoformat(),
            "description": ds.description,
            "state": "incomplete" if unfinished.get(ds.id) else "complete",
            "incomplete_runs": unfinished.get(ds.id, 0),
        }
        for ds in session.scalars(select(Dataset).order_by(Dataset.name))
    ]
