"""Routing: a path (file or folder), an archive member or in-memory bytes to its sniffed kind -- archives walked
member by member (nested up to :data:`MAX_DEPTH`), other files size-checked and read -- and the public entry
points :func:`iter_ingest`, :func:`ingest_path` and :func:`ingest_bytes`.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from nlpipe.config import Settings
from nlpipe.errors import LimitError, NlpipeError
from nlpipe.readers.archives.folders import iter_folder
from nlpipe.readers.archives.guards import ArchiveBudget, FolderFile, Member, Problem
from nlpipe.readers.archives.walk import ARCHIVE_KINDS, iter_archive
from nlpipe.readers.dispatch.formats import read_document
from nlpipe.readers.dispatch.results import IngestFailure, IngestResult, Progress, Run
from nlpipe.readers.dispatch.sniff import SNIFF_BYTES, is_archive, sniff
from nlpipe.readers.textfile import fail
from nlpipe.types import Document

__all__ = ["MAX_DEPTH", "ingest_bytes", "ingest_path", "iter_ingest"]

MAX_DEPTH = 3  # archives inside archives: outer.zip!inner.tar!deeper.zip!a.txt is read, one level more is not
_OCR_MODES = ("auto", "always", "never")


def too_large(source: str, size: int | None, limit: int, what: str = "file") -> NlpipeError:
    """E178 for a document over ``limit`` bytes (``size`` None: found while reading it, the rest not read)."""
    has = f"is {size:,} bytes, more than" if size is not None else "is larger than"
    return fail(
        "E178",
        f"{what} {has} the {limit:,}-byte document limit; it was not read -- split it or raise "
        "NLPIPE_MAX_DOCUMENT_BYTES",
        file=source,
        kind=LimitError,
    )


def empty_file(source: str) -> NlpipeError:
    return fail("E176", "empty file (0 bytes); nothing to read -- remove it or check the copy", file=source)


def read_document_bytes(fh: IO[bytes], source: str, size: int, limit: int) -> bytes:
    """The whole of an open file known to be ``size`` bytes that is one document: E178 when it is, or has grown
    to, more than ``limit`` bytes (never more than ``limit + 1`` bytes read)."""
    if size > limit:
        raise too_large(source, size, limit)
    data = fh.read(limit + 1)
    if len(data) > limit:  # the file grew since it was measured
        raise too_large(source, len(data), limit)
    return data


def _archive(
    fileobj: IO[bytes],
    kind: str,
    source: str,
    name: str,
    run: Run,
    depth: int,
    budget: ArchiveBudget | None,
) -> Iterator[Document | IngestFailure]:
    if depth >= run.max_depth:
        yield run.failure(
            source,
            fail("E187", f"an archive nested more than {run.max_depth} archives deep; it was not opened -- "
                 "unpack the outer archives first", file=source, kind=LimitError),
        )  # fmt: skip
        return
    budget = budget if budget is not None else ArchiveBudget(run.limits)
    for item in iter_archive(fileobj, kind=kind, source=source, budget=budget, name=name, password=run.password):
        if isinstance(item, Member):
            yield from _from_bytes(item.data, item.source, item.name, run, depth + 1, budget)
        elif isinstance(item, Problem):
            yield run.failure(item.source, item.error, skipped=item.skipped)


def _from_bytes(
    data: bytes, source: str, name: str, run: Run, depth: int = 0, budget: ArchiveBudget | None = None
) -> Iterator[Document | IngestFailure]:
    if not data:
        yield run.failure(source, empty_file(source))
        return
    try:
        kind = sniff(data[:SNIFF_BYTES], name, io.BytesIO(data), source)
    except NlpipeError as exc:
        yield run.failure(source, exc)
        return
    if kind in ARCHIVE_KINDS:
        yield from _archive(io.BytesIO(data), kind, source, name, run, depth, budget)
        return
    limit = run.settings.max_document_bytes
    if len(data) > limit:
        yield run.failure(source, too_large(source, len(data), limit))
        return
    yield from read_document(kind, data, source, name, run)


def cannot_read(source: str, exc: OSError) -> NlpipeError:
    return fail("E195", f"cannot read the file ({exc.strerror or exc}); check that it exists and its permissions",
                file=source)  # fmt: skip


def _from_file(path: Path, source: str, run: Run) -> Iterator[Document | IngestFailure]:
    """One file on disk: archives are streamed from the file, anything else is size-checked, then read."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in the finally below, also when the consumer stops early
    except OSError as exc:
        yield run.failure(source, cannot_read(source, exc))
        return
    try:
        try:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise empty_file(source)
            head = fh.read(SNIFF_BYTES)
            fh.seek(0)
            kind = sniff(head, path.name, fh, source)
            if kind not in ARCHIVE_KINDS:
                data = read_document_bytes(fh, source, size, run.settings.max_document_bytes)
        except NlpipeError as exc:
            yield run.failure(source, exc)
            return
        except OSError as exc:
            yield run.failure(source, cannot_read(source, exc))
            return
        if kind in ARCHIVE_KINDS:
            yield from _archive(fh, kind, source, path.name, run, 0, None)
        else:
            fh.close()
            yield from read_document(kind, data, source, path.name, run)
    finally:
        fh.close()


