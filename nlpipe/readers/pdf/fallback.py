"""The pdfplumber fallback: a file PDFium cannot open, and a page it cannot load or decode, read by pdfplumber
(pdfminer) instead."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from typing import Any

from nlpipe.errors import NlpipeError
from nlpipe.readers.errors import fail
from nlpipe.readers.pdf.errors import check_page_count
from nlpipe.readers.pdf.fastpath import PageResult
from nlpipe.types import Word

__all__ = ["quiet_pdfminer", "Plumber", "nonspace", "plumber_document", "read_failed_pages"]


@contextlib.contextmanager
def quiet_pdfminer() -> Iterator[None]:
    """pdfminer logs a warning for every oddity it repairs; keep them out of the caller's logs."""
    logger = logging.getLogger("pdfminer")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class Plumber:
    """pdfplumber opened lazily, once per document, for fallback pages."""

    def __init__(self, data: bytes, password: str | None) -> None:
        self.data, self.password = data, password
        self.pdf: Any = None
        self.error: Exception | None = None

    def _ensure(self) -> bool:
        if self.pdf is None and self.error is None:
            try:
                import pdfplumber

                self.pdf = pdfplumber.open(io.BytesIO(self.data), password=self.password or "")
            except Exception as exc:  # pdfminer raises many types on damaged files; any of them means "no"
                self.error = exc
        return self.pdf is not None

    def page_count(self) -> int | None:
        with quiet_pdfminer():
            if not self._ensure():
                return None
            try:
                return len(self.pdf.pages)
            except Exception as exc:
                self.error = exc
                return None

    def page(self, number: int, words: bool) -> tuple[str, list[Word], float, float] | None:
        with quiet_pdfminer():
            if not self._ensure():
                return None
            try:
                if number > len(self.pdf.pages):
                    return None
                page = self.pdf.pages[number - 1]
                text = page.extract_text() or ""
                word_list = []
                if words:
                    width, height = float(page.width), float(page.height)
                    for w in page.extract_words(extra_attrs=["size"]):
                        word_list.append(
                            Word(
                                w["text"],
                                round(min(max(float(w["x0"]), 0.0), width), 2),
                                round(min(max(float(w["top"]), 0.0), height), 2),
                                round(min(max(float(w["x1"]), 0.0), width), 2),
                                round(min(max(float(w["bottom"]), 0.0), height), 2),
                                round(float(w["size"]), 2),
                            )
                        )
                result = (text, word_list, float(page.width), float(page.height))
                page.close()
                return result
            except Exception:  # pdfminer raises many types on damaged pages; any of them means "no"
                return None

    def close(self) -> None:
        if self.pdf is not None:
            with quiet_pdfminer(), contextlib.suppress(Exception):
                self.pdf.close()


def nonspace(text: str) -> int:
    """Characters of ``text`` that are not whitespace."""
    return sum(1 for c in text if not c.isspace())


def plumber_document(
    plumber: Plumber, error: NlpipeError, source: str, max_pages: int, words: bool
) -> list[PageResult]:
    """Every page through pdfplumber, for a file PDFium cannot open; re-raise ``error`` if pdfplumber cannot either."""
    count = plumber.page_count()
    if count is None:
        raise error
    check_page_count(count, source, max_pages)
    results = []
    for number in range(1, count + 1):
        alt = plumber.page(number, words)
        if alt is None:
            raise fail("E159", "pdfplumber cannot read this page (and PDFium cannot open the file)", source, number)
        text, word_list, width, height = alt
        results.append(PageResult(number, text, word_list, width, height, nonspace(text), 0, False, None, False))
    return results


def read_failed_pages(
    results: list[PageResult], plumber: Plumber, source: str, words: bool, skip: list[int]
) -> list[int]:
    """Pages PDFium could not load or decode, read by pdfplumber in their place (``results`` change in place).

    A page PDFium could not load is read by pdfplumber (E159 if it cannot either); a page whose text objects
    PDFium could not decode is replaced where pdfplumber finds more text. Pages in ``skip`` are left alone.
    Returns the numbers of the pages replaced, in order.
    """
    replaced: list[int] = []
    for res in results:
        if res.number in skip or (res.loaded and not res.text_objects_lost):
            continue
        alt = plumber.page(res.number, words)
        if alt is None:
            if not res.loaded:
                raise fail(
                    "E159",
                    "neither PDFium nor pdfplumber can read this page; the PDF is damaged, re-export it",
                    source,
                    res.number,
                )
            continue
        text, word_list, width, height = alt
        if res.loaded and nonspace(text) <= res.chars:
            continue  # pdfplumber finds no more text than PDFium did
        res.text, res.words = text, word_list
        res.width, res.height = res.width or width, res.height or height
        res.chars, res.garbage = nonspace(text), 0
        replaced.append(res.number)
    return replaced
