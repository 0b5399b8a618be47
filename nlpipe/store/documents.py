"""Stored documents: content-addressed originals beside the database, and reading documents back with pages.

An original is written before the document rows that name it are committed, so a row never names a missing
file; an ingest killed in between leaves originals no document comes from (and ``.tmp-*`` files of a write cut
short). Every ingest run holds a shared lock on ``originals/.lock`` while it runs (:func:`originals_in_use`);
:func:`reconcile_originals` (``nlpipe doctor``) takes it exclusively, so it finds such leftovers only when no
ingest is writing (in any process), reports them (E680) and with ``fix`` deletes them.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nlpipe.errors import NotFoundError
from nlpipe.store.schema import Document, PageRow, storable_id
from nlpipe.types import Document as Doc
from nlpipe.types import Page, Word


def originals_dir(home: Path) -> Path:
    return home / "originals"


def original_path(home: Path, sha256: str) -> Path:
    return originals_dir(home) / sha256[:2] / sha256


def _save_blocks(home: Path, blocks: Iterable[bytes], created: set[str] | None) -> str:
    """Write ``blocks`` to ``originals/<first two hex digits>/<sha256>`` (once, atomically); return the hash, and
    add it to ``created`` when the file was not there before."""
    digest = hashlib.sha256()
    originals_dir(home).mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=originals_dir(home), prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as dst:
            for block in blocks:
                digest.update(block)
                dst.write(block)
        sha = digest.hexdigest()
        target = original_path(home, sha)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            if created is not None:
                created.add(sha)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return sha


def save_original(home: Path, data: bytes, *, created: set[str] | None = None) -> str:
    """Store uploaded bytes content-addressed and return their SHA-256 (added to ``created`` if new)."""
    return _save_blocks(home, [data], created)


def save_original_file(home: Path, path: Path, chunk: int = 1 << 20, *, created: set[str] | None = None) -> str:
    """Like :func:`save_original` for a file on disk, streamed (an archive may be larger than memory)."""
    with open(path, "rb") as src:
        return _save_blocks(home, iter(lambda: src.read(chunk), b""), created)


def drop_unreferenced_originals(session: Session, home: Path, shas: Iterable[str]) -> list[str]:
    """Delete the stored originals among ``shas`` that no stored document comes from (an ingest saved them, then
    stored no document of them: every one refused, or the run failed); returns the hashes deleted."""
    wanted = sorted(set(shas))
    referenced: set[str | None] = set()
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        referenced.update(session.scalars(select(Document.original_sha256).where(Document.original_sha256.in_(chunk))))
    dropped = [sha for sha in wanted if sha not in referenced]
    for sha in dropped:
        original_path(home, sha).unlink(missing_ok=True)
    return dropped


LOCK_FILE = ".lock"
TEMP_PREFIX = ".tmp-"


@contextmanager
def _originals_lock(home: Path, mode: int) -> Iterator[bool]:
    """``flock`` ``mode`` on ``originals/.lock``; yields whether it was taken (a non-blocking mode may fail)."""
    originals_dir(home).mkdir(parents=True, exist_ok=True)
    fd = os.open(originals_dir(home) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, mode)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def originals_in_use(home: Path) -> Iterator[None]:
    """Held by an ingest run while it writes originals and the documents that name them (a shared lock: runs do
    not wait for one another, only :func:`reconcile_originals` for them to end)."""
    with _originals_lock(home, fcntl.LOCK_SH):
        yield


def reconcile_originals(session: Session, home: Path, *, fix: bool = False) -> list[dict[str, Any]]:
    """The stored originals no document comes from and the unfinished writes of originals, left by an ingest
    killed before its documents were committed: one ``{code: E680, name, version, path, message, fixed}`` per
    kind (``nlpipe doctor``'s shape), deleted with ``fix``. Nothing is reported while an ingest runs (its
    originals are not committed yet): the check needs the lock no ingest holds (:func:`originals_in_use`)."""
    folder = originals_dir(home)
    if not folder.is_dir():
        return []
    found: list[dict[str, Any]] = []
    with _originals_lock(home, fcntl.LOCK_EX | fcntl.LOCK_NB) as free:
        if not free:
            return []
        temp = sorted(p for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX) and p.is_file())
        stored = {p.name: p for p in folder.glob("??/*") if p.is_file() and len(p.name) == 64}
        names = sorted(stored)
        referenced: set[str | None] = set()
        for i in range(0, len(names), 500):
            chunk = names[i : i + 500]
            referenced.update(
                session.scalars(select(Document.original_sha256).where(Document.original_sha256.in_(chunk)))
            )
        orphans = [stored[n] for n in names if n not in referenced]
        for paths, what in ((orphans, "stored originals no document comes from"), (temp, "unfinished writes")):
            if not paths:
                continue
            if fix:
                for path in paths:
                    path.unlink(missing_ok=True)
            found.append({"code": "E680", "name": "originals", "version": None, "path": str(folder), "fixed": fix,
                          "message": f"{len(paths)} {what} in {folder} (an ingest stopped before storing their "
                          f"documents), e.g. {paths[0].name}."})  # fmt: skip
    return found


def get_document(session: Session, doc_id: int) -> Doc:
    """A stored document with its pages and word boxes."""
    row = session.get(Document, doc_id) if storable_id(session, doc_id) else None
    if row is None:
        raise NotFoundError("E206", f"No document with id {doc_id}.")
    pages = [
        Page(
            number=p.number,
            text=p.text,
            width=p.width,
            height=p.height,
            ocr=p.ocr,
            words=[Word(*w) for w in (p.words or [])],
        )
        for p in session.scalars(select(PageRow).where(PageRow.document_id == doc_id).order_by(PageRow.number))
    ]
    return Doc(text=row.text, source=row.source, mime=row.mime, pages=pages, meta=dict(row.meta or {}), id=row.id)
