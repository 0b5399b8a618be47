"""``comprehend``: AWS Comprehend custom classification CSV, no header, ``label,text``.

Several labels are joined by ``label_sep`` (default ``|``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from nlpipe.label.formats.common import cannot_write, csv_writer, join_labels
from nlpipe.readers.fields import check_text, csv_delimiter, csv_rows, first_line, split_labels
from nlpipe.readers.textfile import fail, read_text
from nlpipe.types import Record

__all__ = ["read_comprehend", "write_comprehend"]


def read_comprehend(
    path: Path,
    *,
    text_col: str | None,
    label_col: str | None,
    label_sep: str | None,
    encoding: str | None,
    max_bytes: int,
) -> Iterator[Record]:
    """Records of a Comprehend classification CSV; every row needs a label (E104) and exactly two columns (E109)."""
    content = read_text(path, encoding)
    sep = label_sep or "|"
    for n, row in csv_rows(path, content, csv_delimiter(path, first_line(content)), max_bytes):
        if len(row) < 2 or any(cell.strip() for cell in row[2:]):
            raise fail(
                "E109",
                f"expected 2 columns (label,text) but found {len(row)}; quote the text if it contains commas",
                file=path,
                line=n,
            )
        labels = split_labels(row[0], sep, file=path, line=n, field="label")
        if not labels:
            raise fail("E104", "empty label; every Comprehend row needs label,text", file=path, line=n, field="label")
        yield Record(
            text=check_text(row[1], max_bytes, file=path, line=n, field="text"), labels=labels, file=str(path), line=n
        )


def write_comprehend(records: Iterable[Record], fh: IO[str], *, out: Path, label_sep: str) -> int:
    """One ``labels,text`` row per record; E115 for an unlabeled record."""
    writer = csv_writer(fh, out)
    n = 0
    for n, rec in enumerate(records, 1):
        if not rec.labels:
            raise cannot_write(out, n, "Comprehend rows need a label; drop unlabeled documents or use jsonl/csv")
        writer.writerow([join_labels(rec.labels, label_sep, out, n), rec.text])
    return n
