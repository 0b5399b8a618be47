"""The PDFium fast path: pages loaded in batches, their characters read into one sheet and laid out together,
and per page what the OCR decision and the pdfplumber fallback need to know."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pypdfium2.raw as pdfium_c

from nlpipe.readers.pdf.bindings import addr, page_frame
from nlpipe.readers.pdf.chars import read_sheet
from nlpipe.readers.pdf.geometry import Frame
from nlpipe.readers.pdf.layout import lay_out, layout_texts, layout_words
from nlpipe.readers.pdf.objects import empty_text_objects, image_cover
from nlpipe.types import Word

__all__ = ["MIN_TEXT_CHARS", "PageResult", "read_pages"]

MIN_TEXT_CHARS = 20  # fewer printable characters than this: a page OCR may be needed for (see reader.needs_ocr)


@dataclass
class PageResult:
    """One page as the fast path (or pdfplumber) read it, with what the OCR decision and the fallback need."""

    number: int
    text: str
    words: list[Word]
    width: float
    height: float
    chars: int  # non-space characters in the text layer
    garbage: int  # of which undecodable (U+FFFD, private use, control)
    text_objects_lost: bool  # more undecodable text objects (empty bounds) than characters
    image_cover: float | None  # share of the page covered by images (computed only when it matters)
    loaded: bool  # PDFium could load the page


def _garbage_mask(codes: np.ndarray) -> np.ndarray:
    return (
        (codes == 0xFFFD)
        | ((codes >= 0xE000) & (codes <= 0xF8FF))
        | (codes < 0x20)
        | ((codes >= 0x7F) & (codes < 0xA0))
    )


_BATCH_PAGES = 64  # pages whose text pages stay open together while their characters are laid out
_BATCH_CHARS = 400_000


def read_pages(doc: Any, indices: list[int], *, words: bool, probe: bool, ocr_auto: bool) -> list[PageResult]:
    """Pages through PDFium, laid out in batches. ``probe``: look for text objects PDFium could not decode;
    ``ocr_auto``: measure how much of nearly text-less pages images cover."""
    results: list[PageResult] = []
    pending: list[tuple[int, Any, Any, Frame | None]] = []
    chars = 0

    def flush() -> None:
        nonlocal chars
        try:
            results.extend(_finish_batch(pending, words=words, probe=probe, ocr_auto=ocr_auto))
        finally:
            _close_pages(pending)
            pending.clear()
            chars = 0

    try:
        for index in indices:
            page = pdfium_c.FPDF_LoadPage(doc, index)
            textpage, frame = None, None
            if page:
                frame = page_frame(page)
                textpage = pdfium_c.FPDFText_LoadPage(page)
            pending.append((index, page, textpage, frame))
            chars += max(pdfium_c.FPDFText_CountChars(textpage), 0) if textpage else 0
            if len(pending) >= _BATCH_PAGES or chars >= _BATCH_CHARS:
                flush()
        if pending:
            flush()
    finally:
        _close_pages(pending)
    return results


def _close_pages(pending: list[tuple[int, Any, Any, Frame | None]]) -> None:
    """Close the text pages and pages of a batch (handles PDFium could not open are None)."""
    for _, page, textpage, _ in pending:
        if textpage:
            pdfium_c.FPDFText_ClosePage(textpage)
        if page:
            pdfium_c.FPDF_ClosePage(page)


def _finish_batch(
    pending: list[tuple[int, Any, Any, Frame | None]], *, words: bool, probe: bool, ocr_auto: bool
) -> list[PageResult]:
    """One batch's pages (index, page, text page, frame): their characters laid out together, then per page its
    counts and, where asked for, its probes (undecodable text objects, image cover)."""
    live: list[tuple[int, Any, Any, Frame]] = []  # (slot in pending, page, text page, frame) of loaded pages
    for k, (_, page, textpage, frame) in enumerate(pending):
        if textpage and frame is not None:  # a text page exists only for a loaded page, which has a frame
            live.append((k, page, textpage, frame))
    count = len(live)
    texts = [""] * count
    word_lists: list[list[Word]] = [[] for _ in range(count)]
    nchars = np.zeros(count, dtype=np.int64)
    garbage = np.zeros(count, dtype=np.int64)
    frames = [frame for _, _, _, frame in live]
    if live:
        sh = read_sheet([addr(item[2]) for item in live], frames, [addr(item[1]) for item in live])
        lay = lay_out(sh) if sh is not None else None
        if sh is not None and lay is not None:
            texts = layout_texts(sh, lay, count)
            page_of = sh.page[lay.order]
            nchars = np.bincount(page_of, minlength=count)
            garbage = np.bincount(page_of, weights=_garbage_mask(sh.codes[lay.order]), minlength=count).astype(int)
            if words:
                word_lists = layout_words(sh, lay, [f.size for f in frames])
    out = []
    slot = {item[0]: j for j, item in enumerate(live)}
    for k, (index, page, _, maybe_frame) in enumerate(pending):
        if k not in slot:
            width, height = maybe_frame.size if maybe_frame else (0.0, 0.0)
            out.append(PageResult(index + 1, "", [], width, height, 0, 0, False, None, False))
            continue
        j = slot[k]
        frame = frames[j]
        n, bad = int(nchars[j]), int(garbage[j])
        lost = False
        limit = max(n, MIN_TEXT_CHARS)
        if probe and pdfium_c.FPDFPage_CountObjects(page) > limit:
            lost = empty_text_objects(page, limit) > limit
        cover = image_cover(page, frame) if ocr_auto and n - bad < MIN_TEXT_CHARS else None
        width, height = frame.size
        out.append(PageResult(index + 1, texts[j], word_lists[j], width, height, n, bad, lost, cover, True))
    return out
