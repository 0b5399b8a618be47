"""Archives (zip, tar of any compression, single ``.gz`` / ``.bz2`` / ``.xz`` files) as units, member by member.

The archive readers of :mod:`nlpipe.readers.archives` walk them with their guards (bombs, traversal, links, hidden
files, sizes, member counts, corrupt data: every problem a coded :class:`~nlpipe.readers.archives.guards.Problem`,
the members before a corrupt spot kept); each member becomes a ``bytes`` unit named ``outer.zip!dir/a.txt``, and an
archive inside is opened in turn, up to :data:`~nlpipe.readers.dispatch.route.MAX_DEPTH` deep, under the same
budget, exactly as ingest reads them. Members are documents only, never containers: a CSV or JSON Lines member is
one document (read as plain text), and an mbox or a WARC inside an archive is not read (E175: unpack it first).

A zip file on disk is not read here at all (:func:`zip_units`): its central directory is walked as a stream, every
guard that needs only a member's directory entry is applied (names, links, hidden files, encryption, declared sizes
and ratios, the member count and the archive's total), and each member becomes a ``member`` unit naming the archive
and the entry, which the worker reads itself (:mod:`nlpipe.batch.documents`; the read is capped at the declared size,
so the total holds). Members whose names say they are archives (``.zip``, ``.tar.gz``, ``.gz``...) are read here
and opened as above; an archive under another name is refused by the worker (E175). Images by name are skipped
here when OCR is off.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from typing import IO

from nlpipe.batch.problems import error_unit, image_off, problem_unit, too_large
from nlpipe.batch.units import SourceOptions, Unit
from nlpipe.config import Settings
from nlpipe.errors import LimitError, NlpipeError
from nlpipe.readers.archives.guards import ArchiveBudget, ArchiveLimits, Member, corrupt, count_member, too_many
from nlpipe.readers.archives.walk import ARCHIVE_KINDS, iter_archive
from nlpipe.readers.archives.zip_directory import ZipEntry, directory_span, iter_entries, open_entry
from nlpipe.readers.archives.zips import entry_problem, read_entry
from nlpipe.readers.dispatch.route import MAX_DEPTH
from nlpipe.readers.dispatch.sniff import SNIFF_BYTES, sniff
from nlpipe.readers.textfile import fail

__all__ = ["ARCHIVE_NAMES", "archive_units", "image_skipped", "zip_units"]

#: Member names that say "an archive": such members are read by the reader and opened, up to the depth limit.
ARCHIVE_NAMES = (".zip", ".tar", ".tgz", ".tbz", ".tbz2", ".txz", ".gz", ".gzip", ".bz2", ".xz")
_IMAGE_NAMES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def image_skipped(source: str) -> Unit:
    """The ``skipped`` unit of an image when OCR is off (E190), as ingest reports it."""
    return problem_unit(source, image_off(source), skipped=True)


def archive_units(
    fileobj: IO[bytes],
    kind: str,
    source: str,
    name: str,
    settings: Settings,
    options: SourceOptions,
    depth: int = 0,
    budget: ArchiveBudget | None = None,
) -> Iterator[Unit]:
    """The units of one archive read from ``fileobj`` (seekable, at its start) of reader kind ``kind``; ``name`` is
    its file name (a ``.gz`` file's member is named after it). ``depth`` counts the archives around it."""
    if depth >= MAX_DEPTH:
        exc = fail("E187", f"an archive nested more than {MAX_DEPTH} archives deep; it was not opened -- unpack the "
                   "outer archives first", file=source, kind=LimitError)  # fmt: skip
        yield problem_unit(source, exc, skipped=False)
        return
    budget = budget if budget is not None else ArchiveBudget(ArchiveLimits.for_batch(settings))
    items = iter_archive(fileobj, kind=kind, source=source, budget=budget, name=name, password=options.password)
    for item in items:
        if isinstance(item, Member):
            yield from _member_units(item, settings, options, depth + 1, budget)
        else:
            yield problem_unit(item.source, item.error, skipped=item.skipped)


def _member_units(
    member: Member, settings: Settings, options: SourceOptions, depth: int, budget: ArchiveBudget
) -> Iterator[Unit]:
    data, source = member.data, member.source
    if not data:
        yield error_unit(source, source, fail("E176", "empty file (0 bytes); nothing to read", file=source))
        return
    try:
        kind = sniff(data[:SNIFF_BYTES], member.name, io.BytesIO(data), source)
    except NlpipeError as exc:
        yield error_unit(source, source, exc)
        return
    if kind in ARCHIVE_KINDS:
        yield from archive_units(io.BytesIO(data), kind, source, member.name, settings, options, depth, budget)
    elif len(data) > settings.max_document_bytes:
        yield error_unit(source, source, too_large(source, len(data), settings.max_document_bytes))
    elif kind == "image" and options.ocr == "never":
        yield image_skipped(source)
    else:
        yield Unit(id=source, source=source, kind="bytes", data=data)


def zip_units(fh: IO[bytes], path: str, source: str, settings: Settings, options: SourceOptions) -> Iterator[Unit]:
    """The units of the zip file at ``path`` (open as ``fh``), its directory streamed: ``member`` units the workers
    read, problem units for members refused by their entries, and the units of archives inside (read here)."""
    budget = ArchiveBudget(ArchiveLimits.for_batch(settings))
    try:
        span = directory_span(fh)
    except Exception as exc:  # no end record, or one pointing outside the file
        yield problem_unit(source, corrupt(source, "zip", exc), skipped=False)
        return
    if span.entries > budget.limits.max_members:
        yield problem_unit(source, too_many(source, budget.limits, span.entries), skipped=False)
        return
    archive, kept = os.path.abspath(path), 0
    try:
        for entry in iter_entries(fh, span):
            if budget.exhausted:
                return
            over = count_member(budget, source)
            if over is not None:
                yield problem_unit(over.source, over.error, skipped=False)
                return
            if entry.is_dir() or stat.S_IFMT(entry.external_attr >> 16) == stat.S_IFDIR:
                continue
            kept += 1
            yield from _entry_units(fh, archive, entry, source, settings, options, budget)
    except Exception as exc:  # a damaged directory: the members before the damage are kept
        yield problem_unit(source, corrupt(source, "zip", exc, kept=kept), skipped=False)


def _entry_units(
    fh: IO[bytes],
    archive: str,
    entry: ZipEntry,
    source: str,
    settings: Settings,
    options: SourceOptions,
    budget: ArchiveBudget,
) -> Iterator[Unit]:
    msrc = f"{source}!{entry.filename}"
    problem = entry_problem(entry, msrc, budget, options.password)
    lower = entry.filename.lower()
    if problem is not None:
        yield problem_unit(problem.source, problem.error, skipped=problem.skipped)
    elif lower.endswith(ARCHIVE_NAMES):
        try:
            data = read_entry(lambda pwd: open_entry(fh, entry, pwd), entry, msrc, budget, options.password)
        except NlpipeError as exc:
            yield error_unit(msrc, msrc, exc)
            return
        yield from _member_units(Member(msrc, entry.filename, data), settings, options, 1, budget)
    elif lower.endswith(_IMAGE_NAMES) and options.ocr == "never":
        yield image_skipped(msrc)
    else:
        budget.total_bytes += entry.file_size  # read by a worker, at most this many bytes
        yield Unit(id=msrc, source=msrc, kind="member", path=archive, member=entry)
