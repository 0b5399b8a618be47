"""Importing labeled records into a dataset.

Imports stream: records are validated, deduplicated and written in batches (bulk writes, COPY on PostgreSQL:
``nlpipe.store.bulk``), all in one transaction, so they are still all-or-nothing. Documents whose records name no
split get the seeded split of :mod:`nlpipe.store.splits`.
"""

from __future__ import annotations

import gc
import hashlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from nlpipe.errors import InputError
from nlpipe.store.bulk import BulkWriter
from nlpipe.store.datasets import CHUNK, create_dataset, get_dataset
from nlpipe.store.db import Store
from nlpipe.store.record_checks import SpanKey, check_spans, check_split, check_text
from nlpipe.store.schema import Annotation, Dataset, DatasetDocument, Document, PageRow, Split
from nlpipe.store.splits import draw_splits
from nlpipe.types import SPLITS, Record
from nlpipe.types import Document as InDocument

BATCH = 5000  # records an import validates, deduplicates and writes together
LOOKUP = 1000  # ids per IN (...) look-up

Progress = Callable[[int, int | None], None]  # (records read, total: None until the last record is read)
# Texts first seen in a batch: SHA-256 digest -> (first record, merged labels, merged spans).
_Fresh = dict[bytes, tuple[Record, list[str], list[SpanKey]]]
# Repeats of earlier batches' texts: position in _Seen -> (labels, spans) they bring.
_Again = dict[int, tuple[list[str], list[SpanKey]]]


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


class _Seen:
    """What an import keeps per distinct text while it streams: about 230 bytes each (the digest as a dict key,
    two dozen bytes in arrays), 230 MB for a million texts."""

    def __init__(self) -> None:
        self.pos: dict[bytes, int] = {}  # SHA-256 digest -> position in the arrays below
        self.digests = bytearray()
        self.doc_ids = array("q")
        self.lines = array("q")  # line of the first record with this text (-1: none)
        self.splits = array("b")  # split the first record named: index into _SPLIT_CODES
        self.strata = array("q")  # drawn split: index of the smallest label in self.names (-1: none); -2: not drawn
        self.names: list[str] = []
        self.codes: dict[str, int] = {}

    def add(self, digest: bytes, doc_id: int, line: int | None, split: str | None, labels: list[str] | None) -> None:
        self.pos[digest] = len(self.doc_ids)
        self.digests += digest
        self.doc_ids.append(doc_id)
        self.lines.append(-1 if line is None else line)
        self.splits.append(_SPLIT_INDEX[split])
        self.strata.append(-2 if labels is None else self._code(min(labels, default=None)))

    def line(self, pos: int) -> int | None:
        return None if self.lines[pos] < 0 else self.lines[pos]

    def split(self, pos: int) -> str | None:
        return _SPLIT_CODES[self.splits[pos]]

    def lower_stratum(self, pos: int, labels: list[str]) -> None:
        """A repeat brought ``labels``: a drawn document's stratum is its smallest label over all repeats."""
        code = self.strata[pos]
        if code == -2 or not labels:
            return
        low = min(labels)
        if code == -1 or low < self.names[code]:
            self.strata[pos] = self._code(low)

    def _code(self, label: str | None) -> int:
        if not label:  # no label: the stratum "" (as seeded_split's callers give it)
            return -1
        if label not in self.codes:
            self.codes[label] = len(self.names)
            self.names.append(label)
        return self.codes[label]


_SPLIT_CODES: tuple[str | None, ...] = (None, *SPLITS)
_SPLIT_INDEX = {split: i for i, split in enumerate(_SPLIT_CODES)}


