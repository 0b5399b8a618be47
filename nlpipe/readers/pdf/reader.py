"""The readers: :func:`read_pdf` (fast path, pdfplumber fallback, OCR where there is no usable text layer) and
:func:`pdf_page_texts` (the fast path alone), with the OCR decision and the options' checks."""

from __future__ import annotations

from typing import Any

import pypdfium2.raw as pdfium_c

from nlpipe.errors import NlpipeError
from nlpipe.readers.budget import charge_ocr
from nlpipe.readers.errors import fail
from nlpipe.readers.ocr.pages import ocr_pages
from nlpipe.readers.pdf.bindings import open_document
from nlpipe.readers.pdf.errors import check_page_count
from nlpipe.readers.pdf.fallback import Plumber, plumber_document, read_failed_pages
from nlpipe.readers.pdf.fastpath import MIN_TEXT_CHARS, PageResult, read_pages
from nlpipe.types import Document, Page

__all__ = [
    "read_pdf",
    "pdf_page_texts",
    "needs_ocr",
    "PAGE_SEPARATOR",
    "OCR_MODES",
    "MIN_TEXT_CHARS",
    "MIN_IMAGE_COVER",
    "MAX_GARBAGE_SHARE",
]

PAGE_SEPARATOR = "\n\f\n"
OCR_MODES = ("auto", "always", "never")
MIN_IMAGE_COVER = 0.10
MAX_GARBAGE_SHARE = 0.5
MIN_DPI, MAX_DPI = 50, 1200


def _check_options(source: str, ocr: str, ocr_dpi: int, ocr_workers: int, max_pages: int) -> None:
    """E160 for an OCR mode, resolution, worker count or page limit :func:`read_pdf` cannot use."""
    if ocr not in OCR_MODES:
        raise fail("E160", f"unknown OCR mode '{ocr}'; use one of: {', '.join(OCR_MODES)} (--ocr)", source)
    if not MIN_DPI <= int(ocr_dpi) <= MAX_DPI:
        raise fail("E160", f"OCR resolution {ocr_dpi} dpi is outside {MIN_DPI}-{MAX_DPI}; 300 suits most scans", source)
    if int(ocr_workers) < 0:
        raise fail("E160", f"OCR workers must be 0 (one per CPU core) or more, not {ocr_workers}", source)
    if int(max_pages) < 1:
        raise fail("E160", f"max_pages must be at least 1, not {max_pages} (NLPIPE_MAX_PAGES)", source)


def needs_ocr(res: PageResult) -> bool:
    """The ``ocr="auto"`` rule: mostly undecodable characters (more than ``MAX_GARBAGE_SHARE``), or fewer than
    ``MIN_TEXT_CHARS`` usable ones on a page images cover at least ``MIN_IMAGE_COVER`` of (a scan)."""
    usable = res.chars - res.garbage
    if res.chars and res.garbage > MAX_GARBAGE_SHARE * res.chars:
        return True
    return usable < MIN_TEXT_CHARS and (res.image_cover or 0.0) >= MIN_IMAGE_COVER


def pdf_page_texts(data: bytes, *, source: str, password: str | None = None, max_pages: int = 2000) -> list[str]:
    """Each page's text through the fast path alone (PDFium, pdfplumber-style layout; no OCR, no fallback).

    For prediction and batch work where speed matters. A page PDFium cannot load comes back as ``""``; a file it
    cannot open is E153 (:func:`read_pdf` tries pdfplumber for both). Errors E150-E158 as in :func:`read_pdf`.
    """
    with open_document(data, source, password) as doc:
        n = check_page_count(len(doc), source, max_pages)
        results = read_pages(doc.raw, list(range(n)), words=False, probe=False, ocr_auto=False)
        return [r.text for r in results]


