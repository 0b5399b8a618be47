"""Annotations made by people on the labeling page: per-annotator labels and spans, reviews of pre-annotations.

Every human annotation is its own row with ``source='human'`` and ``author`` = the annotator's name, so two
annotators never overwrite each other: adding only inserts rows, deleting only removes the caller's own rows.
A *pre-annotation* is a label or span another source made (``rule``, ``model``, ``import``) or a model
suggestion computed on the fly; an annotator accepts it (a human copy is stored, plus a review) or rejects it
(a review is stored, and the pre-annotation is no longer shown to that annotator).

Functions take an open ``Session`` and return plain data; nothing here prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from nlpipe.errors import InputError, NotFoundError
from nlpipe.store.annotation_checks import check_annotator, check_label, check_span
from nlpipe.store.datasets import get_dataset
from nlpipe.store.schema import Annotation, AnnotationReview, DatasetDocument, Document, Split, storable_id

PRE_SOURCES: tuple[str, ...] = ("rule", "model", "import")
DECISIONS: tuple[str, ...] = ("accept", "reject")
KINDS: tuple[str, ...] = ("label", "span")

# What identifies an annotation's content: (kind, label, start, end).
Key = tuple[str, str, int | None, int | None]


def _member(session: Session, dataset_id: int, name: str, document_id: int) -> tuple[Document, str | None]:
    row = None
    if storable_id(session, document_id):
        row = session.execute(
            select(Document, DatasetDocument.external_id)
            .join(DatasetDocument, DatasetDocument.document_id == Document.id)
            .where(DatasetDocument.dataset_id == dataset_id, Document.id == document_id)
        ).first()
    if row is None:
        raise NotFoundError(
            "E240",
            f"Dataset {name!r} has no document {document_id}. Take document ids from the dataset's queue.",
            field="document_id",
        )
    return row[0], row[1]


def _lock_document(session: Session, dataset_id: int, document_id: int) -> None:
    """Take the write lock on the document's membership row before reading what an annotator has on it: two
    writes of the same annotation at once (a double submit, the same annotator in two tabs) would otherwise both
    find nothing and both insert it. PostgreSQL locks the row; SQLite the database, since this is the
    transaction's first write (its reads then see every write committed before)."""
    session.execute(
        update(DatasetDocument)
        .where(DatasetDocument.dataset_id == dataset_id, DatasetDocument.document_id == document_id)
        .values(external_id=DatasetDocument.external_id)
    )


def annotation_dict(a: Annotation) -> dict[str, Any]:
    return {
        "id": a.id,
        "document_id": a.document_id,
        "kind": a.kind,
        "label": a.label,
        "start": a.start,
        "end": a.end,
        "source": a.source,
        "author": a.author,
        "score": a.score,
        "created_at": a.created_at.isoformat() if a.created_at else None,
    }


def review_dict(r: AnnotationReview) -> dict[str, Any]:
    return {
        "id": r.id,
        "document_id": r.document_id,
        "author": r.author,
        "decision": r.decision,
        "kind": r.kind,
        "label": r.label,
        "start": r.start,
        "end": r.end,
        "source": r.source,
        "annotation_id": r.annotation_id,
    }


def _key(x: Any) -> Key:
    if isinstance(x, dict):
        return (x["kind"], x["label"], x.get("start"), x.get("end"))
    return (x.kind, x.label, x.start, x.end)


