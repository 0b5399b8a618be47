"""Turn files, folders and archives into documents: sniff each file's type, pick its reader, collect failures.

:func:`iter_ingest` streams :class:`~nlpipe.types.Document` items and :class:`IngestFailure` items (an
:class:`IngestSkipped`, a subclass, for files left out on purpose); :func:`ingest_path` and
:func:`ingest_bytes` collect that stream into an :class:`IngestResult`. Every problem with one file or
archive member -- a coded :class:`~nlpipe.errors.NlpipeError` or any exception a parser raises -- becomes
one failure entry naming it, and everything else is still returned.

Types (:func:`sniff_kind`) are recognised by magic bytes first -- ``%PDF``, zip (DOCX when it holds
``word/document.xml``), ``ustar``, gzip / bzip2 / xz (a tar inside is recognised), PNG / JPEG / TIFF --
then by extension: ``.txt .text .md .markdown .rst .log .html .htm .xhtml .eml .csv .tsv .jsonl .ndjson``.
Archives are read by :mod:`nlpipe.readers.archives` and their members dispatched again, up to
:data:`MAX_DEPTH` archives deep; documents from archives carry sources such as ``outer.zip!inner.tar!a.txt``,
rows of CSV / JSON Lines files ``data.csv#line=3``, files in folders ``folder/sub/a.txt``.

Codes raised or reported here (see :mod:`nlpipe.readers.text` and :mod:`nlpipe.readers.archives` for theirs):

- E175 unsupported file type (the message lists the supported ones);
- E176 empty file (0 bytes);
- E177 no text found (a PDF or image without a text layer or OCR result, a blank file);
- E178 file larger than ``max_document_bytes`` (LimitError, checked before the file is read);
- E187 archive nested more than :data:`MAX_DEPTH` archives deep (LimitError; not opened);
- E190 image skipped because OCR is off;
- E193 a PDF that cannot be read (parser error, or PDF support not installed);
- E194 an image OCR could not read (or OCR support not installed);
- E195 a path that does not exist or cannot be read;
- E196 unknown OCR mode.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from nlpipe.config import Settings
from nlpipe.errors import LimitError, NlpipeError
from nlpipe.readers import text as _text
from nlpipe.readers.archives.compressed import compression_of, peek_decompressed
from nlpipe.readers.archives.folders import iter_folder
from nlpipe.readers.archives.guards import ArchiveBudget, ArchiveLimits, FolderFile, Member, Problem
from nlpipe.readers.archives.walk import ARCHIVE_KINDS, iter_archive
from nlpipe.readers.archives.zips import zip_entry_count
from nlpipe.readers.textfile import fail
from nlpipe.types import Document

__all__ = [
    "KINDS",
    "MAX_DEPTH",
    "SUPPORTED_TYPES",
    "IngestFailure",
    "IngestResult",
    "IngestSkipped",
    "Progress",
    "ingest_bytes",
    "ingest_path",
    "is_archive",
    "iter_ingest",
    "sniff_kind",
]

MAX_DEPTH = 3  # archives inside archives: outer.zip!inner.tar!deeper.zip!a.txt is read, one level more is not
SNIFF_BYTES = 8 * 1024
_SNIFF_MAX_ZIP_ENTRIES = 100_000  # a zip declaring more is not parsed while sniffing (the archive cap refuses it)
KINDS = ("pdf", "image", "docx", "zip", "tar", "gzip", "bz2", "xz", "html", "eml", "csv", "jsonl", "text",
         "markdown")  # fmt: skip
SUPPORTED_TYPES = (
    "PDF (.pdf), images for OCR (.png .jpg .jpeg .tif .tiff), Word (.docx), HTML (.html .htm), e-mail (.eml), "
    "plain text and Markdown (.txt .md .rst .log), CSV / TSV and JSON Lines with a text column (.csv .tsv "
    ".jsonl), archives (.zip .tar .tar.gz .tgz .tar.bz2 .tar.xz) and compressed files (.gz .bz2 .xz)"
)
_EXTENSIONS = {
    ".pdf": "pdf", ".png": "image", ".jpg": "image", ".jpeg": "image", ".tif": "image", ".tiff": "image",
    ".docx": "docx", ".zip": "zip", ".tar": "tar", ".tgz": "tar", ".tbz": "tar", ".tbz2": "tar", ".txz": "tar",
    ".gz": "gzip", ".bz2": "bz2", ".xz": "xz",
    ".txt": "text", ".text": "text", ".rst": "text", ".log": "text", ".md": "markdown", ".markdown": "markdown",
    ".html": "html", ".htm": "html", ".xhtml": "html", ".eml": "eml",
    ".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
}  # fmt: skip
_TAR_NAMES = (".tar", ".tgz", ".tbz", ".tbz2", ".txz", ".tar.gz", ".tar.bz2", ".tar.xz")
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)
_IMAGE_EXT = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".tif": "image/tiff",
              ".tiff": "image/tiff"}  # fmt: skip
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OCR_MODES = ("auto", "always", "never")
_PARSER_CODES = {"pdf": "E193", "image": "E194", "docx": "E180", "eml": "E181"}  # others: E179

Progress = Callable[[str, int, int | None], None]


@dataclass
class IngestFailure:
    """A file or archive member that could not be read: its source, error code and message."""

    source: str
    code: str
    message: str


@dataclass
class IngestSkipped(IngestFailure):
    """A file left out on purpose (link, unsafe path, hidden file, OCR off): a warning, not an error."""


@dataclass
class IngestResult:
    documents: list[Document] = field(default_factory=list)
    failures: list[IngestFailure] = field(default_factory=list)
    skipped: list[IngestFailure] = field(default_factory=list)

    def add(self, item: Document | IngestFailure) -> None:
        if isinstance(item, IngestSkipped):
            self.skipped.append(item)
        elif isinstance(item, IngestFailure):
            self.failures.append(item)
        else:
            self.documents.append(item)


# ------------------------------------------------------------------------------------------------ sniff


def _suffix(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1].lower()
    dot = base.rfind(".")
    return base[dot:] if dot > 0 else ""


def _unsupported(name: str, why: str = "", source: str | None = None) -> NlpipeError:
    ext = _suffix(name)
    what = why or (f"unsupported file type '{ext}'" if ext else "unsupported file type (no extension, not text)")
    return fail("E175", f"{what}; supported: {SUPPORTED_TYPES}", file=source or name)


def _zip_flavour(fileobj: IO[bytes] | None, name: str, source: str) -> str:
    """``docx`` or ``zip`` for a zip container; Office / OpenDocument formats other than DOCX raise E175."""
    if fileobj is None:
        return "zip"
    count = zip_entry_count(fileobj)
    if count is not None and count > _SNIFF_MAX_ZIP_ENTRIES:
        return "zip"
    import zipfile

    try:
        with zipfile.ZipFile(fileobj) as zf:
            names = set(zf.namelist())
    except Exception:
        return "docx" if _suffix(name) == ".docx" else "zip"
    finally:
        fileobj.seek(0)
    if "word/document.xml" in names:
        return "docx"
    if "[Content_Types].xml" in names:
        raise _unsupported(name, "an Office file other than Word (.xlsx, .pptx, ...) is not supported; save "
                                 "spreadsheets as CSV and presentations as PDF", source)  # fmt: skip
    if "mimetype" in names and ("META-INF/manifest.xml" in names or "META-INF/container.xml" in names):
        raise _unsupported(name, "OpenDocument and EPUB files are not supported; save the document as .docx or "
                                 "PDF", source)  # fmt: skip
    return "zip"


def _looks_like_html(head: bytes) -> bool:
    start = head[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<!doctype html", b"<html"))


def _looks_like_text(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return True
    return b"\x00" not in head[:SNIFF_BYTES]


def _sniff(head: bytes, name: str, fileobj: IO[bytes] | None, source: str | None = None) -> str:
    source = source or name
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return _zip_flavour(fileobj, name, source)
    if head[257:262] == b"ustar":
        return "tar"
    compression = compression_of(head)
    if compression is not None:
        inner = peek_decompressed(head, compression, 1024)
        if inner[257:262] == b"ustar" or name.lower().endswith(_TAR_NAMES):
            return "tar"
        return compression
    if any(head.startswith(magic) for magic, _ in _IMAGE_MAGIC):
        return "image"
    if b"%PDF-" in head[:1024]:  # readers accept junk before the header; checked after the other magics, as
        return "pdf"  # a stored zip or a tar holding a PDF has it within its first 1024 bytes too
    if head.startswith(_OLE_MAGIC):
        raise _unsupported(name, "a legacy Office file (.doc, .xls, .ppt) or a password-protected Office file is "
                                 "not supported; save it as .docx (without a password) or PDF", source)  # fmt: skip
    ext = _suffix(name)
    kind = _EXTENSIONS.get(ext)
    if kind is not None:
        return kind
    if _looks_like_html(head):
        return "html"
    if not ext and _looks_like_text(head):
        return "text"
    raise _unsupported(name, source=source)


def sniff_kind(data: bytes, name: str) -> str:
    """The kind of a file: one of :data:`KINDS`, by magic bytes first, then by ``name``'s extension.

    A zip holding ``word/document.xml`` is ``docx``; a compressed tar is ``tar``. Files without an extension
    that look like HTML or text are ``html`` / ``text``. Raises E175 (naming the file and listing the
    supported types) for anything else, including other Office formats.
    """
    return _sniff(data[:SNIFF_BYTES], name, io.BytesIO(data))


def _image_mime(data: bytes, name: str) -> str:
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    return _IMAGE_EXT.get(_suffix(name), "application/octet-stream")


# --------------------------------------------------------------------------------------------- the run


@dataclass
class _Run:
    settings: Settings
    password: str | None
    ocr: str
    max_depth: int
    progress: Progress | None
    total: int | None = None
    done: int = 0

    @property
    def limits(self) -> ArchiveLimits:
        return ArchiveLimits.from_settings(self.settings)

    def tick(self, source: str) -> None:
        self.done += 1
        if self.progress is not None:
            total = self.total if self.total is not None and self.done <= self.total else None
            self.progress(source, self.done, total)

    def failure(self, source: str, error: NlpipeError, *, skipped: bool = False) -> IngestFailure:
        self.tick(source)
        cls = IngestSkipped if skipped else IngestFailure
        return cls(source=source, code=error.code, message=error.message)


def _too_large(source: str, size: int, limit: int) -> NlpipeError:
    return fail(
        "E178",
        f"file is {size:,} bytes, more than the {limit:,}-byte document limit; it was not read -- split it or "
        "raise NLPIPE_MAX_DOCUMENT_BYTES",
        file=source,
        kind=LimitError,
    )


def _empty(source: str) -> NlpipeError:
    return fail("E176", "empty file (0 bytes); nothing to read -- remove it or check the copy", file=source)


def _unexpected(kind: str, source: str, exc: Exception) -> NlpipeError:
    code = _PARSER_CODES.get(kind, "E179")
    what = {"pdf": "PDF", "image": "image", "docx": "DOCX", "eml": "e-mail"}.get(kind, kind.upper())
    return fail(
        code,
        f"cannot read the {what} file ({type(exc).__name__}: {exc}); check that it opens in its usual "
        "application and save or export it again",
        file=source,
    )


def _read_pdf(data: bytes, source: str, run: _Run) -> list[Document]:
    try:
        from nlpipe.readers.pdf.reader import read_pdf
    except ImportError as exc:
        raise fail("E193", f"PDF support is not available ({exc}); install nlpipe with its PDF dependencies",
                   file=source) from None  # fmt: skip
    s = run.settings
    doc = read_pdf(
        data, source=source, password=run.password, ocr=run.ocr, ocr_lang=s.ocr_lang, ocr_dpi=s.ocr_dpi,
        ocr_workers=s.ocr_workers, max_pages=s.max_pages, words=True,
    )  # fmt: skip
    return [doc]


def _read_image(data: bytes, source: str, name: str, run: _Run) -> list[Document]:
    """An image file as one document: one OCR'd page, or one per frame of a (multi-page) TIFF."""
    s = run.settings
    tiff = _image_mime(data, name) == "image/tiff"  # PNG and JPEG hold one page; a TIFF may hold many
    try:
        from nlpipe.readers.ocr import images as ocr
        from nlpipe.readers.pdf.reader import PAGE_SEPARATOR

        read_frames, read_one = ocr.ocr_image_pages, ocr.ocr_image
    except (ImportError, AttributeError) as exc:
        raise fail("E194", f"OCR support is not available ({exc}); install Tesseract and nlpipe's OCR "
                   "dependencies", file=source) from None  # fmt: skip
    if tiff:
        pages = read_frames(data, source=source, lang=s.ocr_lang, dpi=s.ocr_dpi, workers=s.ocr_workers,
                            max_pages=s.max_pages)  # fmt: skip
    else:
        pages = [read_one(data, source=source, lang=s.ocr_lang, dpi=s.ocr_dpi)]
    offsets, pos = [], 0
    for page in pages:
        offsets.append(pos)
        pos += len(page.text) + len(PAGE_SEPARATOR)
    meta = {
        "pages": len(pages),
        "page_offsets": offsets,
        "ocr_pages": [p.number for p in pages],
        "no_text_pages": [p.number for p in pages if not p.text.strip()],
    }
    text = PAGE_SEPARATOR.join(p.text for p in pages)
    return [Document(text=text, source=source, mime=_image_mime(data, name), pages=pages, meta=meta)]


