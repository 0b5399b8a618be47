"""The input side of a batch run: every document of every input as a stream of :class:`~nlpipe.batch.units.Unit` s.

:func:`check_inputs` and :func:`check_options` refuse a run that cannot start (a missing input, a bad
``--split-on``...) before anything is written; :func:`iter_units` reads the inputs in the order given, streamed,
one document (or problem) at a time; :func:`count_units` is the total for a progress bar when it is cheap;
:func:`unit_document`, run by the workers, turns a unit into the document a model predicts on.

What becomes a unit:

- a folder: its files, recursively, in ingest's order (each folder's files sorted by name, then its sub-folders,
  sorted); links, hidden files and the like are ``skipped`` units with ingest's codes (E189, E191);
- a zip / tar / tgz / tar.bz2 / tar.xz archive or a single ``.gz`` / ``.bz2`` / ``.xz`` file: each member a
  ``bytes`` unit ``outer.zip!dir/a.txt`` (nested archives opened up to the readers' depth,
  ``outer.zip!inner.tar!x.txt``), every guard problem a unit with the reader's code (:mod:`.members`);
- a CSV / TSV / JSON Lines file: a ``text`` unit per row (:mod:`.tables`); an mbox file: an ``email`` unit per message
  (:mod:`.mbox`); a WARC (gzipped or not): an ``html`` or ``text`` unit per HTML or plain-text response
  (:mod:`.warc`); a plain-text or Markdown file with ``--split-on``: a ``text`` unit per item (:mod:`.split`).
  These containers are read as such when they are inputs or files of a folder; inside an archive a CSV / JSON
  Lines member is one plain-text document and an mbox or WARC member is not read (E175), and ``--split-on`` applies
  to nothing else (not to PDFs, HTML, rows, e-mails or archive members);
- any other file (PDF, image, DOCX, HTML, e-mail, text...): one ``file`` unit, refused up front when over
  NLPIPE_MAX_DOCUMENT_BYTES (E178), empty (E176) or of a type nlpipe does not read (E175); an image with OCR off is
  ``skipped`` (E190).

Ids are stable across runs and machines: paths as given (a folder's files below the folder as given), member
paths, row ids or ``file:LINE``, ``URI@WARC-Date``, Message-IDs or ``file#msg-N``, ``file#item-N``. A ``file``
unit's ``path`` is absolute, for workers whose current folder differs.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from nlpipe.batch.counting import count_units
from nlpipe.batch.documents import unit_document
from nlpipe.batch.mbox import mbox_units
from nlpipe.batch.members import archive_units, image_skipped, zip_units
from nlpipe.batch.problems import error_unit, problem_unit, too_large
from nlpipe.batch.shapes import check_options, classify, split_pattern
from nlpipe.batch.split import split_units
from nlpipe.batch.tables import csv_ranges, jsonl_ranges
from nlpipe.batch.units import SourceOptions, Unit
from nlpipe.batch.warc import warc_units
from nlpipe.config import Settings
from nlpipe.errors import NlpipeError
from nlpipe.readers.archives.folders import iter_folder
from nlpipe.readers.archives.guards import FolderFile
from nlpipe.readers.archives.walk import ARCHIVE_KINDS
from nlpipe.readers.dispatch.sniff import SNIFF_BYTES
from nlpipe.readers.textfile import fail

__all__ = ["check_inputs", "check_options", "count_units", "iter_units", "unit_document"]


def _unreadable(source: str, exc: OSError) -> NlpipeError:
    if isinstance(exc, FileNotFoundError):
        return fail("E195", "no such file or folder; check the path (relative paths start from the current folder)",
                    file=source)  # fmt: skip
    return fail("E195", f"cannot read it ({exc.strerror or exc}); check that it exists and its permissions",
                file=source)  # fmt: skip


def _check_input(path: Path, source: str) -> None:
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            with os.scandir(path):
                pass
        elif stat.S_ISREG(st.st_mode):
            with open(path, "rb"):
                pass
        else:
            raise fail("E195", "not a regular file or folder (a device, FIFO or socket); name a file or folder",
                       file=source)  # fmt: skip
    except OSError as exc:
        raise _unreadable(source, exc) from None


def check_inputs(inputs: Sequence[str | Path]) -> None:
    """Refuse a run whose inputs cannot all be read, before anything is written: no input at all (E800), a path
    that does not exist, a file that cannot be opened, a folder that cannot be listed or something that is neither
    (E195, naming it). What is inside is not read here: a bad file in a folder or archive is a unit of its own."""
    if not inputs:
        raise fail("E800", "no input given; name at least one file, folder or archive to read")
    for raw in inputs:
        path = Path(raw)
        _check_input(path, path.as_posix())


@dataclass(frozen=True)
class _Context:
    options: SourceOptions
    settings: Settings
    pattern: re.Pattern[str] | None


def _guarded(units: Iterator[Unit], source: str) -> Iterator[Unit]:
    """A container's units; an error that stops it part-way (undecodable text, a read error) ends it with a unit."""
    try:
        yield from units
    except NlpipeError as exc:
        yield error_unit(source, source, exc)
    except OSError as exc:
        yield error_unit(source, source, _unreadable(source, exc))


