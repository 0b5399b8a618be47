"""``csv``: a header row and one document per row (``.tsv`` files use tabs).

Text column ``text`` (or content, body, document, review, comment), label column ``label`` (or labels, category,
class), optional ``split`` and ``id``. ``label_sep`` splits multi-label cells; a column named ``labels`` is split
on ``|`` unless another ``label_sep`` is given (that is what :func:`write_csv` writes). An empty label cell is an
unlabeled document. (The module is not named ``csv`` so that it never stands in for the standard library's.)
The rows are parsed by :func:`nlpipe.readers.rows.csv_records`, which the readers share.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from nlpipe.label.formats.common import csv_writer, join_labels
from nlpipe.readers.rows import csv_records
from nlpipe.readers.textfile import iter_lines
from nlpipe.types import Record

__all__ = ["read_csv", "write_csv"]


def read_csv(
    path: Path,
    *,
    text_col: str | None,
    label_col: str | None,
    label_sep: str | None,
    encoding: str | None,
    max_bytes: int,
) -> Iterator[Record]:
    """Records of a CSV / TSV file, read line by line (a large CSV is never held whole)."""
    return csv_records(_csv_lines(path, encoding), path, text_col=text_col, label_col=label_col,
                       label_sep=label_sep, max_bytes=max_bytes)  # fmt: skip


def _csv_lines(path: Path, encoding: str | None) -> Iterator[str]:
    """The file's lines with their endings, decoded as they are read (a large CSV is never held whole).

    Split as ``io.StringIO(text, newline="")`` splits the whole text: at ``\\n``, ``\\r\\n`` and a lone ``\\r``.
    """
    for _, line in iter_lines(path, encoding, keep_ends=True):
        if "\r" in line and not (line.endswith("\r\n") and line.count("\r") == 1):
            yield from io.StringIO(line, newline="")
        else:
            yield line


def write_csv(records: Iterable[Record], fh: IO[str], *, out: Path, label_sep: str) -> int:
    """Header ``text,labels,split,id``; labels joined by ``label_sep`` (E115 when a label contains it)."""
    writer = csv_writer(fh, out)
    writer.writerow(["text", "labels", "split", "id"])
    n = 0
    for n, rec in enumerate(records, 1):
        writer.writerow([rec.text, join_labels(rec.labels, label_sep, out, n), rec.split or "", rec.external_id or ""])
    return n
