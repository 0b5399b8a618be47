"""The PDF reader's coded errors: how a file that cannot be read is told apart, and the page-count limits.

E150 empty file, E151 not a PDF, E152 truncated (no ``%%EOF``), E153 damaged, E154 encrypted and no password,
E155 wrong password, E156 unsupported encryption, E157 more pages than ``max_pages``
(:class:`~nlpipe.errors.LimitError`), E158 no pages. Every message names the file, and the page where there is one
(:func:`nlpipe.readers.errors.fail`, which OCR uses too).
"""

from __future__ import annotations

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from nlpipe.errors import LimitError, NlpipeError
from nlpipe.readers.errors import fail

__all__ = ["check_bytes", "open_error", "check_page_count"]

_HEAD = 1024  # PDFium, like Acrobat, accepts junk before %PDF- within the first 1024 bytes


def open_error(data: bytes, source: str, password: str | None, exc: pdfium.PdfiumError) -> NlpipeError:
    """The coded error (E151, E153-E156) for a file PDFium refused to open with ``exc``."""
    code = getattr(exc, "err_code", None)
    if code == pdfium_c.FPDF_ERR_PASSWORD:
        if password:
            return fail(
                "E155", "wrong password for this encrypted PDF; check it and pass the right one (--password)", source
            )
        return fail("E154", "the PDF is encrypted; pass its password (--password)", source)
    if code == pdfium_c.FPDF_ERR_SECURITY:
        return fail(
            "E156", "the PDF uses an encryption scheme that cannot be opened; re-save it without encryption", source
        )
    if b"%PDF" not in data[:_HEAD]:
        return _not_pdf(data, source)
    return fail("E153", f"the PDF is damaged and cannot be opened ({exc}); re-export or re-download it", source)


def _not_pdf(data: bytes, source: str) -> NlpipeError:
    head = data[:8]
    shown = head.decode("ascii") if head.isascii() and head.decode("ascii").isprintable() else head.hex(" ")
    return fail("E151", f"not a PDF (it starts with {shown!r}, not '%PDF-'); check the file type", source)


def check_bytes(data: bytes, source: str) -> None:
    """E150 for an empty file, E151 for one without ``%PDF`` near its start, E152 for one without ``%%EOF``."""
    if not data:
        raise fail("E150", "the file is empty (0 bytes); upload it again", source)
    if b"%PDF" not in data[:_HEAD]:
        raise _not_pdf(data, source)
    if data.rfind(b"%%EOF") < 0:
        raise fail(
            "E152",
            "the PDF is truncated (no %%EOF end marker); the download or copy was cut short, get it again",
            source,
        )


def check_page_count(n: int, source: str, max_pages: int) -> int:
    """``n`` if it is a page count nlpipe reads: E158 for none, E157 (LimitError) past ``max_pages``."""
    if n < 1:
        raise fail("E158", "the PDF has no pages", source)
    if n > max_pages:
        raise fail(
            "E157",
            f"the PDF has {n:,} pages, more than the {max_pages:,}-page limit; split it or raise NLPIPE_MAX_PAGES",
            source,
            kind=LimitError,
        )
    return n
