"""Files, folders, archives and uploads -> stored documents of a dataset: the library behind ``nlpipe ingest``.

Every input is read by :mod:`nlpipe.readers.dispatch`; each document is stored with its pages and word boxes,
and the file it came from is kept content-addressed under ``NLPIPE_HOME/originals`` (an archive member points
at its archive: its ``source`` says ``archive.zip!path/inside``). A file that cannot be read is listed in the
summary with its code and message and everything else is stored: one bad member never aborts an archive; a file
of which no document is stored leaves no original behind. Documents are written in batches, each in one
transaction, as one ingest run (:mod:`nlpipe.store.runs`): a run that stops part-way marks its dataset
incomplete until the same ingest is run again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlpipe.config import Settings
from nlpipe.errors import InputError
from nlpipe.readers.budget import checkpoint
from nlpipe.readers.dispatch.results import IngestFailure, IngestSkipped
from nlpipe.readers.dispatch.route import iter_ingest
from nlpipe.readers.dispatch.sniff import SNIFF_BYTES, is_archive
from nlpipe.store.db import Store
from nlpipe.store.documents import (
    drop_unreferenced_originals,
    originals_in_use,
    save_original,
    save_original_file,
)
from nlpipe.store.record_checks import NUL, NUL_HINT
from nlpipe.store.runs import IngestWriter
from nlpipe.types import Document, Record

BATCH = 200

log = logging.getLogger("nlpipe.ingest")

Progress = Callable[[str, int, int | None], None]


def is_archive_upload(data_head: bytes, name: str) -> bool:
    """Whether an upload is read as an archive (zip, tar, compressed file), judged as :func:`iter_ingest` judges
    it: from its first :data:`SNIFF_BYTES` bytes (``data_head``; more are ignored) and its file ``name``. A
    ``.docx`` counts as an archive here, as it does for ``iter_ingest``'s progress total."""
    return is_archive(data_head[:SNIFF_BYTES], name)


@dataclass
class IngestSummary:
    dataset: str
    documents: int = 0
    added: int = 0
    already_present: int = 0
    pages: int = 0
    ocr_pages: int = 0
    failures: list[IngestFailure] = field(default_factory=list)
    skipped: list[IngestFailure] = field(default_factory=list)
    per_file: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "documents": self.documents,
            "added": self.added,
            "already_present": self.already_present,
            "pages": self.pages,
            "ocr_pages": self.ocr_pages,
            "failures": [f.__dict__ for f in self.failures],
            "skipped": [f.__dict__ for f in self.skipped],
            "files": self.per_file,
        }


def _top_file(source: str) -> str:
    """The file on disk (or upload name) a document's source starts with."""
    return source.split("!", 1)[0].split("#line=", 1)[0]


def _record(doc: Document) -> Record:
    meta = doc.meta
    labels = [str(x) for x in meta.get("labels") or []]
    return Record(
        text=doc.text,
        labels=labels,
        split=meta.get("split"),
        external_id=meta.get("id") or doc.source,
        file=doc.source,
        document=doc,
    )