def read_pdf(
    data: bytes,
    *,
    source: str,
    password: str | None = None,
    ocr: str = "auto",
    ocr_lang: str = "eng",
    ocr_dpi: int = 300,
    ocr_workers: int = 0,
    max_pages: int = 2000,
    words: bool = True,
) -> Document:
    """Read a PDF: text per page, words with boxes (``words=True``), OCR for pages without a text layer.

    Parameters
    ----------
    data:
        The file's bytes.
    source:
        The file's name, used in error messages and stored as ``Document.source``.
    password:
        For encrypted PDFs (E154 without one, E155 when wrong).
    ocr:
        ``"auto"`` (pages whose text layer is unusable, see the module docs), ``"always"`` or ``"never"``.
    ocr_lang, ocr_dpi, ocr_workers:
        Tesseract language(s) (``eng+deu``), render resolution, worker processes (0: one per CPU core).
    max_pages:
        More pages than this is E157 (``NLPIPE_MAX_PAGES``).
    words:
        ``True``: words with boxes and font sizes (from PDFium's characters, pdfplumber's word rules);
        ``False``: text only, faster.

    Returns
    -------
    Document
        ``text`` is the pages joined with ``PAGE_SEPARATOR``; ``pages`` one :class:`~nlpipe.types.Page` each;
        ``meta``: ``pages``, ``page_offsets``, ``ocr_pages``, ``no_text_pages``, ``fallback_pages`` (read with
        pdfplumber because PDFium could not), ``encrypted`` and the PDF's ``info`` (title, author, ...).
    """
    _check_options(source, ocr, ocr_dpi, ocr_workers, max_pages)
    if not isinstance(data, bytes):
        data = bytes(data)
    plumber = Plumber(data, password)
    try:
        results, fallback, encrypted, info = _text_layer(data, source, password, plumber, max_pages, words, ocr)
        fallback += read_failed_pages(results, plumber, source, words, skip=fallback)
    finally:
        plumber.close()
    pages = [Page(r.number, r.text, round(r.width, 2), round(r.height, 2), r.words) for r in results]
    ocr_numbers = _ocr_numbers(results, fallback, ocr)
    if ocr_numbers:
        charge_ocr(len(ocr_numbers), source)  # an API request's page cap (E612) and deadline (E611)
        done = ocr_pages(
            data, ocr_numbers, source=source, password=password, lang=ocr_lang, dpi=ocr_dpi, workers=ocr_workers
        )
        for page in done:
            pages[page.number - 1] = page
    return _document(pages, source, ocr_numbers, fallback, encrypted, info)


def _text_layer(
    data: bytes, source: str, password: str | None, plumber: Plumber, max_pages: int, words: bool, ocr: str
) -> tuple[list[PageResult], list[int], bool, dict[str, str]]:
    """Every page through the fast path, or through pdfplumber when PDFium cannot open the file (E153) and
    pdfminer can: ``(results, fallback page numbers, encrypted, info)``."""
    try:
        with open_document(data, source, password) as doc:
            n = check_page_count(len(doc), source, max_pages)
            encrypted = pdfium_c.FPDF_GetSecurityHandlerRevision(doc.raw) != -1
            info = _metadata(doc)
            results = read_pages(doc.raw, list(range(n)), words=words, probe=True, ocr_auto=ocr == "auto")
    except NlpipeError as exc:
        if exc.code != "E153":
            raise
        # PDFium cannot open it; pdfplumber (pdfminer) sometimes can, and then reads every page
        results = plumber_document(plumber, exc, source, max_pages, words)
        return results, [r.number for r in results], False, {}
    return results, [], encrypted, info


def _ocr_numbers(results: list[PageResult], fallback: list[int], ocr: str) -> list[int]:
    """The pages to OCR: every page PDFium loaded (OCR renders with PDFium) for ``"always"``; for ``"auto"``
    those of them :func:`needs_ocr` picks, unless pdfplumber read them."""
    renderable = [r for r in results if r.loaded]
    if ocr == "always":
        return [r.number for r in renderable]
    if ocr == "auto":
        return [r.number for r in renderable if r.number not in fallback and needs_ocr(r)]
    return []


def _document(
    pages: list[Page],
    source: str,
    ocr_numbers: list[int],
    fallback: list[int],
    encrypted: bool,
    info: dict[str, str],
) -> Document:
    """The pages as one :class:`~nlpipe.types.Document`, with :func:`read_pdf`'s ``meta``."""
    offsets, pos = [], 0
    for page in pages:
        offsets.append(pos)
        pos += len(page.text) + len(PAGE_SEPARATOR)
    meta: dict[str, Any] = {
        "pages": len(pages),
        "page_offsets": offsets,
        "ocr_pages": ocr_numbers,
        "no_text_pages": [p.number for p in pages if not p.text.strip()],
        "fallback_pages": sorted(fallback),
        "encrypted": encrypted,
    }
    if info:
        meta["info"] = info
    return Document(
        text=PAGE_SEPARATOR.join(p.text for p in pages),
        source=source,
        mime="application/pdf",
        pages=pages,
        meta=meta,
    )


def _metadata(doc: Any) -> dict[str, str]:
    try:
        items = doc.get_metadata_dict(skip_empty=True).items()
        return {k.lower(): v.strip() for k, v in items if isinstance(v, str) and v.strip()}
    except Exception:  # metadata is a nicety; a broken info dictionary must not lose the document
        return {}
