"""Datasets, their documents, document labels and splits.

Every function takes an open ``Session`` (or a ``Store`` where it must own the transaction) and returns data;
nothing here prints. Imports are all-or-nothing: records are validated before a single row is written, and
the writes happen in one transaction.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from nlpipe.errors import ConflictError, InputError, NotFoundError
from nlpipe.store.db import Store
from nlpipe.store.schema import Annotation, Dataset, DatasetDocument, Document, PageRow, Split
from nlpipe.types import SPLITS, Record, Span
from nlpipe.types import Document as InDocument

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# Label annotations that count as the truth for training and evaluation, by precedence: a document's labels
# come from the first group that has any (model predictions never count as truth).
TRUTH_SOURCES: tuple[tuple[str, ...], ...] = (("human", "import"), ("rule",))
CHUNK = 500

Progress = Callable[[int, int], None]


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_name(name: str, what: str = "dataset") -> str:
    if not NAME_RE.match(name or ""):
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
class ImportSummary:
    dataset: str
    records: int = 0
    added: int = 0
    already_present: int = 0
    duplicates_in_file: int = 0
    labels_added: int = 0
    spans_added: int = 0
    split_counts: dict[str, int] = field(default_factory=dict)
    seeded_split: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_spans(rec: Record) -> list[Span]:
    """The record's spans, each checked against its text (E207 names the file, line and span)."""
    n = len(rec.text)
    for i, sp in enumerate(rec.spans):
        where = f"{rec.file or 'input'}, line {rec.line}"
        if not isinstance(sp.label, str) or not sp.label.strip():
            raise InputError(
                "E207", f"{where}: span {i} has no label.", file=rec.file, line=rec.line, field=f"spans[{i}]"
            )
        if not (isinstance(sp.start, int) and isinstance(sp.end, int) and 0 <= sp.start < sp.end <= n):
            raise InputError(
                "E207",
                f"{where}: span {i} ({sp.start}, {sp.end}, {sp.label!r}) is not inside the text of {n} characters "
                "(offsets are 0-based characters, end exclusive, start < end).",
                file=rec.file,
                line=rec.line,
                field=f"spans[{i}]",
            )
    return list(dict.fromkeys((sp.start, sp.end, sp.label) for sp in rec.spans))  # type: ignore[arg-type]


def _merge_records(records: Iterable[Record]) -> tuple[dict[str, dict[str, Any]], int, list[str]]:
    """Group records by text hash; merge labels and spans of repeats and keep the first split and id."""
    merged: dict[str, dict[str, Any]] = {}
    dups = 0
    warnings: list[str] = []
    for rec in records:
        if rec.split is not None and rec.split not in SPLITS:
            raise InputError(
                "E204",
                f"{rec.file or 'input'}, line {rec.line}: unknown split {rec.split!r}; use one of {', '.join(SPLITS)}.",
                file=rec.file,
                line=rec.line,
                field="split",
            )
        spans = check_spans(rec)
        key = sha256_text(rec.text)
        entry = merged.get(key)
        if entry is None:
            merged[key] = {"rec": rec, "labels": list(dict.fromkeys(rec.labels)), "spans": spans}
            continue
        dups += 1
        first: Record = entry["rec"]
        for lab in rec.labels:
            if lab not in entry["labels"]:
                entry["labels"].append(lab)
        for sp in spans:
            if sp not in entry["spans"]:
                entry["spans"].append(sp)
        if rec.split and first.split and rec.split != first.split and len(warnings) < 20:
            warnings.append(
                f"line {rec.line} repeats the text of line {first.line} with split {rec.split!r}; kept {first.split!r}"
            )
    return merged, dups, warnings


def seeded_split(keys: list[str], strata: list[str], test_fraction: float, seed: int) -> dict[str, str]:
    """Stratified train/test assignment that depends only on the keys, their strata and the seed."""
    by_stratum: dict[str, list[str]] = defaultdict(list)
    for k, s in zip(keys, strata, strict=True):
        by_stratum[s].append(k)
    out: dict[str, str] = {}
    for stratum in sorted(by_stratum):
        members = sorted(by_stratum[stratum])
        rng = np.random.default_rng([seed, int(sha256_text(stratum)[:8], 16)])
        order = rng.permutation(len(members))
        n_test = int(round(len(members) * test_fraction))
        if len(members) >= 2:
            n_test = min(max(n_test, 1), len(members) - 1)
        for rank, idx in enumerate(order):
            out[members[idx]] = "test" if rank < n_test else "train"
    return out