def _parse(kind: str, data: bytes, source: str, name: str, run: _Run) -> list[Document]:
    s = run.settings
    if kind == "text":
        return [_text.read_plain(data, source=source)]
    if kind == "markdown":
        return [_text.read_plain(data, source=source, mime=_text.MIME_MARKDOWN)]
    if kind == "html":
        return [_text.read_html(data, source=source)]
    if kind == "eml":
        return [_text.read_eml(data, source=source)]
    if kind == "docx":
        return [
            _text.read_docx(
                data, source=source, max_unpacked_bytes=min(s.max_archive_bytes, 20 * s.max_document_bytes),
                max_compression_ratio=s.max_compression_ratio, max_members=s.max_archive_members,
            )
        ]  # fmt: skip
    if kind == "csv":
        return _text.read_csv(data, source=source, max_bytes=s.max_document_bytes)
    if kind == "jsonl":
        return _text.read_jsonl(data, source=source, max_bytes=s.max_document_bytes)
    if kind == "pdf":
        return _read_pdf(data, source, run)
    if kind == "image":
        return _read_image(data, source, name, run)
    raise _unsupported(name, source=source)  # pragma: no cover - every kind of _sniff is handled above


def _document(kind: str, data: bytes, source: str, name: str, run: _Run) -> Iterator[Document | IngestFailure]:
    """Parse one in-memory file (not an archive) and yield its documents, or one failure."""
    if kind == "image" and run.ocr == "never":
        yield run.failure(
            source,
            fail("E190", "skipped: an image is read by OCR, and OCR is off; set NLPIPE_OCR=auto (or pass "
                 "ocr='auto') to read it", file=source),
            skipped=True,
        )  # fmt: skip
        return
    try:
        docs = _parse(kind, data, source, name, run)
    except NlpipeError as exc:
        yield run.failure(source, exc)
        return
    except Exception as exc:  # parsers' own exceptions (corrupt files): one coded failure, never a traceback
        yield run.failure(source, _unexpected(kind, source, exc))
        return
    if kind in ("pdf", "image") and not any(d.text.strip() for d in docs):
        hint = "no text layer and OCR found none" if run.ocr != "never" else "no text layer, and OCR is off"
        yield run.failure(source, fail("E177", f"no text found ({hint}); check the scan quality or set "
                                       "NLPIPE_OCR=always", file=source))  # fmt: skip
        return
    yield from docs
    run.tick(source)