def _shape_units(shape: str, fh: IO[bytes], path: Path, source: str, size: int, ctx: _Context) -> Iterator[Unit]:
    limit = ctx.settings.max_document_bytes
    if shape == "warc":
        yield from warc_units(fh, source, ctx.settings)
    elif shape == "mbox":
        yield from mbox_units(fh, source, limit)
    elif shape == "csv":
        yield from csv_ranges(fh, str(path), source, ctx.options, limit)
    elif shape == "jsonl":
        yield from jsonl_ranges(fh, str(path), source, ctx.options, limit)
    elif shape == "split" and ctx.pattern is not None:
        yield from split_units(fh, source, ctx.pattern, limit)
    elif shape == "zip":
        yield from zip_units(fh, str(path), source, ctx.settings, ctx.options)
    elif shape in ARCHIVE_KINDS:
        yield from archive_units(fh, shape, source, path.name, ctx.settings, ctx.options)
    elif shape == "image" and ctx.options.ocr == "never":
        yield image_skipped(source)
    elif size > limit:
        yield error_unit(source, source, too_large(source, size, limit, "file"))
    else:
        yield Unit(id=source, source=source, kind="file", path=os.path.abspath(path))


def _file_units(path: Path, source: str, ctx: _Context) -> Iterator[Unit]:
    """The units of one file on disk, by its shape; the file is read as a stream, never whole."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in the finally below, also when the consumer stops early
    except OSError as exc:
        yield error_unit(source, source, _unreadable(source, exc))
        return
    try:
        try:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                raise fail("E176", "empty file (0 bytes); nothing to read -- remove it or check the copy", file=source)
            head = fh.read(SNIFF_BYTES)
            fh.seek(0)
            shape = classify(head, path.name, fh, source, ctx.options)
        except NlpipeError as exc:
            yield error_unit(source, source, exc)
            return
        except OSError as exc:
            yield error_unit(source, source, _unreadable(source, exc))
            return
        yield from _guarded(_shape_units(shape, fh, path, source, size, ctx), source)
    finally:
        fh.close()


def _input_units(raw: str | Path, ctx: _Context) -> Iterator[Unit]:
    path = Path(raw)
    source = path.as_posix()
    try:
        st = path.stat()
    except OSError as exc:  # gone since check_inputs: this input's unit says so, the run goes on
        yield error_unit(source, source, _unreadable(source, exc))
        return
    if stat.S_ISDIR(st.st_mode):
        for item in iter_folder(path, source=source):
            if isinstance(item, FolderFile):
                yield from _file_units(item.path, item.source, ctx)
            else:
                yield problem_unit(item.source, item.error, skipped=item.skipped)
    elif stat.S_ISREG(st.st_mode):
        yield from _file_units(path, source, ctx)
    else:
        yield error_unit(source, source, fail("E195", "not a regular file or folder (a device, FIFO or socket); "
                                              "name a file or folder", file=source))  # fmt: skip


def _units(inputs: list[str | Path], ctx: _Context) -> Iterator[Unit]:
    for raw in inputs:
        yield from _input_units(raw, ctx)


def iter_units(inputs: Sequence[str | Path], options: SourceOptions, settings: Settings) -> Iterator[Unit]:
    """Every document of every input as a :class:`Unit`, in a deterministic order: inputs in the order given, a
    folder's files as ingest orders them, archive members, rows, messages, records and items in file order.

    Streamed: at most one member, row, message, record or item is held (with the archives around a member and a
    bounded read buffer). Every problem is a unit (``error``, or ``skipped`` for files left out on purpose) and
    reading goes on. The options are checked when this is called (:func:`check_options`: E196, E801, E802); call
    :func:`check_inputs` first to refuse missing inputs up front (one that disappears later is an E195 unit).
    """
    check_options(options)
    return _units(list(inputs), _Context(options, settings, split_pattern(options)))