def import_records(
    store: Store,
    dataset: str,
    records: Iterable[Record],
    *,
    seed: int = 0,
    test_fraction: float = 0.2,
    source: str = "import",
    author: str | None = None,
    create: bool = False,
    progress: Progress | None = None,
) -> ImportSummary:
    """Store labeled records (document labels and entity spans) in ``dataset`` in one transaction.

    All records are read (and so validated by the reader) before anything is written: a bad row leaves the
    database as it was. Documents already in the store are reused (deduplicated by SHA-256 of the text);
    labels and spans already on a document (from any source) are not added twice. Documents without a split
    get a seeded, stratified train/test split, recorded in the ``splits`` table so later commands see the same one.
    """
    merged, dups, warnings = _merge_records(records)
    summary = ImportSummary(dataset=dataset, duplicates_in_file=dups, warnings=warnings)
    summary.records = len(merged) + dups
    if not merged:
        raise InputError("E205", "The import holds no records; nothing was stored.")
    total = len(merged)
    with store.session() as s:
        ds = s.scalar(select(Dataset).where(Dataset.name == dataset))
        if ds is None:
            if not create:
                get_dataset(s, dataset)  # raises the coded not-found error
            ds = create_dataset(s, dataset)
        hashes = list(merged)
        doc_ids = _ensure_documents(s, merged, hashes)
        members = _members(s, ds.id, doc_ids.values())
        split_of = dict(s.execute(select(Split.document_id, Split.split).where(Split.dataset_id == ds.id)).all())
        existing_labels: set[tuple[int, str]] = set()
        existing_spans: set[tuple[int, int | None, int | None, str]] = set()
        for chunk in _chunks(list(doc_ids.values())):
            for doc_id, kind, label, start, end in s.execute(
                select(
                    Annotation.document_id, Annotation.kind, Annotation.label, Annotation.start, Annotation.end
                ).where(Annotation.dataset_id == ds.id, Annotation.document_id.in_(chunk))
            ):
                if kind == "label":
                    existing_labels.add((doc_id, label))
                else:
                    existing_spans.add((doc_id, start, end, label))
        new_members, new_labels, new_spans, named_splits = [], [], [], []
        split_kept: Counter[tuple[str, str]] = Counter()  # (asked, kept) for documents already in a split
        to_draw: list[str] = []
        for i, h in enumerate(hashes, 1):
            entry = merged[h]
            rec: Record = entry["rec"]
            doc_id = doc_ids[h]
            if doc_id in members:
                summary.already_present += 1
            else:
                new_members.append({"dataset_id": ds.id, "document_id": doc_id, "external_id": rec.external_id})
                summary.added += 1
            for lab in entry["labels"]:
                if (doc_id, lab) not in existing_labels:
                    new_labels.append(
                        {
                            "dataset_id": ds.id,
                            "document_id": doc_id,
                            "kind": "label",
                            "label": lab,
                            "source": source,
                            "author": author,
                        }
                    )
                    existing_labels.add((doc_id, lab))
            for start, end, lab in entry["spans"]:
                if (doc_id, start, end, lab) not in existing_spans:
                    new_spans.append(
                        {
                            "dataset_id": ds.id,
                            "document_id": doc_id,
                            "kind": "span",
                            "label": lab,
                            "start": start,
                            "end": end,
                            "source": source,
                            "author": author,
                        }
                    )
                    existing_spans.add((doc_id, start, end, lab))
            if doc_id not in split_of:
                if rec.split:
                    named_splits.append(
                        {
                            "dataset_id": ds.id,
                            "document_id": doc_id,
                            "split": rec.split,
                            "assigned_by": "import",
                            "seed": None,
                        }
                    )
                    split_of[doc_id] = rec.split
                else:
                    to_draw.append(h)
            elif rec.split and rec.split != split_of[doc_id]:
                split_kept[(rec.split, split_of[doc_id])] += 1
            if progress and (i % CHUNK == 0 or i == total):
                progress(i, total)
        drawn = seeded_split(to_draw, [min(merged[h]["labels"], default="") for h in to_draw], test_fraction, seed)
        seeded_rows = [
            {"dataset_id": ds.id, "document_id": doc_ids[h], "split": sp, "assigned_by": "seeded", "seed": seed}
            for h, sp in drawn.items()
        ]
        for table, rows in (
            (DatasetDocument, new_members),
            (Annotation, new_labels + new_spans),
            (Split, named_splits + seeded_rows),
        ):
            for chunk in _chunks(rows):
                s.execute(insert(table), chunk)
        for (asked, kept), n in sorted(split_kept.items()):
            summary.warnings.append(
                f"{n} documents marked {asked!r} were already in the dataset's {kept!r} split; kept {kept!r} "
                "(a document is in one split per dataset)"
            )
        summary.labels_added = len(new_labels)
        summary.spans_added = len(new_spans)
        summary.seeded_split = len(seeded_rows)
        summary.split_counts = dict(Counter(r["split"] for r in named_splits + seeded_rows))
    return summary


