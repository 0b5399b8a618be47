"""``csv``: a header row and one document per row (``.tsv`` files use tabs).

Text column ``text`` (or content, body, document, review, comment), label column ``label`` (or labels, category,
class), optional ``split`` and ``id``. ``label_sep`` splits multi-label cells; a column named ``labels`` is split
on ``|`` unless another ``label_sep`` is given (that is what :func:`write_csv` writes). An empty label cell is an
unlabeled document. (The module is not named ``csv`` so that it never stands in for the standard library's.)
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from nlpipe.label.formats.common import (
    check_text,
    csv_delimiter,
    csv_rows,
    csv_writer,
    first_line,
    join_labels,
    parse_split,
    split_labels,
)
from nlpipe.readers.textfile import fail, iter_lines
from nlpipe.types import Record

__all__ = ["LABEL_COLUMNS", "TEXT_COLUMNS", "csv_records", "read_csv", "write_csv"]

TEXT_COLUMNS = ("text", "content", "body", "document", "review", "comment")
LABEL_COLUMNS = ("label", "labels", "category", "class")


def read_csv(path: Path, *, text_col, label_col, label_sep, encoding, max_bytes) -> Iterator[Record]:
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


def _column(header: list[str], wanted: str | None, defaults: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in [wanted] if wanted else defaults:
        if name.strip().lower() in lowered:
            return lowered.index(name.strip().lower())
    return None


def csv_records(
    content: str | Iterator[str], path: Path, *, text_col, label_col, label_sep, max_bytes
) -> Iterator[Record]:
    """Records of a CSV given as its whole text or as its lines with their endings; E103-E109."""
    if isinstance(content, str):
        header_text = first_line(content)
    else:  # lines: read up to the first non-blank one (the header) for the delimiter, then read on from there
        ahead: list[str] = []
        for line in content:
            ahead.append(line)
            if line.strip():
                break
        header_text = ahead[-1].rstrip("\r\n") if ahead else ""
        content = itertools.chain(ahead, content)
    rows = csv_rows(path, content, csv_delimiter(path, header_text), max_bytes)
    first = next(rows, None)
    if first is None:
        return
    header_line, header = first
    header = [h.strip() for h in header]
    found = ", ".join(repr(h) for h in header)
    t = _column(header, text_col, TEXT_COLUMNS)
    if t is None:
        want = f"'{text_col}'" if text_col else "'text' (or " + ", ".join(TEXT_COLUMNS[1:]) + ")"
        raise fail(
            "E103",
            f"no text column {want} in the header (columns found: {found}); name it with --text-col",
            file=path,
            line=header_line,
        )
    lab = _column(header, label_col, LABEL_COLUMNS)
    if lab is None and label_col:
        raise fail(
            "E103",
            f"no label column '{label_col}' in the header (columns found: {found}); name it with --label-col",
            file=path,
            line=header_line,
        )
    sep = label_sep if label_sep else ("|" if lab is not None and header[lab].lower() == "labels" else None)
    split_i = _column(header, None, ("split",))
    id_i = _column(header, None, ("id",))
    width = len(header)
    for n, row in rows:
        if len(row) < width or any(cell.strip() for cell in row[width:]):
            raise fail(
                "E109",
                f"row has {len(row)} columns but the header has {width}; quote fields that contain the delimiter",
                file=path,
                line=n,
            )
        text = check_text(row[t], max_bytes, file=path, line=n, field=header[t])
        yield Record(
            text=text,
            labels=split_labels(row[lab], sep, file=path, line=n, field=header[lab]) if lab is not None else [],
            split=parse_split(row[split_i], file=path, line=n, field=header[split_i]) if split_i is not None else None,
            external_id=(row[id_i].strip() or None) if id_i is not None else None,
            file=str(path),
            line=n,
        )


def write_csv(records: Iterable[Record], fh: IO[str], *, out: Path, label_sep: str) -> int:
    """Header ``text,labels,split,id``; labels joined by ``label_sep`` (E115 when a label contains it)."""
    writer = csv_writer(fh, out)
    writer.writerow(["text", "labels", "split", "id"])
    n = 0
    for n, rec in enumerate(records, 1):
        writer.writerow([rec.text, join_labels(rec.labels, label_sep, out, n), rec.split or "", rec.external_id or ""])
    return n
