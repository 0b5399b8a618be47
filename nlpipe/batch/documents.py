"""The worker's side of a unit: :func:`unit_document` turns one unit into the document a model predicts on.

Files and archive members go through the readers of :mod:`nlpipe.readers.dispatch` by their sniffed kind, exactly
as ingest reads them (size limits, PDF passwords and OCR, images by OCR, DOCX, HTML, e-mail, text with encoding
detection); mbox messages through the e-mail reader; WARC HTML through trafilatura's main-text extraction, which
drops navigation, footers and other boilerplate (the page's visible text, by the HTML reader, when it finds none).
A unit that cannot be read raises the reader's coded error.
"""

from __future__ import annotations

import codecs
import io
import os
from pathlib import Path
from typing import IO, Any

from nlpipe.batch.problems import coded_error, image_off, too_large
from nlpipe.batch.units import SourceOptions, Unit
from nlpipe.config import Settings
from nlpipe.readers.archives.guards import ArchiveBudget, ArchiveLimits
from nlpipe.readers.archives.walk import ARCHIVE_KINDS
from nlpipe.readers.archives.zip_directory import open_entry, read_direct
from nlpipe.readers.archives.zips import entry_error, read_entry
from nlpipe.readers.dispatch.formats import read_document
from nlpipe.readers.dispatch.results import IngestFailure, Run
from nlpipe.readers.dispatch.route import MAX_DEPTH, cannot_read, empty_file, read_document_bytes
from nlpipe.readers.dispatch.sniff import SNIFF_BYTES, sniff, unsupported
from nlpipe.readers.text import mail, markup, plain
from nlpipe.readers.text.plain import MIME_TEXT, normalise_newlines
from nlpipe.readers.textfile import fail
from nlpipe.types import Document

__all__ = ["unit_document"]

#: trafilatura's options: the main text only (no comments, no metadata), tables kept, no deduplication across
#: documents (it would make a document's text depend on the ones before it), nothing fetched.
_EXTRACT: dict[str, Any] = {"include_comments": False, "include_tables": True, "deduplicate": False,
                            "with_metadata": False, "output_format": "txt", "url": None}  # fmt: skip


def _with_meta(doc: Document, unit: Unit) -> Document:
    doc.meta.update(unit.meta)
    return doc