def get_document(
    session: Session,
    dataset: str,
    document_id: int,
    *,
    annotator: str | None = None,
    suggestions: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A document of the dataset with its text, the annotator's own annotations and the pre-annotations to review.

    ``annotations`` are the annotator's human annotations (every human annotation when no annotator is given).
    ``pre_annotations`` are rule/model/import annotations and the given model ``suggestions`` (dicts with kind,
    label, start, end, score, by), merged by content; an annotator does not see the ones they accepted,
    rejected or already annotated themselves. Other annotators' human annotations are never shown, so
    annotators label independently.
    """
    ds = get_dataset(session, dataset)
    doc, external_id = _member(session, ds.id, dataset, document_id)
    split = session.scalar(select(Split.split).where(Split.dataset_id == ds.id, Split.document_id == doc.id))
    rows = session.scalars(
        select(Annotation)
        .where(Annotation.dataset_id == ds.id, Annotation.document_id == doc.id)
        .order_by(Annotation.id)
    ).all()
    reviews: list[AnnotationReview] = []
    if annotator is not None:
        annotator = check_annotator(annotator)
        reviews = list(
            session.scalars(
                select(AnnotationReview)
                .where(
                    AnnotationReview.dataset_id == ds.id,
                    AnnotationReview.document_id == doc.id,
                    AnnotationReview.author == annotator,
                )
                .order_by(AnnotationReview.id)
            ).all()
        )
    own = [a for a in rows if a.source == "human" and (annotator is None or a.author == annotator)]
    hidden = {(r.source, *_key(r)) for r in reviews}
    own_keys = {_key(a) for a in own} if annotator is not None else set()
    merged: dict[tuple[str, str, str, int | None, int | None], dict[str, Any]] = {}
    stored = [{**annotation_dict(a), "by": [a.author] if a.author else []} for a in rows if a.source in PRE_SOURCES]
    for pre in [*stored, *({**s, "source": "model"} for s in suggestions)]:
        key = (pre["source"], *_key(pre))
        if key in hidden or _key(pre) in own_keys:
            continue
        entry = merged.setdefault(
            key,
            {
                "kind": pre["kind"],
                "label": pre["label"],
                "start": pre.get("start"),
                "end": pre.get("end"),
                "source": pre["source"],
                "score": None,
                "by": [],
                "ids": [],
            },
        )
        if pre.get("score") is not None:
            entry["score"] = max(entry["score"] or 0.0, float(pre["score"]))
        entry["by"] += [b for b in pre.get("by") or [] if b not in entry["by"]]
        if pre.get("id") is not None:
            entry["ids"].append(pre["id"])
    pre_annotations = sorted(merged.values(), key=lambda p: (p["kind"], p["start"] or 0, p["label"], p["source"]))
    return {
        "dataset": ds.name,
        "id": doc.id,
        "external_id": external_id,
        "split": split,
        "source": doc.source,
        "text": doc.text,
        "annotator": annotator,
        "annotations": [annotation_dict(a) for a in own],
        "pre_annotations": pre_annotations,
        "reviews": [review_dict(r) for r in reviews],
    }


def add_annotations(
    session: Session,
    dataset: str,
    document_id: int,
    author: str,
    *,
    labels: Iterable[str] = (),
    spans: Iterable[dict[str, Any]] = (),
) -> list[dict[str, Any]]:
    """Store document labels and spans (dicts with start, end, label) as ``author``'s human annotations.

    Everything is checked before anything is written (E242 span outside the text, E243 bad label, E248 nothing
    given). An annotation the author already has is not stored twice; it is returned with ``created: False``.
    """
    author = check_annotator(author)
    ds = get_dataset(session, dataset)
    doc, _ = _member(session, ds.id, dataset, document_id)
    wanted: list[Key] = []
    for i, lab in enumerate(labels):
        wanted.append(("label", check_label(lab, f"labels[{i}]"), None, None))
    for i, sp in enumerate(spans):
        if not isinstance(sp, dict):
            raise InputError("E242", f"spans[{i}]: a span is an object with start, end and label.", field=f"spans[{i}]")
        start, end = check_span(sp.get("start"), sp.get("end"), len(doc.text), f"spans[{i}]")
        wanted.append(("span", check_label(sp.get("label"), f"spans[{i}].label"), start, end))
    if not wanted:
        raise InputError("E248", "Give at least one label or span to store.", field="labels")
    _lock_document(session, ds.id, doc.id)
    return _insert_human(session, ds.id, doc.id, author, list(dict.fromkeys(wanted)))


def _insert_human(session: Session, dataset_id: int, document_id: int, author: str, keys: list[Key]) -> list[dict]:
    existing = {
        _key(a): a
        for a in session.scalars(
            select(Annotation).where(
                Annotation.dataset_id == dataset_id,
                Annotation.document_id == document_id,
                Annotation.source == "human",
                Annotation.author == author,
            )
        )
    }
    out = []
    for kind, label, start, end in keys:
        found = existing.get((kind, label, start, end))
        if found is None:
            found = Annotation(
                dataset_id=dataset_id,
                document_id=document_id,
                kind=kind,
                label=label,
                start=start,
                end=end,
                source="human",
                author=author,
            )
            session.add(found)
            session.flush()
            existing[(kind, label, start, end)] = found
            out.append({**annotation_dict(found), "created": True})
        else:
            out.append({**annotation_dict(found), "created": False})
    return out


def delete_annotation(session: Session, dataset: str, annotation_id: int, author: str) -> dict[str, Any]:
    """Delete one of ``author``'s own human annotations (undo); an accept review that made it goes with it.

    Annotations of other annotators and of other sources cannot be deleted here (E244, as if missing).
    """
    author = check_annotator(author)
    ds = get_dataset(session, dataset)
    a = None
    if storable_id(session, annotation_id):
        a = session.scalar(
            select(Annotation).where(
                Annotation.id == annotation_id,
                Annotation.dataset_id == ds.id,
                Annotation.source == "human",
                Annotation.author == author,
            )
        )
    if a is None:
        raise NotFoundError(
            "E244",
            f"Dataset {dataset!r} has no human annotation {annotation_id} by {author!r}; an annotator can delete "
            "only their own annotations.",
            field="annotation_id",
        )
    gone = annotation_dict(a)
    session.execute(delete(AnnotationReview).where(AnnotationReview.annotation_id == a.id))
    session.delete(a)
    session.flush()
    return gone


def review(
    session: Session,
    dataset: str,
    document_id: int,
    author: str,
    *,
    decision: str,
    kind: str,
    label: str,
    source: str,
    start: int | None = None,
    end: int | None = None,
) -> dict[str, Any]:
    """Record ``author``'s decision on a pre-annotation, named by its content.

    ``accept`` stores a human copy (returned as ``annotation``); ``reject`` stores only the review. Either way the
    pre-annotation is no longer shown to this annotator. Reviewing the same pre-annotation again replaces the
    earlier decision (and an earlier accept's copy).
    """
    author = check_annotator(author)
    if decision not in DECISIONS:
        raise InputError("E246", f"decision must be accept or reject, got {decision!r}.", field="decision")
    if source not in PRE_SOURCES:
        raise InputError(
            "E246", f"Only rule, model or import pre-annotations are reviewed, got source {source!r}.", field="source"
        )
    if kind not in KINDS:
        raise InputError("E246", f"kind must be label or span, got {kind!r}.", field="kind")
    ds = get_dataset(session, dataset)
    doc, _ = _member(session, ds.id, dataset, document_id)
    label = check_label(label, "label")
    if kind == "span":
        start, end = check_span(start, end, len(doc.text), "span")
    else:
        start = end = None
    _lock_document(session, ds.id, doc.id)
    earlier = session.scalars(
        select(AnnotationReview).where(
            AnnotationReview.dataset_id == ds.id,
            AnnotationReview.document_id == doc.id,
            AnnotationReview.author == author,
            AnnotationReview.source == source,
            AnnotationReview.kind == kind,
            AnnotationReview.label == label,
            AnnotationReview.start.is_(None) if start is None else AnnotationReview.start == start,
            AnnotationReview.end.is_(None) if end is None else AnnotationReview.end == end,
        )
    ).all()
    for r in earlier:
        _drop_review(session, r)
    copy = None
    if decision == "accept":
        [copy] = _insert_human(session, ds.id, doc.id, author, [(kind, label, start, end)])
    r = AnnotationReview(
        dataset_id=ds.id,
        document_id=doc.id,
        author=author,
        decision=decision,
        kind=kind,
        label=label,
        start=start,
        end=end,
        source=source,
        annotation_id=copy["id"] if copy and copy["created"] else None,
    )
    session.add(r)
    session.flush()
    return {"review": review_dict(r), "annotation": copy}


def _drop_review(session: Session, r: AnnotationReview) -> None:
    copy_id = r.annotation_id
    session.delete(r)
    session.flush()
    if copy_id is not None:
        session.execute(delete(Annotation).where(Annotation.id == copy_id))


def delete_review(session: Session, dataset: str, review_id: int, author: str) -> dict[str, Any]:
    """Undo one of ``author``'s reviews: the pre-annotation shows again; an accept's human copy is deleted."""
    author = check_annotator(author)
    ds = get_dataset(session, dataset)
    r = None
    if storable_id(session, review_id):
        r = session.scalar(
            select(AnnotationReview).where(
                AnnotationReview.id == review_id,
                AnnotationReview.dataset_id == ds.id,
                AnnotationReview.author == author,
            )
        )
    if r is None:
        raise NotFoundError("E247", f"Dataset {dataset!r} has no review {review_id} by {author!r}.", field="review_id")
    gone = review_dict(r)
    _drop_review(session, r)
    return gone


def documents_with(session: Session, dataset_id: int, *, sources: Iterable[str], author: str | None = None) -> set[int]:
    """Ids of the dataset's documents that have an annotation (label or span) from ``sources`` (and ``author``)."""
    q = select(Annotation.document_id).where(Annotation.dataset_id == dataset_id, Annotation.source.in_(list(sources)))
    if author is not None:
        q = q.where(Annotation.author == author)
    return set(session.scalars(q.distinct()).all())


def labeling_pool(session: Session, dataset_id: int) -> list[int]:
    """The documents people label: every document of the dataset except those whose labels were imported."""
    imported = documents_with(session, dataset_id, sources=["import"])
    members = session.scalars(
        select(DatasetDocument.document_id)
        .where(DatasetDocument.dataset_id == dataset_id)
        .order_by(DatasetDocument.document_id)
    ).all()
    return [d for d in members if d not in imported]


def progress(session: Session, dataset: str, annotator: str | None = None) -> dict[str, Any]:
    """How far labeling is: documents in the labeling pool, done by the annotator (or by anyone), remaining.

    ``done`` counts documents with at least one human annotation by the annotator (by anyone without one);
    ``labeled_by_anyone`` counts pool documents with any human annotation.
    """
    ds = get_dataset(session, dataset)
    pool = set(labeling_pool(session, ds.id))
    anyone = documents_with(session, ds.id, sources=["human"])
    if annotator is not None:
        annotator = check_annotator(annotator)
        mine = documents_with(session, ds.id, sources=["human"], author=annotator)
    else:
        mine = anyone
    total = len(pool | mine)
    return {
        "dataset": ds.name,
        "annotator": annotator,
        "total": total,
        "done": len(mine),
        "remaining": total - len(mine),
        "labeled_by_anyone": len(pool & anyone),
    }


def label_set(session: Session, dataset: str) -> dict[str, list[str]]:
    """The document labels and entity types used in the dataset's annotations (any source), sorted."""
    ds = get_dataset(session, dataset)
    rows = session.execute(
        select(Annotation.kind, Annotation.label).where(Annotation.dataset_id == ds.id).distinct()
    ).all()
    return {
        "labels": sorted({lab for kind, lab in rows if kind == "label"}),
        "entity_types": sorted({lab for kind, lab in rows if kind == "span"}),
    }


def human_spans(session: Session, dataset_id: int) -> list[tuple[int, str, int, int, str]]:
    """(document_id, author, start, end, label) of every human span with a named author."""
    # The query keeps rows with an author, and a span always has its offsets (every writer checks them): the
    # columns are nullable for the other rows only.
    rows = cast(
        "Sequence[tuple[int, str, int, int, str]]",
        session.execute(
            select(Annotation.document_id, Annotation.author, Annotation.start, Annotation.end, Annotation.label).where(
                Annotation.dataset_id == dataset_id,
                Annotation.kind == "span",
                Annotation.source == "human",
                Annotation.author.is_not(None),
            )
        ).all(),
    )
    return [(d, a, int(start), int(end), lab) for d, a, start, end, lab in rows]


def human_labels(session: Session, dataset_id: int) -> list[tuple[int, str, str]]:
    """(document_id, author, label) of every human document label with a named author."""
    rows = cast(  # the query keeps rows with an author
        "Sequence[tuple[int, str, str]]",
        session.execute(
            select(Annotation.document_id, Annotation.author, Annotation.label).where(
                Annotation.dataset_id == dataset_id,
                Annotation.kind == "label",
                Annotation.source == "human",
                Annotation.author.is_not(None),
            )
        ).all(),
    )
    return [(d, a, lab) for d, a, lab in rows]