class _Import:
    """One streaming import into one dataset, batch by batch, inside the caller's transaction."""

    #: Whether other writers may add the same documents to the dataset meanwhile (see StreamingImport).
    concurrent = False

    def __init__(self, s: Session, dataset_id: int, summary: ImportSummary, source: str, author: str | None) -> None:
        self.ds, self.summary, self.source, self.author = dataset_id, summary, source, author
        self.seen = _Seen()
        self.drawn = 0  # positions in self.seen before this one have their split written (or named one)
        self.split_kept: Counter[tuple[str, str]] = Counter()  # (asked, kept) for documents already in a split
        self.split_counts: Counter[str] = Counter()
        self.warnings: list[str] = []
        self.bind(s)

    def bind(self, s: Session) -> None:
        """Write the next batches in ``s``'s transaction (an ingest commits each batch in its own)."""
        self.s = s
        self.writer = BulkWriter(s)
        # Only a dataset that already has documents needs membership, split and annotation look-ups, and only for
        # documents stored before the batch (a document the batch inserts is in no dataset yet).
        self.had_members = (
            s.scalar(select(DatasetDocument.id).where(DatasetDocument.dataset_id == self.ds).limit(1)) is not None
        )

    def add(self, batch: list[Record]) -> None:
        """Validate, deduplicate and write one batch of records."""
        fresh, again = self._deduplicate(batch)
        digests = list(fresh)
        doc_ids, inserted = self._documents(digests, [fresh[d][0] for d in digests])
        stored_before = [d for d in doc_ids if d not in inserted]
        members = self._members(stored_before)
        new_members, named = self._place(fresh, digests, doc_ids, members, self._splits(stored_before))
        wanted = [(doc_id, fresh[d][1], fresh[d][2]) for d, doc_id in zip(digests, doc_ids, strict=True)]
        wanted += [(self.seen.doc_ids[pos], labs, sps) for pos, (labs, sps) in again.items()]
        # Annotations can exist only on documents that were in the dataset already or came earlier in this import.
        label_rows, span_rows = self._annotation_rows(
            wanted, [d for d in doc_ids if d in members] + [w[0] for w in wanted[len(doc_ids) :]]
        )
        w, skip = self.writer, self.concurrent
        w.insert(
            DatasetDocument.__table__, ("dataset_id", "document_id", "external_id"), new_members, skip_existing=skip
        )
        w.insert(Annotation.__table__, _ANNOTATION_COLUMNS, label_rows + span_rows)
        w.insert(Split.__table__, _SPLIT_COLUMNS, named, skip_existing=skip)
        self.summary.labels_added += len(label_rows)
        self.summary.spans_added += len(span_rows)

    def _deduplicate(self, batch: list[Record]) -> tuple[_Fresh, _Again]:
        """Check each record and sort the batch's texts into those first seen in it (with their first record,
        labels and spans) and repeats of earlier batches' texts (by position in ``self.seen``), merging the labels
        and spans of repeats into the first occurrence's."""
        seen, summary = self.seen, self.summary
        fresh: _Fresh = {}
        again: _Again = {}
        for rec in batch:
            summary.records += 1
            check_text(rec)
            check_split(rec)
            spans = check_spans(rec)
            digest = hashlib.sha256(rec.text.encode("utf-8")).digest()
            pos = seen.pos.get(digest)
            if pos is None:
                entry = fresh.get(digest)
                if entry is None:
                    labels = rec.labels
                    fresh[digest] = (rec, list(dict.fromkeys(labels)) if len(labels) > 1 else list(labels), spans)
                    continue
                first_line, first_split = entry[0].line, entry[0].split
                labels, merged_spans = entry[1], entry[2]
            else:
                first_line, first_split = seen.line(pos), seen.split(pos)
                labels, merged_spans = again.setdefault(pos, ([], []))
                seen.lower_stratum(pos, rec.labels)
            summary.duplicates_in_file += 1
            for lab in rec.labels:
                if lab not in labels:
                    labels.append(lab)
            for sp in spans:
                if sp not in merged_spans:
                    merged_spans.append(sp)
            if rec.split and first_split and rec.split != first_split and len(self.warnings) < 20:
                self.warnings.append(
                    f"line {rec.line} repeats the text of line {first_line} with split {rec.split!r}; "
                    f"kept {first_split!r}"
                )
        return fresh, again

    def _place(
        self, fresh: _Fresh, digests: list[bytes], doc_ids: list[int], members: set[int], split_of: dict[int, str]
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Add the batch's new texts to the dataset and to ``self.seen``: (membership rows of the documents not in
        the dataset yet, split rows of those whose record names a split they do not have; ``split_of`` holds the
        splits they have). The others without a split are drawn later (:meth:`draw`)."""
        new_members: list[tuple[Any, ...]] = []
        named: list[tuple[Any, ...]] = []
        for digest, doc_id in zip(digests, doc_ids, strict=True):
            rec, labels, _ = fresh[digest]
            if doc_id in members:
                self.summary.already_present += 1
            else:
                new_members.append((self.ds, doc_id, rec.external_id))
                self.summary.added += 1
            drawn = None
            kept = split_of.get(doc_id)
            if kept is None:
                if rec.split:
                    named.append((self.ds, doc_id, rec.split, "import", None))
                    self.split_counts[rec.split] += 1
                else:
                    drawn = labels
            elif rec.split and rec.split != kept:
                self.split_kept[(rec.split, kept)] += 1
            self.seen.add(digest, doc_id, rec.line, rec.split, drawn)
        return new_members, named

    def _annotation_rows(
        self, wanted: list[tuple[int, list[str], list[SpanKey]]], known: list[int]
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Annotation rows (labels, spans) for the ``wanted`` (document id, labels, spans) that the document does
        not have yet; only the ``known`` documents (in the dataset before this batch) are looked up."""
        labels_there, spans_there = self._annotations(known)
        label_rows: list[tuple[Any, ...]] = []
        span_rows: list[tuple[Any, ...]] = []
        for doc_id, labels, spans in wanted:
            for lab in labels:
                if (doc_id, lab) not in labels_there:
                    labels_there.add((doc_id, lab))
                    label_rows.append((self.ds, doc_id, "label", lab, None, None, self.source, self.author))
            for start, end, lab in spans:
                if (doc_id, start, end, lab) not in spans_there:
                    spans_there.add((doc_id, start, end, lab))
                    span_rows.append((self.ds, doc_id, "span", lab, start, end, self.source, self.author))
        return label_rows, span_rows

    def draw(self, test_fraction: float, seed: int) -> None:
        """Draw the seeded split of the documents placed since the last draw whose records named none, together.
        An import draws once, at the end; an ingest draws each batch's, in its transaction."""
        seen, start = self.seen, self.drawn
        self.drawn = len(seen.doc_ids)
        strata = np.array(seen.strata[start:], dtype=np.int64)  # copies: seen's arrays keep growing
        todo = np.flatnonzero(strata != -2)
        digests = np.frombuffer(bytes(seen.digests[start * 32 :]), dtype=np.uint8).reshape(-1, 32)[todo]
        is_test = draw_splits(digests, strata[todo], seen.names, test_fraction, seed)
        doc_ids = np.array(seen.doc_ids[start:], dtype=np.int64)[todo]
        for pos in todo.tolist():
            seen.strata[start + pos] = -2  # drawn: a later repeat of the text keeps this split
        self.writer.insert(
            Split.__table__,
            _SPLIT_COLUMNS,
            (
                (self.ds, d, "test" if t else "train", "seeded", seed)
                for d, t in zip(doc_ids.tolist(), is_test.tolist(), strict=True)
            ),
            skip_existing=self.concurrent,
        )
        n_test = int(is_test.sum())
        for split, n in (("train", len(todo) - n_test), ("test", n_test)):
            if n:
                self.split_counts[split] += n
        self.summary.seeded_split += len(todo)

    def finish(self, test_fraction: float, seed: int) -> None:
        """Draw the seeded split of the documents whose records named none, and fill in the summary."""
        self.draw(test_fraction, seed)
        summary = self.summary
        summary.split_counts = dict(self.split_counts)
        summary.warnings = self.warnings
        for (asked, kept), n in sorted(self.split_kept.items()):
            summary.warnings.append(
                f"{n} documents marked {asked!r} were already in the dataset's {kept!r} split; kept {kept!r} "
                "(a document is in one split per dataset)"
            )

    def _documents(self, digests: list[bytes], recs: list[Record]) -> tuple[list[int], set[int]]:
        """The document id of every digest, inserting the documents (and their pages) not stored yet; and the ids
        of those inserted.

        All of the batch's texts go to one bulk insert that skips those already stored (``ON CONFLICT DO
        NOTHING``; on PostgreSQL through COPY into a temporary table) and reports the ids of the new rows; only
        the texts stored before are then looked up, so an import of new texts makes no look-ups at all.
        """
        w = self.writer
        hexes = [d.hex() for d in digests]
        rows = (_document_row(h, rec, w) for h, rec in zip(hexes, recs, strict=True))
        ids = w.insert_new(Document.__table__, _DOCUMENT_COLUMNS, rows, key="sha256")
        new = [i for i, h in enumerate(hexes) if h in ids]
        self._lookup([h for h in hexes if h not in ids], ids)
        pages = [row for i in new if (d := recs[i].document) for row in _page_rows(ids[hexes[i]], d)]
        for chunk in _chunks(pages):
            self.s.execute(insert(PageRow), chunk)
        return [ids[h] for h in hexes], {ids[hexes[i]] for i in new}

    def _lookup(self, hexes: list[str], ids: dict[str, int]) -> None:
        for chunk in _chunks(hexes, LOOKUP):
            ids.update(
                self.writer.conn.execute(select(Document.sha256, Document.id).where(Document.sha256.in_(chunk))).all()
            )

    def _members(self, doc_ids: list[int]) -> set[int]:
        """The subset of ``doc_ids`` already in the dataset."""
        found: set[int] = set()
        if self.had_members:
            dd = DatasetDocument
            for chunk in _chunks(doc_ids, LOOKUP):
                found.update(
                    self.writer.conn.scalars(
                        select(dd.document_id).where(dd.dataset_id == self.ds, dd.document_id.in_(chunk))
                    ).all()
                )
        return found

    def _splits(self, doc_ids: list[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        if self.had_members:
            for chunk in _chunks(doc_ids, LOOKUP):
                found.update(
                    self.writer.conn.execute(
                        select(Split.document_id, Split.split).where(
                            Split.dataset_id == self.ds, Split.document_id.in_(chunk)
                        )
                    ).all()
                )
        return found

    def _annotations(
        self, doc_ids: list[int]
    ) -> tuple[set[tuple[int, str]], set[tuple[int, int | None, int | None, str]]]:
        labels: set[tuple[int, str]] = set()
        spans: set[tuple[int, int | None, int | None, str]] = set()
        for chunk in _chunks(sorted(set(doc_ids)), LOOKUP):
            for doc_id, kind, label, start, end in self.writer.conn.execute(
                select(
                    Annotation.document_id, Annotation.kind, Annotation.label, Annotation.start, Annotation.end
                ).where(Annotation.dataset_id == self.ds, Annotation.document_id.in_(chunk))
            ):
                if kind == "label":
                    labels.add((doc_id, label))
                else:
                    spans.add((doc_id, start, end, label))
        return labels, spans


class StreamingImport(_Import):
    """An ingest's import: its batches, each committed on its own, may race other ingests into the same dataset
    (concurrent uploads of one text): membership and split rows another writer committed first are kept as they
    are instead of breaking the unique constraints."""

    concurrent = True


_DOCUMENT_COLUMNS = ("sha256", "text", "source", "mime", "meta", "original_sha256", "n_pages")
_ANNOTATION_COLUMNS = ("dataset_id", "document_id", "kind", "label", "start", "end", "source", "author")
_SPLIT_COLUMNS = ("dataset_id", "document_id", "split", "assigned_by", "seed")


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

    Records are streamed: read, validated, deduplicated and written ``BATCH`` at a time, so memory holds one
    batch plus about 230 bytes per distinct text (its SHA-256 digest, document id, first line and split,
    smallest label: :class:`_Seen`), not the records. Everything happens in one transaction: a bad record (or
    a reader error) anywhere rolls back the whole import and leaves the database as it was. Documents already
    in the store are reused (deduplicated by SHA-256 of the text); repeats of a text merge their labels and
    spans and keep the first record's split and id; labels and spans already on a document (from any source)
    are not added twice. Documents without a split get a seeded, stratified train/test split
    (:func:`seeded_split`, drawn once the last record is read), recorded in the ``splits`` table so later
    commands see the same one.
    ``progress(records read, total)`` is called after each batch with ``total`` None, and at the end with the
    final count as total.
    """
    it = iter(records)
    first = next(it, None)
    if first is None:
        raise InputError("E205", "The import holds no records; nothing was stored.")
    summary = ImportSummary(dataset=dataset)
    with store.session() as s:
        ds = s.scalar(select(Dataset).where(Dataset.name == dataset))
        if ds is None:
            if not create:
                get_dataset(s, dataset)  # raises the coded not-found error
            ds = create_dataset(s, dataset)
        job = _Import(s, ds.id, summary, source, author)
        with job.writer.large_cache(), _collector_aside():
            batch = [first]
            del first  # the records of a written batch must not stay referenced
            for rec in it:
                batch.append(rec)
                if len(batch) >= BATCH:
                    job.add(batch)
                    batch = []
                    if progress:
                        progress(summary.records, None)
            if batch:
                job.add(batch)
            job.finish(test_fraction, seed)
        if progress:
            progress(summary.records, summary.records)
    return summary


@contextmanager
def _collector_aside() -> Iterator[None]:
    """Keep the objects alive before the import out of the cyclic garbage collector's full passes while it runs.

    Each batch's records live long enough to reach the oldest generation, so full collections come every few
    batches, and each one walks every object of the process (the libraries loaded, a server's state): a fifth of
    a million-document import's time. ``gc.freeze()`` sets those objects aside (they are not freed or changed);
    ``gc.unfreeze()`` hands them back to the collector afterwards.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _chunks(items: list[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _document_row(h: str, rec: Record, writer: BulkWriter) -> tuple[Any, ...]:
    """A ``documents`` row in ``_DOCUMENT_COLUMNS`` order."""
    doc = rec.document
    if doc is None:
        return (h, rec.text, rec.file, "text/plain", None, None, None)
    meta = dict(doc.meta)
    return (
        h,
        rec.text,
        doc.source or rec.file,
        doc.mime,
        writer.json(meta or None),
        meta.get("original_sha256"),
        len(doc.pages) or None,
    )


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
