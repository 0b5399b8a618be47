"""What a file is: magic bytes first (PDF, zip and DOCX, tar, gzip / bzip2 / xz, PNG / JPEG / TIFF), then the
extension, then a look at the bytes for HTML or text without an extension; E175 names the unsupported file and
lists the supported types.
"""

from __future__ import annotations

import io
from typing import IO

from nlpipe.errors import NlpipeError
from nlpipe.readers.archives.compressed import compression_of, peek_decompressed
from nlpipe.readers.archives.walk import ARCHIVE_KINDS
from nlpipe.readers.archives.zip_directory import has_member_named
from nlpipe.readers.textfile import fail

__all__ = ["KINDS", "SNIFF_BYTES", "SUPPORTED_TYPES", "image_mime", "is_archive", "sniff", "sniff_kind", "unsupported"]

SNIFF_BYTES = 8 * 1024
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
_IMAGE_PREFIXES = tuple(magic for magic, _ in _IMAGE_MAGIC)
_IMAGE_EXT = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".tif": "image/tiff",
              ".tiff": "image/tiff"}  # fmt: skip
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _suffix(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1].lower()
    dot = base.rfind(".")
    return base[dot:] if dot > 0 else ""


def unsupported(name: str, why: str = "", source: str | None = None) -> NlpipeError:
    ext = _suffix(name)
    what = why or (f"unsupported file type '{ext}'" if ext else "unsupported file type (no extension, not text)")
    return fail("E175", f"{what}; supported: {SUPPORTED_TYPES}", file=source or name)


_PACKAGE_NAMES = ("word/document.xml", "[Content_Types].xml", "mimetype", "META-INF/manifest.xml",
                  "META-INF/container.xml")  # fmt: skip


def _zip_flavour(fileobj: IO[bytes] | None, name: str, source: str) -> str:
    """``docx`` or ``zip`` for a zip container; Office / OpenDocument formats other than DOCX raise E175. The
    package's marker files are looked for in the raw central directory (a zip of a million members is not parsed)."""
    if fileobj is None:
        return "zip"
    try:
        names = has_member_named(fileobj, _PACKAGE_NAMES)
    except Exception:
        return "docx" if _suffix(name) == ".docx" else "zip"
    finally:
        fileobj.seek(0)
    if "word/document.xml" in names:
        return "docx"
    if "[Content_Types].xml" in names:
        raise unsupported(name, "an Office file other than Word (.xlsx, .pptx, ...) is not supported; save "
                                 "spreadsheets as CSV and presentations as PDF", source)  # fmt: skip
    if "mimetype" in names and ("META-INF/manifest.xml" in names or "META-INF/container.xml" in names):
        raise unsupported(name, "OpenDocument and EPUB files are not supported; save the document as .docx or "
                                 "PDF", source)  # fmt: skip
    return "zip"


def _looks_like_html(head: bytes) -> bool:
    start = head[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<!doctype html", b"<html"))


def _looks_like_text(head: bytes) -> bool:
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return True
    return b"\x00" not in head[:SNIFF_BYTES]


def sniff(head: bytes, name: str, fileobj: IO[bytes] | None, source: str | None = None) -> str:
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
    if head.startswith(_IMAGE_PREFIXES):
        return "image"
    if b"%PDF-" in head[:1024]:  # readers accept junk before the header; checked after the other magics, as
        return "pdf"  # a stored zip or a tar holding a PDF has it within its first 1024 bytes too
    if head.startswith(_OLE_MAGIC):
        raise unsupported(name, "a legacy Office file (.doc, .xls, .ppt) or a password-protected Office file is "
                                 "not supported; save it as .docx (without a password) or PDF", source)  # fmt: skip
    ext = _suffix(name)
    kind = _EXTENSIONS.get(ext)
    if kind is not None:
        return kind
    if _looks_like_html(head):
        return "html"
    if not ext and _looks_like_text(head):
        return "text"
    raise unsupported(name, source=source)


def sniff_kind(data: bytes, name: str) -> str:
    """The kind of a file: one of :data:`KINDS`, by magic bytes first, then by ``name``'s extension.

    A zip holding ``word/document.xml`` is ``docx``; a compressed tar is ``tar``. Files without an extension
    that look like HTML or text are ``html`` / ``text``. Raises E175 (naming the file and listing the
    supported types) for anything else, including other Office formats.
    """
    return sniff(data[:SNIFF_BYTES], name, io.BytesIO(data))


def image_mime(data: bytes, name: str) -> str:
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    return _IMAGE_EXT.get(_suffix(name), "application/octet-stream")


def is_archive(head: bytes, name: str) -> bool:
    """Whether a file whose first bytes are ``head`` and whose name is ``name`` is read as an archive (zip, tar,
    compressed file; a ``.docx`` counts too). A file whose type cannot be told is not one."""
    try:
        return sniff(head, name, None) in ARCHIVE_KINDS
    except NlpipeError:
        return False
