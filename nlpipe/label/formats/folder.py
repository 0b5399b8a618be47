"""``folder``: one sub-folder per label, each file below it one document (any encoding).

``external_id`` is the file's path relative to the dataset folder. The same relative path with identical content
under several label folders is one multi-label document (this is how :func:`write_folder` exports them).
Hidden files and folders (names starting with ``.``) are ignored.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from nlpipe.label.formats.common import cannot_write, temp_name
from nlpipe.readers.fields import check_text, too_large
from nlpipe.readers.textfile import fail, read_text
from nlpipe.types import Record

__all__ = ["read_folder", "write_folder"]

_UNSAFE = re.compile(r"[^\w.\-]+")


def _hidden(name: str) -> bool:
    return name.startswith(".")


def read_folder(
    path: Path,
    *,
    text_col: str | None,
    label_col: str | None,
    label_sep: str | None,
    encoding: str | None,
    max_bytes: int,
) -> Iterator[Record]:
    """Records of a dataset folder; E114 for files directly in it (they have no label folder)."""
    with os.scandir(path) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    stray = [e.name for e in entries if not _hidden(e.name) and not e.is_dir()]
    if stray:
        shown = ", ".join(stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
        raise fail(
            "E114",
            f"file(s) directly in the dataset folder have no label: {shown}; move each into a sub-folder "
            "named after its label, or delete them",
            file=path,
        )
    labels = [e.name for e in entries if e.is_dir() and not _hidden(e.name)]
    docs: dict[str, dict[str, Path]] = {}  # label -> path below the label folder -> file
    for label in labels:
        files: dict[str, Path] = {}
        for root, dirs, names in os.walk(path / label):
            dirs[:] = sorted(d for d in dirs if not _hidden(d))
            for name in sorted(names):
                if not _hidden(name):
                    full = Path(root) / name
                    files[full.relative_to(path / label).as_posix()] = full
        docs[label] = files
    done: set[tuple[str, str]] = set()
    for i, label in enumerate(labels):
        for rel, file in docs[label].items():
            if (label, rel) in done:
                continue
            data = _read_doc(file, max_bytes)
            doc_labels = [label]
            for other in labels[i + 1 :]:
                twin = docs[other].get(rel)
                if (
                    twin is not None
                    and (other, rel) not in done
                    and twin.stat().st_size == len(data)
                    and twin.read_bytes() == data
                ):
                    doc_labels.append(other)
                    done.add((other, rel))
            text = check_text(read_text(data, encoding, source=file), max_bytes, file=file, line=None)
            yield Record(text=text, labels=doc_labels, external_id=f"{label}/{rel}", file=str(file))


def _read_doc(file: Path, max_bytes: int) -> bytes:
    size = file.stat().st_size
    if size > 4 * max_bytes + 4:  # even UTF-32 text this size decodes to more than max_bytes of UTF-8
        raise too_large(size, max_bytes, file=file, line=None)
    try:
        return file.read_bytes()
    except OSError as exc:
        raise fail("E100", f"cannot read the file ({exc.strerror or exc})", file=file) from None


def _file_stem(rec: Record, n: int) -> str:
    stem = _UNSAFE.sub("_", rec.external_id or "").strip("._")[:100]
    stem = stem or str(n)
    return stem if stem.lower().endswith(".txt") else f"{stem}.txt"


def _check_folder_label(label: str, out: Path, n: int) -> None:
    if not label.strip() or label in (".", "..") or _hidden(label) or any(c in label for c in "/\\\0"):
        raise cannot_write(out, n, f"label '{label}' cannot be a folder name (no '/', '\\', leading '.')")


def write_folder(records: Iterable[Record], out: Path) -> int:
    """Write ``out/<label>/<id or n>.txt`` (a multi-label document goes in each label's folder).

    ``out`` must be absent or an empty folder (E116); every record needs a label (E115). The folder is built
    under a temporary name and moved into place.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise fail("E116", "already exists and is not an empty folder; choose a new folder to export to", file=out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(out)
    shutil.rmtree(tmp, ignore_errors=True)
    used: dict[str, set[str]] = {}  # label -> lower-cased file names taken
    n = 0
    try:
        tmp.mkdir()
        for n, rec in enumerate(records, 1):
            if not rec.labels:
                raise cannot_write(out, n, "a folder export needs a label for every document")
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