def _chunks(items: list[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _members(s: Session, dataset_id: int, doc_ids: Iterable[int]) -> set[int]:
    """The subset of ``doc_ids`` already in the dataset."""
    found: set[int] = set()
    for chunk in _chunks(list(doc_ids)):
        found.update(
            s.scalars(
                select(DatasetDocument.document_id).where(
                    DatasetDocument.dataset_id == dataset_id, DatasetDocument.document_id.in_(chunk)
                )
            ).all()
        )
    return found


def _document_row(h: str, rec: Record) -> dict[str, Any]:
    doc = rec.document
    if doc is None:
        return {"sha256": h, "text": rec.text, "source": rec.file, "mime": "text/plain"}
    meta = dict(doc.meta)
    return {
        "sha256": h,
        "text": rec.text,
        "source": doc.source or rec.file,
        "mime": doc.mime,
        "meta": meta or None,
        "original_sha256": meta.get("original_sha256"),
        "n_pages": len(doc.pages) or None,
    }


def _page_rows(doc_id: int, doc: InDocument) -> list[dict[str, Any]]:
    return [
        {
            "document_id": doc_id,
            "number": p.number,
            "text": p.text,
            "width": p.width,
            "height": p.height,
            "ocr": p.ocr,
            "words": [[w.text, w.x0, w.y0, w.x1, w.y1, w.size, w.conf] for w in p.words],
        }
        for p in doc.pages
    ]


def _ensure_documents(s: Session, merged: dict[str, dict[str, Any]], hashes: list[str]) -> dict[str, int]:
    """Return the document id of every hash, inserting the documents (and their pages) not stored yet."""
    ids: dict[str, int] = {}
    for chunk in _chunks(hashes):
        ids.update(s.execute(select(Document.sha256, Document.id).where(Document.sha256.in_(chunk))).all())
    missing = [h for h in hashes if h not in ids]
    for chunk in _chunks(missing):
        s.execute(insert(Document), [_document_row(h, merged[h]["rec"]) for h in chunk])
        ids.update(s.execute(select(Document.sha256, Document.id).where(Document.sha256.in_(chunk))).all())
        pages = [row for h in chunk if (d := merged[h]["rec"].document) for row in _page_rows(ids[h], d)]
        for page_chunk in _chunks(pages):
            s.execute(insert(PageRow), page_chunk)
    return ids


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
        spans = truth_spans(
            session.execute(
                select(
                    Annotation.document_id, Annotation.label, Annotation.start, Annotation.end, Annotation.source
                ).where(Annotation.dataset_id == ds.id, Annotation.kind == "span")
            ).all()
        )
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
    counts = dict(
        session.execute(select(DatasetDocument.dataset_id, func.count()).group_by(DatasetDocument.dataset_id)).all()
    )
    return [
        {
            "name": ds.name,
            "documents": counts.get(ds.id, 0),
            "created_at": ds.created_at.isoformat(),
            "description": ds.description,
        }
        for ds in session.scalars(select(Dataset).order_by(Dataset.name))
    ]


def dataset_stats(session: Session, name: str) -> dict[str, Any]:
    from nlpipe.store.agreement import dataset_agreement, dataset_span_agreement

    ds = get_dataset(session, name)
    data = load_dataset(session, name, labeled_only=False)
    per_split: dict[str, Counter[str]] = defaultdict(Counter)
    docs_per_split: Counter[str] = Counter()
    for labs, sp in zip(data.labels, data.splits, strict=True):
        docs_per_split[sp] += 1
        per_split[sp].update(labs)
    all_labels = sorted({lab for c in per_split.values() for lab in c})
    by_source = dict(
        session.execute(
            select(Annotation.source, func.count())
            .where(Annotation.dataset_id == ds.id, Annotation.kind == "label")
            .group_by(Annotation.source)
        ).all()
    )
    n_labeled = sum(1 for labs in data.labels if labs)
    lengths = [len(t) for t in data.texts]
    return {
        "name": ds.name,
        "documents": len(data),
        "labeled": n_labeled,
        "unlabeled": len(data) - n_labeled,
        "multi_label": any(len(labs) > 1 for labs in data.labels),
        "splits": dict(sorted(docs_per_split.items())),
        "labels": {
            lab: {sp: per_split[sp][lab] for sp in sorted(per_split)}
            | {"total": sum(c[lab] for c in per_split.values())}
            for lab in all_labels
        },
        "annotations_by_source": by_source,
        "mean_chars": round(float(np.mean(lengths)), 1) if lengths else 0.0,
        # Cohen's kappa between human annotators on documents several labeled; None when none did.
        "agreement": dataset_agreement(session, ds.id),
        "span_agreement": dataset_span_agreement(session, ds.id),
    }
