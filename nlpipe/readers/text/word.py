"""Word documents (DOCX): paragraphs and table rows in document order, headers and footers apart, after the package
passed the zip bomb checks.
"""

from __future__ import annotations

import io
from typing import Any

from nlpipe.errors import NlpipeError
from nlpipe.readers.text.plain import no_text
from nlpipe.readers.textfile import fail
from nlpipe.types import Document

__all__ = ["MIME_DOCX", "read_docx"]

MIME_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_MB = 1024 * 1024


def _cell_text(cell: Any) -> str:
    from docx.table import Table

    parts: list[str] = []
    for item in cell.iter_inner_content():
        if isinstance(item, Table):
            parts.extend(_table_lines(item))
        else:
            parts.append(item.text)
    return " ".join(p.strip() for p in parts if p.strip())


def _table_lines(table: Any) -> list[str]:
    """One line per row: the text of each ``<w:tc>`` of the row once, joined by tabs.

    The cells are read from the row's XML, not ``row.cells``: that repeats a cell once per grid column it spans
    (``w:gridSpan`` can claim 10^9 columns) and finds each vertically merged cell by walking up the rows above
    (quadratic in the rows, recursive). A merged cell is read where it starts: a horizontal merge is one
    ``<w:tc>``, and the continuation cells of a vertical merge (``w:vMerge`` without ``restart``) are left out.
    """
    from docx.table import _Cell

    lines = []
    for row in table.rows:
        cells = [_cell_text(_Cell(tc, table)) for tc in row._tr.tc_lst if tc.vMerge != "continue"]
        line = "\t".join(cells).strip()
        if line:
            lines.append(line)
    return lines


def _story_text(container: Any) -> list[str]:
    from docx.table import Table

    blocks: list[str] = []
    for item in container.iter_inner_content():
        if isinstance(item, Table):
            blocks.extend(_table_lines(item))
        else:
            blocks.append(item.text)
    return blocks


def read_docx(
    data: bytes,
    *,
    source: str,
    max_unpacked_bytes: int = 512 * _MB,
    max_compression_ratio: float = 200.0,
    max_members: int = 10_000,
) -> Document:
    """A Word document's paragraphs and table rows (cells joined by tabs) in document order.

    The package is checked as a zip first (member count, declared sizes, compression ratio; see
    :func:`nlpipe.readers.archives.zips.check_zip_package`) so a DOCX-shaped zip bomb is refused before python-docx
    inflates it. Header and footer text goes to ``meta["headers"]`` / ``meta["footers"]``, not the text.
    Raises E180 (not a readable DOCX), E177 (no text) or the zip limit errors E184-E186.
    """
    from nlpipe.readers.archives.zips import check_zip_package

    check_zip_package(
        data, source=source, max_unpacked_bytes=max_unpacked_bytes, max_ratio=max_compression_ratio,
        max_members=max_members, what="DOCX",
    )  # fmt: skip
    try:
        import docx

        document = docx.Document(io.BytesIO(data))
        blocks = _story_text(document)
        headers: list[str] = []
        footers: list[str] = []
        for section in document.sections:
            for part, out in ((section.header, headers), (section.footer, footers)):
                if part.is_linked_to_previous:  # no header of its own; reading it would add one
                    continue
                text = "\n".join(b for b in _story_text(part) if b.strip())
                if text and text not in out:
                    out.append(text)
    except NlpipeError:
        raise
    except Exception as exc:
        raise fail(
            "E180",
            f"cannot read the DOCX file ({type(exc).__name__}: {exc}); check that it opens in Word or LibreOffice "
            "and save it again as .docx (legacy .doc files must be converted first)",
            file=source,
        ) from None
    text = "\n".join(b for b in blocks if b.strip())
    if not text.strip():
        raise no_text(source, "the document has no paragraphs or table cells with text")
    meta: dict[str, Any] = {}
    if headers:
        meta["headers"] = headers
    if footers:
        meta["footers"] = footers
    return Document(text=text, source=source, mime=MIME_DOCX, meta=meta)
