"""Write :class:`~nlpipe.types.Record` streams in the formats :mod:`nlpipe.label.formats` reads.

What is written reads back identically with ``read_records`` (the tests round-trip every format).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from nlpipe.label import annotations
from nlpipe.label.formats import _CHOICES, _FT_PREFIX, _ML_USE_OUT, _check_format, _hidden
from nlpipe.label.textfile import fail
from nlpipe.types import Record

__all__ = ["write_records"]


def write_records(
    records: Iterable[Record], out: Path, fmt: str | None = None, *, label_sep: str = "|", conll_scheme: str = "iob2"
) -> int:
    """Write ``records`` to ``out`` and return how many were written.

    ``fmt`` defaults from the extension: .jsonl/.ndjson -> jsonl, .csv/.tsv -> csv, .txt/.ft -> fasttext.
    ``folder`` writes ``out/<label>/<id or n>.txt`` (a multi-label document goes in each label's folder).
    Files are written to a temporary name and moved into place, so a failure (E115, a record the format
    cannot carry) leaves nothing behind. A folder export needs ``out`` to be absent or empty (E116).
    Entity-annotation formats (.conll/.iob -> conll, .spacy -> spacy, .json -> labelstudio, and
    ``comprehend-entities``) are written by :func:`nlpipe.label.annotations.write`; ``conll_scheme`` is
    ``iob2`` or ``iob1``.
    """
    out = Path(out)
    fmt = _check_format(fmt) if fmt else _export_format(out)
    if not label_sep:
        raise fail("E115", "label_sep must not be empty", field="label_sep")
    if fmt in annotations.ANNOTATION_FORMATS:
        return annotations.write(records, out, fmt, conll_scheme=conll_scheme)
    if fmt == "folder":
        return _write_folder(records, out)
    if out.is_dir():
        raise fail("E116", f"is a folder; name a file to write {fmt} to", file=out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            count = _WRITERS[fmt](records, fh, out=out, label_sep=label_sep)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


def _export_format(out: Path) -> str:
    suffix = out.suffix.lower()
    by_suffix = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "csv", ".txt": "fasttext",
                 ".ft": "fasttext"}  # fmt: skip
    if found := annotations.export_format_for_suffix(suffix):
        return found
    if suffix not in by_suffix:
        raise fail(
            "E101",
            f"cannot tell the export format from the extension '{suffix or '(none)'}'; pass "
            f"--format with one of: {_CHOICES}",
            file=out,
        )
    return by_suffix[suffix]


def _cannot(out: Path, n: int, why: str) -> Exception:
    return fail("E115", f"record {n} cannot be written: {why}", file=out)


def _joined(labels: list[str], sep: str, out: Path, n: int) -> str:
    for label in labels:
        if sep in label:
            raise _cannot(out, n, f"label '{label}' contains the separator '{sep}'; pick another label_sep")
    return sep.join(labels)


def _write_jsonl(records: Iterable[Record], fh: IO[str], *, out: Path, label_sep: str) -> int:
    count = 0
    for rec in records:
        count += 1
        obj: dict[str, Any] = {}
        if rec.external_id is not None:
            obj["id"] = rec.external_id
        obj["text"] = rec.text
        obj["labels"] = list(rec.labels)
        if rec.spans:
            obj["spans"] = [{"start": sp.start, "end": sp.end, "label": sp.label} for sp in rec.spans]
        if rec.split is not None:
            obj["split"] = rec.split
        fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
    return count


def _csv_writer(fh: IO[str], out: Path) -> Any:
    return csv.writer(fh, delimiter="\t" if out.suffix.lower() == ".tsv" else ",", lineterminator="\n")


def _write_csv(records: Iterable[Record], fh: IO[str], *, out: Path, label_sep: str) -> int:
    writer = _csv_writer(fh, out)
    writer.writerow(["text", "labels", "split", "id"])
    n = 0
    for n, rec in enumerate(records, 1):
        writer.writerow([rec.text, _joined(rec.labels, label_sep, out, n), rec.split or "", rec.external_id or ""])
    return n


def _write_comprehend(records: Iterable[Record], fh: IO[str], *, out: Path, label_sep: str) -> int:
    writer = _csv_writer(fh, out)
    n = 0
    for n, rec in enumerate(records, 1):
        if not rec.labels:
            raise _cannot(out, n, "Comprehend rows need a label; drop unlabeled documents or use jsonl/csv")
        writer.writerow([_joined(rec.labels, label_sep, out, n), rec.text])
    return n


def _write_automl(records: Iterable[Record], fh: IO[str], *, out: Path, label_sep: str) -> int:
    writer = _csv_writer(fh, out)
    n = 0
    for n, rec in enumerate(records, 1):
        if rec.text.strip().lower().startswith("gs://"):
            raise _cannot(out, n, "AutoML would read text starting with gs:// as a file reference")
        writer.writerow([_ML_USE_OUT.get(rec.split, "UNASSIGNED"), rec.text, *rec.labels])
    return n


_NEWLINES = re.compile(r"\r\n|\r|\n")


def _write_fasttext(records: Iterable[Record], fh: IO[str], *, out: Path, label_sep: str) -> int:
    n = 0
    for n, rec in enumerate(records, 1):
        for label in rec.labels:
            if any(ch.isspace() for ch in label):
                raise _cannot(out, n, f"fastText labels cannot contain whitespace: '{label}'; rename it")
        prefix = "".join(f"{_FT_PREFIX}{label} " for label in rec.labels)
        fh.write(prefix + _NEWLINES.sub(" ", rec.text) + "\n")  # fastText is one document per line
    return n


_WRITERS: dict[str, Callable[..., int]] = {
    "jsonl": _write_jsonl,
    "csv": _write_csv,
    "automl": _write_automl,
    "comprehend": _write_comprehend,
    "fasttext": _write_fasttext,
}

_UNSAFE = re.compile(r"[^\w.\-]+")


def _file_stem(rec: Record, n: int) -> str:
    stem = _UNSAFE.sub("_", rec.external_id or "").strip("._")[:100]
    stem = stem or str(n)
    return stem if stem.lower().endswith(".txt") else f"{stem}.txt"


def _check_folder_label(label: str, out: Path, n: int) -> None:
    if not label.strip() or label in (".", "..") or _hidden(label) or any(c in label for c in "/\\\0"):
        raise _cannot(out, n, f"label '{label}' cannot be a folder name (no '/', '\\', leading '.')")


def _write_folder(records: Iterable[Record], out: Path) -> int:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise fail("E116", "already exists and is not an empty folder; choose a new folder to export to", file=out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    used: dict[str, set[str]] = {}  # label -> lower-cased file names taken
    n = 0
    try:
        tmp.mkdir()
        for n, rec in enumerate(records, 1):
            if not rec.labels:
                raise _cannot(out, n, "a folder export needs a label for every document")
            for label in rec.labels:
                _check_folder_label(label, out, n)
            name = _file_stem(rec, n)
            stem, k = name[:-4], 1
            while any(name.lower() in used.get(label, ()) for label in rec.labels):
                k += 1
                name = f"{stem}-{k}.txt"
            for label in rec.labels:
                used.setdefault(label, set()).add(name.lower())
                (tmp / label).mkdir(exist_ok=True)
                (tmp / label / name).write_text(rec.text, encoding="utf-8", newline="")
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return n