def _read_file(path: Path, source: str, limit: int) -> bytes:
    """A file's bytes, refused before reading when empty (E176) or over the document limit (E178)."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise empty_file(source)
            return read_document_bytes(fh, source, size, limit)
    except OSError as exc:
        raise cannot_read(source, exc) from None


def _plain_utf8(data: bytes) -> str | None:
    """What :func:`~nlpipe.readers.text.plain.read_plain` makes of ``data`` when that is plain UTF-8 text without a
    byte-order mark, NUL bytes or carriage returns and not blank (the common case, at half its cost); None otherwise
    (read_plain decides)."""
    if data.startswith(_BOMS) or b"\x00" in data or b"\r" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if text.strip() else None


_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # the UTF-32 marks start like UTF-16's


def _parsed(
    data: bytes, name: str, unit: Unit, settings: Settings, options: SourceOptions, kind: str | None = None
) -> Document:
    """One file's bytes through the reader of its kind (sniffed unless given); a CSV or JSON Lines file here (an
    archive member) is text."""
    source = unit.id
    kind = kind or sniff(data[:SNIFF_BYTES], name, io.BytesIO(data), source)
    if kind in ARCHIVE_KINDS:
        raise unsupported(name, "an archive here is not opened (it is read as an input, member by member)", source)
    if kind in ("csv", "jsonl"):
        kind = "text"
    if kind in ("text", "markdown"):  # what read_document does for them, without its run and generator
        mime = plain.MIME_MARKDOWN if kind == "markdown" else plain.MIME_TEXT
        text = _plain_utf8(data)
        if text is not None:
            return Document(text=text, source=source, mime=mime, meta=dict(unit.meta))
        return _with_meta(plain.read_plain(data, source=source, mime=mime), unit)
    run = Run(settings=settings, password=options.password, ocr=options.ocr, max_depth=MAX_DEPTH, progress=None)
    for item in read_document(kind, data, source, name, run):
        if isinstance(item, IngestFailure):
            raise coded_error(item.code, item.message, source=item.source)
        return _with_meta(item, unit)
    raise fail("E177", "no text found; check the file has content", file=source)  # pragma: no cover - one item


def _member_document(
    unit: Unit, settings: Settings, options: SourceOptions, archives: dict[str, IO[bytes]] | None
) -> Document:
    """A zip member read here from its archive by its directory entry (capped at its declared size: the reader
    counted that against the archive's total), then parsed by its kind. An archive not named as one is refused."""
    entry, source = unit.member, unit.id
    assert entry is not None and unit.path is not None, "a member unit names its archive and entry"
    try:
        fh = archives.get(unit.path) if archives is not None else None
        if fh is None:
            fh = open(unit.path, "rb")  # noqa: SIM115 - kept in ``archives`` (closed by its owner) or closed below
            if archives is not None:
                archives[unit.path] = fh
    except OSError as exc:
        raise cannot_read(source, exc) from None
    try:
        try:
            data = read_direct(fh, entry)  # small stored or deflated members, at a third of the cost
        except Exception as exc:
            raise entry_error(exc, entry, source) from None
        if data is None:
            budget = ArchiveBudget(ArchiveLimits.for_batch(settings))
            data = read_entry(lambda pwd: open_entry(fh, entry, pwd), entry, source, budget, options.password)
    finally:
        if archives is None:
            fh.close()
    name = entry.filename
    kind = sniff(data[:SNIFF_BYTES], name, io.BytesIO(data), source)
    if kind in ARCHIVE_KINDS:
        raise unsupported(name, "an archive inside an archive is opened only when its name says so (.zip, .tar, "
                          ".tar.gz, .tgz, .gz, .bz2, .xz); rename it, or unpack it first", source)  # fmt: skip
    if kind == "image" and options.ocr == "never":
        raise image_off(source)
    return _parsed(data, name, unit, settings, options, kind)


def _html_document(unit: Unit) -> Document:
    """A WARC response's main text by trafilatura; the HTML reader's visible text when trafilatura finds none."""
    import trafilatura

    data = unit.data or b""
    html: str | bytes = data
    charset = unit.meta.get("charset")
    if charset:
        try:
            html = data.decode(charset)
        except (LookupError, UnicodeError):
            html = data
    try:
        text = trafilatura.extract(html, **_EXTRACT)
    except Exception:  # lxml's errors on markup it cannot parse: the plain reader below decides
        text = None
    if text and text.strip():
        meta = {**unit.meta, "extractor": "trafilatura"}
        return Document(text=normalise_newlines(text).strip(), source=unit.id, mime=markup.MIME_HTML, meta=meta)
    doc = markup.read_html(html, source=unit.id)
    doc.meta["extractor"] = "html"
    return _with_meta(doc, unit)


def unit_document(
    unit: Unit, settings: Settings, options: SourceOptions, archives: dict[str, IO[bytes]] | None = None
) -> Document:
    """The document of one unit, read in the worker (another process): its ``source`` is the unit's id, its
    ``meta`` the reader's with the unit's added, its ``pages`` set for PDFs and images.

    ``archives`` keeps the zip files that ``member`` units are read from open between calls (path -> file; the
    caller closes them); without it each member opens its archive and closes it again.

    ``text`` is used as it is; ``member`` is read from its archive, then, like ``file`` and ``bytes``, parsed by
    its sniffed kind as ingest parses it (a CSV or JSON Lines archive member as plain text); ``email`` by the
    e-mail reader; ``html`` by trafilatura (see the module docstring). An ``error`` or ``skipped`` unit raises its
    code, and so does anything unreadable (the readers' codes: E175-E198, E150-E167 for PDFs and OCR, E108 for
    undecodable text...).
    """
    kind = unit.kind
    if kind == "text":
        return Document(text=unit.text or "", source=unit.id, mime=MIME_TEXT, meta=dict(unit.meta))
    if kind == "file":
        path = Path(unit.path or unit.source)
        return _parsed(_read_file(path, unit.id, settings.max_document_bytes), path.name, unit, settings, options)
    if kind == "member":
        return _member_document(unit, settings, options, archives)
    if kind == "bytes":
        data = unit.data or b""
        if len(data) > settings.max_document_bytes:
            raise too_large(unit.id, len(data), settings.max_document_bytes)
        return _parsed(data, unit.id.rsplit("!", 1)[-1], unit, settings, options)
    if kind == "email":
        return _with_meta(mail.read_eml(unit.data or b"", source=unit.id), unit)
    if kind == "html":
        return _html_document(unit)
    code, message = unit.error or ("E198", f"{unit.id}: no document to read")
    raise coded_error(code, message, source=unit.id)
