"""OCR of PDF pages: rendered with PDFium in grayscale, read by Tesseract, in this process (one page or one worker)
or in worker processes that each open the PDF once.
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Any

from nlpipe.readers.budget import checkpoint
from nlpipe.readers.errors import fail
from nlpipe.readers.ocr.pool import pool_map
from nlpipe.readers.ocr.tesseract import (
    MAX_PIXELS,
    Shot,
    check_ready,
    describe,
    error_kind,
    run_tesseract,
    tesseract_cmd,
)
from nlpipe.types import Page, Word

__all__ = ["ocr_pages"]


def _render(doc: Any, number: int, dpi: int) -> Shot:
    """Render a page (1-based) in grayscale; boxes map back to the text layer's coordinates."""
    import pypdfium2.raw as pdfium_c

    from nlpipe.readers.pdf.bindings import page_frame

    page = doc[number - 1]
    try:
        raw = page.raw
        frame = page_frame(raw)
        width, height = frame.size
        rect = pdfium_c.FS_RECTF()
        if pdfium_c.FPDF_GetPageBoundingBox(raw, rect):  # the region PDFium renders (crop box)
            x0, _, top, _ = frame.rect(
                min(rect.left, rect.right),
                min(rect.bottom, rect.top),
                max(rect.left, rect.right),
                max(rect.bottom, rect.top),
            )
        else:
            x0, top = 0.0, 0.0
        pw, ph = page.get_size()
        scale = dpi / 72.0
        if pw * ph * scale * scale > MAX_PIXELS:
            scale = math.sqrt(MAX_PIXELS / max(pw * ph, 1e-9))
        bitmap = page.render(scale=scale, grayscale=True, may_draw_forms=False)
        image = bitmap.to_pil().convert("L")
        bitmap.close()
    finally:
        page.close()
    return Shot(image, 1.0 / scale, float(x0), float(top), float(width), float(height), scale * 72.0)


def _ocr_one(doc: Any, number: int, lang: str, dpi: int) -> tuple[int, str, float, float, list[Word]]:
    shot = _render(doc, number, dpi)
    text, words = run_tesseract(shot, lang)
    return number, text, round(shot.width, 2), round(shot.height, 2), words


# Worker processes keep the document open between pages.
_worker: dict[str, Any] = {}


def _worker_init(data: bytes, password: str | None, cmd: str, lang: str, dpi: int) -> None:
    import pypdfium2 as pdfium
    import pytesseract

    pytesseract.pytesseract.tesseract_cmd = cmd
    _worker.update(doc=pdfium.PdfDocument(data, password=password or None), lang=lang, dpi=dpi)


def _worker_page(number: int) -> tuple[Any, ...]:
    try:
        return ("ok", *_ocr_one(_worker["doc"], number, _worker["lang"], _worker["dpi"]))
    except Exception as exc:  # sent back as data: NlpipeError does not survive pickling
        code, message = describe(exc)
        return ("error", number, code, message)


def ocr_pages(
    data: bytes,
    page_numbers: list[int],
    *,
    source: str,
    password: str | None,
    lang: str,
    dpi: int,
    workers: int,
) -> list[Page]:
    """OCR the given pages (1-based) of a PDF; one :class:`~nlpipe.types.Page` (``ocr=True``) per number, in order.

    Raises E161 without Tesseract, E162 for a language that is not installed, E163 when Tesseract fails on a
    page, E166 when a worker process dies, E160 for a page the PDF does not have, and the PDF's own open errors
    (E150-E156) as :func:`~nlpipe.readers.pdf.reader.read_pdf` does.
    """
    from nlpipe.readers.pdf.bindings import open_document

    numbers = list(dict.fromkeys(int(n) for n in page_numbers))
    if not numbers:
        return []
    check_ready(lang, source)
    with open_document(data, source, password) as doc:  # the coded errors for a file that does not open
        total = len(doc)
    bad = [n for n in numbers if not 1 <= n <= total]
    if bad:
        raise fail("E160", f"there is no page {bad[0]} to OCR (the PDF has {total})", source)
    count = min(workers or os.cpu_count() or 1, len(numbers))
    results: dict[int, Page] = {}
    if count <= 1:
        import pypdfium2 as pdfium

        from nlpipe.readers.pdf.bindings import PDFIUM_LOCK

        with PDFIUM_LOCK:
            doc = pdfium.PdfDocument(data, password=password or None)
        try:
            for number in numbers:
                checkpoint(source)  # an API request past its deadline stops here, between pages (E611)
                with PDFIUM_LOCK:  # PDFium is not thread-safe; Tesseract runs outside the lock
                    shot = _render(doc, number, dpi)
                try:
                    text, words = run_tesseract(shot, lang)
                except Exception as exc:
                    code, message = describe(exc)
                    raise fail(code, message, source, number, kind=error_kind(code)) from None
                results[number] = Page(number, text, round(shot.width, 2), round(shot.height, 2), words, ocr=True)
        finally:
            with PDFIUM_LOCK:
                doc.close()
    else:
        initargs = (data, password, tesseract_cmd(), lang, dpi)
        with contextlib.closing(pool_map(source, count, _worker_init, initargs, _worker_page, numbers)) as outs:
            for out in outs:
                checkpoint(source)  # past the deadline: closing the pool cancels the pages not yet started
                if out[0] == "error":
                    _, number, code, message = out
                    raise fail(code, message, source, number, kind=error_kind(code))
                _, number, text, width, height, words = out
                results[number] = Page(number, text, width, height, words, ocr=True)
    return [results[n] for n in numbers]
