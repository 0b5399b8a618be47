"""Tables with pdfplumber's ``extract_tables`` (PDFium has no notion of tables)."""

from __future__ import annotations

import io

from nlpipe.readers.errors import fail
from nlpipe.readers.pdf.bindings import open_document
from nlpipe.readers.pdf.fallback import quiet_pdfminer

__all__ = ["pdf_tables"]


def pdf_tables(
    data: bytes, *, source: str, password: str | None = None, pages: list[int] | None = None
) -> dict[int, list[list[list[str | None]]]]:
    """Tables per page number (1-based), with pdfplumber's ``extract_tables`` (ruled tables work best).

    ``pages`` limits the pages read (default: all). Open errors are the same coded errors as :func:`read_pdf`.
    """
    with open_document(data, source, password):
        pass  # PDFium's verdict on encryption and damage gives the coded error before pdfplumber is tried
    import pdfplumber

    out: dict[int, list[list[list[str | None]]]] = {}
    with quiet_pdfminer():
        try:
            pdf = pdfplumber.open(io.BytesIO(data), password=password or "")
        except Exception as exc:
            raise fail("E153", f"pdfplumber cannot open the PDF ({type(exc).__name__}); re-export it", source) from None
        with pdf:
            numbers = pages or list(range(1, len(pdf.pages) + 1))
            for number in numbers:
                if not 1 <= number <= len(pdf.pages):
                    raise fail("E160", f"there is no page {number} (the PDF has {len(pdf.pages)})", source)
                try:
                    tables = pdf.pages[number - 1].extract_tables()
                except Exception as exc:
                    raise fail(
                        "E159", f"pdfplumber cannot read this page ({type(exc).__name__})", source, number
                    ) from None
                if tables:
                    out[number] = tables
    return out
