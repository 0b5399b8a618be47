"""CSV / TSV and JSON Lines files, one document per row, parsed by the row parser the label formats use."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from nlpipe.readers.fields import DEFAULT_MAX_BYTES, csv_delimiter, first_line
from nlpipe.readers.rows import parse_bytes
from nlpipe.readers.text.plain import normalise_newlines
from nlpipe.types import Document

__all__ = ["MIME_CSV", "MIME_JSONL", "MIME_TSV", "read_csv", "read_jsonl"]

MIME_CSV = "text/csv"
MIME_TSV = "text/tab-separated-values"
MIME_JSONL = "application/x-ndjson"


def _row_document(text: str, *, source: str, line: int, mime: str, labels: list[str], split: str | None,
                  external_id: str | None) -> Document:  # fmt: skip
    meta: dict[str, Any] = {"line": line, "labels": labels, "split": split}
    if external_id is not None:
        meta["id"] = external_id
    return Document(text=text, source=f"{source}#line={line}", mime=mime, meta=meta)


def _rows(data: bytes, source: str, fmt: str, mime: str, max_bytes: int, text_col: str | None) -> list[Document]:
    return [
        _row_document(
            normalise_newlines(rec.text),
            source=source,
            line=rec.line or 0,
            mime=mime,
            labels=rec.labels,
            split=rec.split,
            external_id=rec.external_id,
        )  # fmt: skip
        for rec in parse_bytes(data, source, fmt, text_col=text_col, max_bytes=max_bytes)
    ]


def read_csv(
    data: bytes, *, source: str, max_bytes: int = DEFAULT_MAX_BYTES, text_col: str | None = None
) -> list[Document]:
    """One document per row of a CSV / TSV file with a header naming a text column.

    The same rules as the ``csv`` import format (:func:`nlpipe.readers.rows.parse_bytes`): text column
    ``text`` (or content, body, document, review, comment) unless ``text_col`` names it; optional
    ``label``/``labels``, ``split`` and ``id`` columns go to ``meta["labels"]``, ``meta["split"]`` and
    ``meta["id"]``. ``source`` of each document is ``<source>#line=N``. Raises on the first bad row, like the
    import readers (E103-E110).
    """
    content_head = data[:4096].decode("utf-8", "replace")
    name = PurePosixPath(source.rsplit("!", 1)[-1])  # only its suffix matters: .tsv means tabs
    tsv = csv_delimiter(name, first_line(content_head)) == "\t"  # type: ignore[arg-type]
    return _rows(data, source, "csv", MIME_TSV if tsv else MIME_CSV, max_bytes, text_col)


def read_jsonl(
    data: bytes, *, source: str, max_bytes: int = DEFAULT_MAX_BYTES, text_col: str | None = None
) -> list[Document]:
    """One document per line of a JSON Lines file: ``{"text": ..., "label"/"labels": ..., "split": ..., "id": ...}``.

    The same rules as the ``jsonl`` import format; labels, split and id go to ``meta``. ``source`` of each
    document is ``<source>#line=N``. Raises on the first bad line (E102-E106, E110, E113).
    """
    return _rows(data, source, "jsonl", MIME_JSONL, max_bytes, text_col)