def _archive(
    fileobj: IO[bytes],
    kind: str,
    source: str,
    name: str,
    run: _Run,
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
    data: bytes, source: str, name: str, run: _Run, depth: int = 0, budget: ArchiveBudget | None = None
) -> Iterator[Document | IngestFailure]:
    if not data:
        yield run.failure(source, _empty(source))
        return
    try:
        kind = _sniff(data[:SNIFF_BYTES], name, io.BytesIO(data), source)
    except NlpipeError as exc:
        yield run.failure(source, exc)
        return
    if kind in ARCHIVE_KINDS:
        yield from _archive(io.BytesIO(data), kind, source, name, run, depth, budget)
        return
    limit = run.settings.max_document_bytes
    if len(data) > limit:
        yield run.failure(source, _too_large(source, len(data), limit))
        return
    yield from _document(kind, data, source, name, run)


def _cannot_read(source: str, exc: OSError) -> NlpipeError:
    return fail("E195", f"cannot read the file ({exc.strerror or exc}); check that it exists and its permissions",
                file=source)  # fmt: skip


def _from_file(path: Path, source: str, run: _Run) -> Iterator[Document | IngestFailure]:
    """One file on disk: archives are streamed from the file, anything else is size-checked, then read."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in the finally below, also when the consumer stops early
    except OSError as exc:
        yield run.failure(source, _cannot_read(source, exc))
        return
    try:
        try:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise _empty(source)
            head = fh.read(SNIFF_BYTES)
            fh.seek(0)
            kind = _sniff(head, path.name, fh, source)
            if kind not in ARCHIVE_KINDS:
                limit = run.settings.max_document_bytes
                if size > limit:
                    raise _too_large(source, size, limit)
                data = fh.read(limit + 1)
                if len(data) > limit:  # the file grew since fstat
                    raise _too_large(source, len(data), limit)
        except NlpipeError as exc:
            yield run.failure(source, exc)
            return
        except OSError as exc:
            yield run.failure(source, _cannot_read(source, exc))
            return
        if kind in ARCHIVE_KINDS:
            yield from _archive(fh, kind, source, path.name, run, 0, None)
        else:
            fh.close()
            yield from _document(kind, data, source, path.name, run)
    finally:
        fh.close()


def _from_path(path: Path, source: str, run: _Run) -> Iterator[Document | IngestFailure]:
    if path.is_dir():
        for item in iter_folder(path, source=source):
            if isinstance(item, FolderFile):
                yield from _from_file(item.path, item.source, run)
            else:
                yield run.failure(item.source, item.error, skipped=item.skipped)
    else:
        yield from _from_file(path, source, run)


# ---------------------------------------------------------------------------------------------- public


def is_archive(head: bytes, name: str) -> bool:
    """Whether a file whose first bytes are ``head`` and whose name is ``name`` is read as an archive (zip, tar,
    compressed file; a ``.docx`` counts too). A file whose type cannot be told is not one."""
    try:
        return _sniff(head, name, None) in ARCHIVE_KINDS
    except NlpipeError:
        return False


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
    run = _Run(settings=settings, password=password, ocr=mode, max_depth=max_depth, progress=progress)
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
        raise _cannot_read(src, exc) from None
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
