"""``automl``: Google AutoML CSV, no header, ``ML_USE,text,label,label...``.

ML_USE is one of TRAIN, VALIDATE, TEST, UNASSIGNED (the split). ``gs://`` references instead of inline text
are rejected (E112).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from nlpipe.label.formats.common import cannot_write, csv_writer
from nlpipe.readers.fields import check_text, csv_delimiter, csv_rows, dedupe, first_line, split_labels
from nlpipe.readers.textfile import fail, read_text
from nlpipe.types import Record

__all__ = ["ML_USE", "read_automl", "write_automl"]

ML_USE: dict[str, str | None] = {"TRAIN": "train", "VALIDATE": "validation", "VALIDATION": "validation",
                                 "TEST": "test", "UNASSIGNED": None}  # fmt: skip
"""ML_USE values (the first cell of a row, upper case) -> split."""
_ML_USE_OUT = {"train": "TRAIN", "validation": "VALIDATE", "test": "TEST", None: "UNASSIGNED"}


def read_automl(
    path: Path,
    *,
    text_col: str | None,
    label_col: str | None,
    label_sep: str | None,
    encoding: str | None,
    max_bytes: int,
) -> Iterator[Record]:
    """Records of an AutoML CSV; E105 for an unknown ML_USE, E112 for a ``gs://`` reference."""
    content = read_text(path, encoding)
    for n, row in csv_rows(path, content, csv_delimiter(path, first_line(content)), max_bytes):
        if len(row) < 2:
            raise fail("E109", "expected ML_USE,text[,label...] but found 1 column", file=path, line=n)
        use = row[0].strip().upper()
        if use not in ML_USE:
            raise fail(
                "E105",
                f"unknown ML_USE '{row[0]}'; AutoML rows start with TRAIN, VALIDATE, TEST or UNASSIGNED",
                file=path,
                line=n,
                field="ML_USE",
            )
        text = row[1]
        if text.strip().lower().startswith("gs://"):
            raise fail(
                "E112",
                f"text is a Cloud Storage reference ({text.strip()}); nlpipe cannot fetch gs:// files -- "
                "download them and put the text inline, or import the folder of files with --format folder",
                file=path,
                line=n,
            )
        labels: list[str] = []
        for cell in row[2:]:
            labels.extend(split_labels(cell, label_sep, file=path, line=n, field="label"))
        yield Record(
            text=check_text(text, max_bytes, file=path, line=n, field="text"),
            labels=dedupe(labels),
            split=ML_USE[use],
            file=str(path),
            line=n,
        )


def write_automl(records: Iterable[Record], fh: IO[str], *, out: Path, label_sep: str) -> int:
    """One row per record: ML_USE from the split (UNASSIGNED without one), the text, then one cell per label."""
    writer = csv_writer(fh, out)
    n = 0
    for n, rec in enumerate(records, 1):
        if rec.text.strip().lower().startswith("gs://"):
            raise cannot_write(out, n, "AutoML would read text starting with gs:// as a file reference")
        writer.writerow([_ML_USE_OUT.get(rec.split, "UNASSIGNED"), rec.text, *rec.labels])
    return n
