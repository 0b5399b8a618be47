"""One file of a known kind (not an archive) through its reader: text formats, PDF, images by OCR. A parser's own
exception becomes the coded failure of its kind; a PDF or image without any text is E177.
"""

from __future__ import annotations

from collections.abc import Iterator

from nlpipe.errors import NlpipeError
from nlpipe.readers.budget import BUDGET_ERRORS
from nlpipe.readers.dispatch.results import IngestFailure, Run
from nlpipe.readers.dispatch.sniff import image_mime, unsupported
from nlpipe.readers.text import mail, markup, plain, records, word
from nlpipe.readers.textfile import fail
from nlpipe.types import Document

__all__ = ["read_document"]

_PARSER_CODES = {"pdf": "E193", "image": "E194", "docx": "E180", "eml": "E181"}  # others: E179


def _unexpected(kind: str, source: str, exc: Exception) -> NlpipeError:
    code = _PARSER_CODES.get(kind, "E179")
    what = {"pdf": "PDF", "image": "image", "docx": "DOCX", "eml": "e-mail"}.get(kind, kind.upper())
    return fail(
        code,
        f"cannot read the {what} file ({type(exc).__name__}: {exc}); check that it opens in its usual "
        "application and save or export it again",
        file=source,
    )


def _read_pdf(data: bytes, source: str, run: Run) -> list[Document]:
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


def _read_image(data: bytes, source: str, name: str, run: Run) -> list[Document]:
    """An image file as one document: one OCR'd page, or one per frame of a (multi-page) TIFF."""
    s = run.settings
    tiff = image_mime(data, name) == "image/tiff"  # PNG and JPEG hold one page; a TIFF may hold many
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
    return [Document(text=text, source=source, mime=image_mime(data, name), pages=pages, meta=meta)]


def _parse(kind: str, data: bytes, source: str, name: str, run: Run) -> list[Document]:
    s = run.settings
    if kind == "text":
        return [plain.read_plain(data, source=source)]
    if kind == "markdown":
        return [plain.read_plain(data, source=source, mime=plain.MIME_MARKDOWN)]
    if kind == "html":
        return [markup.read_html(data, source=source)]
    if kind == "eml":
        return [mail.read_eml(data, source=source)]
    if kind == "docx":
        return [
            word.read_docx(
                data, source=source, max_unpacked_bytes=min(s.max_archive_bytes, 20 * s.max_document_bytes),
                max_compression_ratio=s.max_compression_ratio, max_members=s.max_archive_members,
            )
        ]  # fmt: skip
    if kind == "csv":
        return records.read_csv(data, source=source, max_bytes=s.max_document_bytes)
    if kind == "jsonl":
        return records.read_jsonl(data, source=source, max_bytes=s.max_document_bytes)
    if kind == "pdf":
        return _read_pdf(data, source, run)
    if kind == "image":
        return _read_image(data, source, name, run)
    raise unsupported(name, source=source)  # pragma: no cover - every kind of sniff is handled above


def _no_text_hint(ocr: str) -> str:
    """Why a PDF or image gave no text and what to try, for the OCR mode that was used (E177)."""
    if ocr == "always":
        return "OCR read every page and found none; check the scan quality (resolution, contrast, language)"
    if ocr == "never":
        return "no text layer, and OCR is off; read it with OCR (ocr=auto or always; --ocr, NLPIPE_OCR)"
    return ("no text layer and OCR found none; check the scan quality, or OCR every page (ocr=always; --ocr, "
            "NLPIPE_OCR)")  # fmt: skip


def read_document(kind: str, data: bytes, source: str, name: str, run: Run) -> Iterator[Document | IngestFailure]:
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
    except BUDGET_ERRORS:
        raise  # the request's deadline or OCR page cap: the whole request stops, not only this file
    except NlpipeError as exc:
        yield run.failure(source, exc)
        return
    except Exception as exc:  # parsers' own exceptions (corrupt files): one coded failure, never a traceback
        yield run.failure(source, _unexpected(kind, source, exc))
        return
    if kind in ("pdf", "image") and not any(d.text.strip() for d in docs):
        yield run.failure(source, fail("E177", f"no text found ({_no_text_hint(run.ocr)})", file=source))
        return
    yield from docs
    run.tick(source)