class _Batcher:
    """Collects documents and writes them ``BATCH`` at a time, each batch in its own transaction, as one ingest run
    (:class:`~nlpipe.store.runs.IngestWriter`); keeps the originals the run saves."""

    def __init__(self, store: Store, settings: Settings, dataset: str, summary: IngestSummary, kind: str) -> None:
        self.store, self.settings, self.summary = store, settings, summary
        self.writer = IngestWriter(store, dataset, kind=kind, seed=settings.seed, test_fraction=settings.test_fraction)
        self.pending: list[Record] = []
        self.created: set[str] = set()  # originals this run wrote that were not stored before

    def add(self, doc: Document) -> None:
        self.pending.append(_record(doc))
        s = self.summary
        s.documents += 1
        s.pages += len(doc.pages)
        s.ocr_pages += sum(1 for p in doc.pages if p.ocr)
        entry = s.per_file.setdefault(_top_file(doc.source or ""), {"documents": 0, "failures": 0})
        entry["documents"] += 1
        if len(self.pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        self.writer.write(self.pending)
        self.summary.added = self.writer.summary.added
        self.summary.already_present = self.writer.summary.already_present
        self.pending = []

    @contextmanager
    def run(self) -> Iterator[None]:
        """The ingest run: recorded as succeeded when the block ends, as failed when it raises (the dataset then
        shows as incomplete). Either way the originals it saved that no stored document comes from are deleted:
        a refused file is not kept. The run holds :func:`~nlpipe.store.documents.originals_in_use` throughout, so
        ``nlpipe doctor`` never takes its uncommitted originals for a killed run's leftovers."""
        with originals_in_use(self.settings.home):
            try:
                yield
                self.flush()
            except BaseException as exc:
                self.writer.fail(exc)
                raise
            else:
                self.writer.finish()
            finally:
                self._drop_originals()

    def _drop_originals(self) -> None:
        if not self.created:
            return
        try:
            with self.store.session() as s:
                drop_unreferenced_originals(s, self.settings.home, self.created)
        except Exception as exc:  # never hide the run's own error; the files are only kept a while longer
            log.warning("could not check the originals this ingest saved: %s", exc)


def _consume(items: Iterable[Document | IngestFailure], batcher: _Batcher, original: Callable[[str], str]) -> None:
    summary = batcher.summary
    for item in items:
        if isinstance(item, IngestSkipped):
            summary.skipped.append(item)
        elif isinstance(item, IngestFailure):
            summary.failures.append(item)
            summary.per_file.setdefault(_top_file(item.source), {"documents": 0, "failures": 0})["failures"] += 1
        elif NUL in item.text:  # a failure of this file, not of the run (E211 for an imported record)
            failure = IngestFailure(item.source or "input", "E211", f"{item.source}: the text holds {NUL_HINT}")
            summary.failures.append(failure)
            summary.per_file.setdefault(_top_file(failure.source), {"documents": 0, "failures": 0})["failures"] += 1
        else:
            item.meta["original_sha256"] = original(_top_file(item.source or ""))
            batcher.add(item)


def ingest_paths(
    store: Store,
    settings: Settings,
    dataset: str,
    paths: Iterable[Path],
    *,
    password: str | None = None,
    ocr: str | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Store every document found in ``paths`` (files, folders, archives) in ``dataset`` (created if missing).

    Documents are written as they are read, a batch per transaction, as one ingest run (:mod:`nlpipe.store.runs`):
    a run that stops part-way leaves the dataset marked incomplete until the same ingest runs again to the end.
    A file's original is kept only when a document of it is stored.
    """
    summary = IngestSummary(dataset=dataset)
    batcher = _Batcher(store, settings, dataset, summary, "ingest")
    saved: dict[str, str] = {}

    def original(path: str) -> str:
        if path not in saved:
            saved[path] = save_original_file(settings.home, Path(path), created=batcher.created)
        return saved[path]

    with batcher.run():
        for path in paths:
            batcher.writer.add_input(str(Path(path).resolve()), str(path))
            _consume(
                iter_ingest(Path(path), settings, password=password, ocr=ocr, progress=progress), batcher, original
            )
    return summary


def ingest_uploads(
    store: Store,
    settings: Settings,
    dataset: str,
    uploads: Iterable[tuple[str, bytes]],
    *,
    password: str | None = None,
    ocr: str | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Store the documents of uploaded files, given as (file name, bytes) pairs.

    Written as :func:`ingest_paths` writes them (one ingest run, a batch per transaction); an upload's original
    is kept only when a document of it is stored, so a refused upload (too large, of an unknown type, a bomb,
    encrypted...) leaves nothing on disk.

    ``progress(source, done, total)`` is called after each upload that is not an archive and after each archive
    member, whatever became of it (stored, failed or skipped; a CSV or JSON Lines file counts once however many
    rows it holds). ``done`` counts them over all uploads so far. ``total`` is what ``done`` will end at, when
    that is known: ``uploads`` must be a sequence (a list: counted and sniffed up front, see
    :func:`is_archive_upload`) and no upload being read or still to be read may be an archive -- so with no
    archive at all it is the number of uploads from the first call on, and after the last archive it is exact
    again. Otherwise it is None (always, until the end, when ``uploads`` is an iterator). If the last call
    had ``total`` None, one more call once everything is read repeats ``done`` with ``total`` equal to it.
    """
    summary = IngestSummary(dataset=dataset)
    batcher = _Batcher(store, settings, dataset, summary, "upload")
    counter = _UploadProgress(progress, uploads) if progress is not None else None
    with batcher.run():
        for index, (name, data) in enumerate(uploads):
            batcher.writer.add_input("sha256:" + hashlib.sha256(data).hexdigest(), name)
            hook = counter.hook(index) if counter is not None else None
            items = iter_ingest(data, settings, name=name, password=password, ocr=ocr, progress=hook)
            _consume(items, batcher, _saved_once(settings, data, batcher.created))
    if counter is not None:
        counter.close()
    return summary


def _saved_once(settings: Settings, data: bytes, created: set[str]) -> Callable[[str], str]:
    """The ``original`` of :func:`_consume` for an upload: every document of it comes from the same file, stored
    when the first one comes."""
    sha: list[str] = []

    def original(_source: str) -> str:
        if not sha:
            sha.append(save_original(settings.home, data, created=created))
        return sha[0]

    return original


class _UploadProgress:
    """Turns :func:`iter_ingest`'s per-upload progress into counts over all uploads (see :func:`ingest_uploads`)."""

    def __init__(self, progress: Progress, uploads: Iterable[tuple[str, bytes]]) -> None:
        self.progress = progress
        self.done = 0  # files and members read in all uploads so far
        self.last: tuple[str, int | None] | None = None  # (source, total) of the last call made
        # later[i]: how many uploads follow upload i when none of them is an archive, else None (unknown)
        self.later: list[int | None] | None = None
        if isinstance(uploads, Sequence):
            self.later = [None] * len(uploads)
            plain_after: int | None = 0
            for i in range(len(uploads) - 1, -1, -1):
                self.later[i] = plain_after
                name, data = uploads[i]
                if plain_after is not None and is_archive_upload(data, name):
                    plain_after = None
                elif plain_after is not None:
                    plain_after += 1

    def hook(self, index: int) -> Progress:
        before = self.done
        later = self.later[index] if self.later is not None else None

        def tick(source: str, done: int, total: int | None) -> None:
            # total: 1 for an upload that is not an archive, None for an archive (its member count is unknown)
            self.done = before + done
            exact = before + total + later if total is not None and later is not None else None
            self.last = (source, exact)
            self.progress(source, self.done, exact)

        return tick

    def close(self) -> None:
        if self.last is not None and self.last[1] is None:
            self.last = (self.last[0], self.done)
            self.progress(self.last[0], self.done, self.done)


def documents_for_prediction(
    source: Path | bytes,
    settings: Settings,
    *,
    name: str | None = None,
    password: str | None = None,
    ocr: str | None = None,
    skipped: list[IngestFailure] | None = None,
) -> tuple[list[Document], list[IngestFailure]]:
    """The documents of one file or upload (an archive gives several), for prediction: nothing is stored.

    Returns the documents and the failures; the files left out on purpose are added to ``skipped`` when it is
    given. Raises the first failure as a coded error when the input yields no document at all. The work budget
    (:mod:`nlpipe.readers.budget`) is checked after each file.
    """
    docs: list[Document] = []
    problems: list[IngestFailure] = []
    for item in iter_ingest(source, settings, name=name, password=password, ocr=ocr):
        if isinstance(item, IngestFailure):
            problems.append(item)
        else:
            docs.append(item)
        checkpoint(str(name or source))
    if skipped is not None:
        skipped.extend(p for p in problems if isinstance(p, IngestSkipped))
    failures = [p for p in problems if not isinstance(p, IngestSkipped)]
    if not docs:
        first = failures[0] if failures else (problems[0] if problems else None)
        if first is None:
            raise InputError("E198", f"{name or source!s}: no document found to predict on.", file=str(name or source))
        raise InputError(first.code, first.message, file=first.source)
    return docs, failures
