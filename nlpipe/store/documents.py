"""Stored documents: content-addressed originals beside the database, and reading documents back with pages."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

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
