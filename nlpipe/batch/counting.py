"""The number of units a batch will read, for the progress bar, when it can be known cheaply: without parsing a
document or decompressing an archive.

A file is one unit; a folder counts its entries (files by their shape, skipped ones once); a zip its members, from
its central directory (unknown when a member's name says it is an archive); a single ``.gz`` / ``.bz2`` / ``.xz``
file one member; a CSV / JSON Lines file under :data:`ROWS_COUNT_BYTES` its non-blank lines (a CSV less its header:
a CSV with line breaks inside quoted fields has fewer rows than that, so the total is then an upper bound). A tar,
a WARC, an mbox or a ``--split-on`` file has no cheap count: the total is then None.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from nlpipe.batch.members import ARCHIVE_NAMES
from nlpipe.batch.shapes import classify
from nlpipe.batch.units import SourceOptions
from nlpipe.config import Settings
from nlpipe.errors import NlpipeError
from nlpipe.readers.archives.compressed import COMPRESSED_SUFFIXES, peek_decompressed
from nlpipe.readers.archives.folders import iter_folder
from nlpipe.readers.archives.guards import FolderFile
from nlpipe.readers.archives.zip_directory import directory_span, iter_entries
from nlpipe.readers.dispatch.sniff import SNIFF_BYTES, is_archive

__all__ = ["ROWS_COUNT_BYTES", "count_units"]

#: Rows files up to this size have their lines counted.
ROWS_COUNT_BYTES = 200 * 1024 * 1024
_PIECE = 1024 * 1024


def _zip_count(fh: IO[bytes], settings: Settings) -> int | None:
    """Members (not folders) from the directory, streamed; None when one is named as an archive (opened later)."""
    try:
        span = directory_span(fh)
        if span.entries > settings.max_batch_archive_members:
            return 1  # refused whole (E186)
        count = 0
        for entry in iter_entries(fh, span):
            if entry.is_dir():
                continue
            if entry.filename.lower().endswith(ARCHIVE_NAMES):
                return None  # an archive inside: its members are not counted without opening it
            count += 1
    except Exception:
        return 1  # one E182 unit
    finally:
        fh.seek(0)
    return count


def _line_count(fh: IO[bytes], header: bool) -> int | None:
    """Non-blank lines (less a header line), read in bounded pieces; None for UTF-16/32 text."""
    head = fh.read(4)
    fh.seek(0)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in head:
        return None
    count, content = 0, False
    while piece := fh.readline(_PIECE):
        content = content or bool(piece.strip())
        if piece.endswith(b"\n"):
            count, content = count + content, False
    count += content
    return max(count - 1, 0) if header else count


def _file_count(path: Path, source: str, options: SourceOptions, settings: Settings) -> int | None:
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(SNIFF_BYTES)
            fh.seek(0)
            if size == 0:
                return 1
            try:
                shape = classify(head, path.name, fh, source, options)
            except NlpipeError:
                return 1
            if shape == "zip":
                return _zip_count(fh, settings)
            if shape in ("csv", "jsonl"):
                if size > ROWS_COUNT_BYTES:
                    return None
                return _line_count(fh, header=shape == "csv" and not options.no_header)
    except OSError:
        return 1  # one E195 unit
    if shape in COMPRESSED_SUFFIXES:  # a single compressed file: one member, unless that is an archive
        inner = path.name.rsplit(".", 1)[0] if "." in path.name else path.name + ".out"
        return None if is_archive(peek_decompressed(head, shape, SNIFF_BYTES), inner) else 1
    if shape in ("tar", "warc", "mbox", "split"):
        return None
    return 1


def count_units(inputs: Sequence[str | Path], options: SourceOptions, settings: Settings) -> int | None:
    """How many units :func:`~nlpipe.batch.sources.iter_units` will yield for ``inputs``, or None when that cannot
    be known cheaply (see the module docstring). A cheap estimate for a progress bar, not a promise: guards that
    stop an archive early, and CSV rows spanning lines, make the real number smaller."""
    total = 0
    for raw in inputs:
        path = Path(raw)
        source = path.as_posix()
        if path.is_dir():
            for item in iter_folder(path, source=source):
                n = _file_count(item.path, item.source, options, settings) if isinstance(item, FolderFile) else 1
                if n is None:
                    return None
                total += n
        else:
            n = _file_count(path, source, options, settings)
            if n is None:
                return None
            total += n
    return total