def _from_path(path: Path, source: str, run: Run) -> Iterator[Document | IngestFailure]:
    if path.is_dir():
        for item in iter_folder(path, source=source):
            if isinstance(item, FolderFile):
                yield from _from_file(item.path, item.source, run)
            else:
                yield run.failure(item.source, item.error, skipped=item.skipped)
    else:
        yield from _from_file(path, source, run)


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(SNIFF_BYTES)
    except OSError:
        return b""


def _check_ocr(ocr: str | None, settings: Settings) -> str:
    mode = settings.ocr if ocr is None else ocr
    if mode not in _OCR_MODES:
        raise fail("E196", f"unknown OCR mode '{mode}'; use auto, always or never", field="ocr")
    return mode


def iter_ingest(
    source: Path | str | bytes,
    settings: Settings,
    *,
    name: str | None = None,
    password: str | None = None,
    ocr: str | None = None,
    progress: Progress | None = None,
    max_depth: int = MAX_DEPTH,
) -> Iterator[Document | IngestFailure]:
    """Stream the documents of a file, folder or archive (a path) or of in-memory bytes (give ``name``).

    Yields :class:`Document` items and :class:`IngestFailure` items -- :class:`IngestSkipped` (a subclass:
    check it first) for files left out on purpose. Only one file or archive member is held in memory at a
    time (plus the archives enclosing it); archives on disk are streamed from the file.

    ``password`` opens encrypted PDFs and ZipCrypto zip members; ``ocr`` (auto / always / never) overrides
    ``settings.ocr``. ``progress(source, done, total)`` is called after each file or member, ``done``
    counting them and ``total`` the number of files when known up front (a folder's files, 1 for a file that
    is not an archive; None for archives, and for a folder once its archives outgrow the count).

    Raises at call time -- before iterating -- E195 for a path that does not exist or is not a regular file
    or folder, and E196 for an unknown OCR mode; everything else is reported as a failure item.
    """
    mode = _check_ocr(ocr, settings)
    run = Run(settings=settings, password=password, ocr=mode, max_depth=max_depth, progress=progress)
    if isinstance(source, bytes | bytearray | memoryview):
        if not name:
            raise TypeError("iter_ingest() needs name= with bytes: the file name decides the type and the source")
        data = bytes(source)
        run.total = None if is_archive(data[:SNIFF_BYTES], name) else 1
        return _from_bytes(data, name, name, run)
    path = Path(source)
    src = path.as_posix()
    try:
        st = path.stat()
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise fail("E195", "no such file or folder; check the path (relative paths start from the current "
                       "folder)", file=src) from None  # fmt: skip
        raise cannot_read(src, exc) from None
    if stat.S_ISDIR(st.st_mode):
        if progress is not None:
            run.total = sum(1 for item in iter_folder(path, source=src) if isinstance(item, FolderFile))
    elif stat.S_ISREG(st.st_mode):
        run.total = None if progress is not None and is_archive(_head(path), path.name) else 1
    else:
        raise fail("E195", "not a regular file or folder (a device, FIFO or socket); name a file or folder",
                   file=src)  # fmt: skip
    return _from_path(path, src, run)


def ingest_path(
    path: Path | str,
    settings: Settings,
    *,
    password: str | None = None,
    ocr: str | None = None,
    progress: Progress | None = None,
) -> IngestResult:
    """Every document of a file, folder or archive on disk, with the failures and skipped files listed.

    Sources are the path as given (``corpus/a.txt``, ``mail.zip!inbox/1.eml``). See :func:`iter_ingest`.
    """
    result = IngestResult()
    for item in iter_ingest(Path(path), settings, password=password, ocr=ocr, progress=progress):
        result.add(item)
    return result


def ingest_bytes(
    data: bytes, name: str, settings: Settings, *, password: str | None = None, ocr: str | None = None
) -> IngestResult:
    """Every document of one in-memory file (an upload, say); ``name`` is its file name and source."""
    result = IngestResult()
    for item in iter_ingest(data, settings, name=name, password=password, ocr=ocr):
        result.add(item)
    return result
