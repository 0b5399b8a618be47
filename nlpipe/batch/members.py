"""Archives (zip, tar of any compression, single ``.gz`` / ``.bz2`` / ``.xz`` files) as units, member by member.

The archive readers of :mod:`nlpipe.readers.archives` walk them with their guards (bombs, traversal, links, hidden
files, sizes, member counts, corrupt data: every problem a coded :class:`~nlpipe.readers.archives.guards.Problem`,
the members before a corrupt spot kept); each member becomes a ``bytes`` unit named ``outer.zip!dir/a.txt``, and an
archive inside is opened in turn, up to :data:`~nlpipe.readers.dispatch.route.MAX_DEPTH` deep, under the same
budget, exactly as ingest reads them. Members are documents only, never containers: a CSV or JSON Lines member is
one document (read as plain text), and an mbox or a WARC inside an archive is not read (E175: unpack it first).

A zip file on disk is not read here at all (:func:`zip_units`): its central directory is walked as a stream, the
member count and the archive's total are enforced (by declared sizes), and the members are handed on as ranges of
directory entries (``members`` units, named by the directory bytes that hold them, which the worker reads back:
:func:`~nlpipe.readers.archives.zip_directory.directory_slice`), which the workers check (:func:`member_units`:
names, links, hidden files, encryption, declared sizes and ratios, each problem a unit where the member stands,
with ingest's codes) and read themselves (:mod:`nlpipe.batch.documents`; a read is capped at the declared size, so
the total holds). This keeps the reader's work per member to parsing its entry: with several workers it is not the
bottleneck. Members whose
names say they are archives (``.zip``, ``.tar.gz``, ``.gz``...) are read here and opened as above; an archive
under another name is refused by the worker (E175). A member's declared size counts toward the archive's total
whether or not the worker later refuses it by its name (an empty or over-large one does not count).
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from collections.abc import Iterator
from typing import IO

from nlpipe.batch.problems import error_unit, image_off, problem_unit, too_large
from nlpipe.batch.units import SourceOptions, Unit
from nlpipe.config import Settings
from nlpipe.errors import LimitError, NlpipeError
from nlpipe.readers.archives.guards import (
    ArchiveBudget,
    ArchiveLimits,
    Member,
    corrupt,
    count_member,
    too_many,
    too_much,
)
from nlpipe.readers.archives.walk import ARCHIVE_KINDS, iter_archive
from nlpipe.readers.archives.zip_directory import ZipEntry, directory_slice, directory_span, open_entry, walk_entries
from nlpipe.readers.archives.zips import entry_problem, read_entry
from nlpipe.readers.dispatch.route import MAX_DEPTH
from nlpipe.readers.dispatch.sniff import SNIFF_BYTES, sniff
from nlpipe.readers.textfile import fail

__all__ = ["ARCHIVE_NAMES", "RANGE_BYTES", "RANGE_MEMBERS", "archive_units", "image_skipped", "member_units",
           "zip_units"]  # fmt: skip

#: A ``members`` range holds at most this many entries and this many declared bytes.
RANGE_MEMBERS = 256
RANGE_BYTES = 16 * 1024 * 1024

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
    """The units of the zip file at ``path`` (open as ``fh``), its directory streamed: ``members`` units (ranges of
    up to :data:`RANGE_MEMBERS` entries and :data:`RANGE_BYTES` declared bytes) that the workers check and read,
    the member count and the archive's total enforced here (E186, E185), and the units of archives inside (read
    here, their guards applied here)."""
    budget = ArchiveBudget(ArchiveLimits.for_batch(settings))
    limits = budget.limits
    try:
        span = directory_span(fh)
    except Exception as exc:  # no end record, or one pointing outside the file
        yield problem_unit(source, corrupt(source, "zip", exc), skipped=False)
        return
    if span.entries > limits.max_members:
        yield problem_unit(source, too_many(source, limits, span.entries), skipped=False)
        return
    archive, kept = os.path.abspath(path), 0
    # The group being cut: its first member's name, where its entries start and end in the directory, its members
    # and their declared bytes. Without a group, ``group_start`` is where the next entry starts; with one,
    # ``group_end`` is (every entry either joins the group or is passed over).
    first: str | None = None
    group_start = group_end = span.start
    group_count = group_bytes = 0

    def flush() -> Iterator[Unit]:
        nonlocal first, group_count, group_bytes
        if first is not None:
            yield Unit(id=f"{source}!{first}", source=source, kind="members", path=archive,
                       members=(group_start, group_end, span.concat, group_count, group_bytes))  # fmt: skip
            first, group_count, group_bytes = None, 0, 0

    try:
        for entry, after in walk_entries(fh, span):
            if budget.exhausted:
                break
            over = count_member(budget, source)
            if over is not None:
                yield from flush()
                yield problem_unit(over.source, over.error, skipped=False)
                return
            if _is_folder(entry):  # in a group the worker passes over it; before one, the group starts after it
                group_start, group_end = (after, group_end) if first is None else (group_start, after)
                continue
            kept += 1
            size = entry.file_size
            if entry.filename.lower().endswith(ARCHIVE_NAMES):
                yield from flush()
                yield from _entry_units(fh, entry, source, settings, options, budget)
                group_start = after
                continue
            if 0 < size <= limits.max_member_bytes:  # read by a worker, at most this many bytes (the worker refuses
                if budget.total_bytes + size > limits.max_total_bytes:  # an empty or larger member by its entry)
                    budget.exhausted = True
                    yield from flush()
                    msrc = f"{source}!{entry.filename}"
                    yield problem_unit(msrc, too_much(msrc, limits, budget.total_bytes, size), skipped=False)
                    return
                budget.total_bytes += size
            if first is not None and (group_count >= RANGE_MEMBERS or group_bytes + size > RANGE_BYTES):
                yield from flush()
                group_start = group_end
            if first is None:
                first = entry.filename
            group_end = after
            group_count += 1
            group_bytes += size
        yield from flush()
    except Exception as exc:  # a damaged directory: the members before the damage are kept
        yield from flush()
        yield problem_unit(source, corrupt(source, "zip", exc, kept=kept), skipped=False)


def _is_folder(entry: ZipEntry) -> bool:
    return entry.is_dir() or stat.S_IFMT(entry.external_attr >> 16) == stat.S_IFDIR


def member_units(unit: Unit, settings: Settings, options: SourceOptions) -> list[Unit]:
    """A ``members`` range as the units of its members, in order, in the worker: the entries are read from the
    directory bytes the reader named (folders passed over), every guard a directory entry allows (names, links,
    hidden files, encryption without a password, declared size, declared ratio) makes a problem unit as the reader
    would, an image by name with OCR off is ``skipped``, and each other member is a ``member`` unit the worker
    reads. The archive's total and member count were enforced by the reader. An archive that cannot be read here
    (gone, or changed since) is one error unit for the range."""
    assert unit.members is not None and unit.path is not None, "a members unit names its archive and entries"
    start, end, concat, count, _ = unit.members
    try:
        with open(unit.path, "rb") as fh:
            entries = [e for e in directory_slice(fh, start, end, concat) if not _is_folder(e)]
        if len(entries) != count:
            raise zipfile.BadZipFile(f"{len(entries)} members where the reader found {count}")
    except OSError as exc:
        err = fail(
            "E195",
            f"cannot read it ({exc.strerror or exc}); the workers read zip members from the archive "
            "at the path the client was given -- run them where that path is readable",
            file=unit.source,
        )
        return [error_unit(unit.id, unit.source, err)]  # fmt: skip
    except Exception as exc:  # the directory differs from the one the reader walked: the archive changed
        return [error_unit(unit.id, unit.source, corrupt(unit.source, "zip", exc))]
    budget = ArchiveBudget(ArchiveLimits.for_batch(settings))
    out: list[Unit] = []
    for entry in entries:
        msrc = f"{unit.source}!{entry.filename}"
        problem = entry_problem(entry, msrc, budget, options.password)
        if problem is not None:
            out.append(problem_unit(problem.source, problem.error, skipped=problem.skipped))
        elif options.ocr == "never" and entry.filename.lower().endswith(_IMAGE_NAMES):
            out.append(image_skipped(msrc))
        else:
            out.append(Unit(id=msrc, source=msrc, kind="member", path=unit.path, member=entry))
    return out


def _entry_units(
    fh: IO[bytes],
    entry: ZipEntry,
    source: str,
    settings: Settings,
    options: SourceOptions,
    budget: ArchiveBudget,
) -> Iterator[Unit]:
    """A member named as an archive: checked by its entry, read here and opened (its members under the same
    budget)."""
    msrc = f"{source}!{entry.filename}"
    problem = entry_problem(entry, msrc, budget, options.password)
    if problem is not None:
        yield problem_unit(problem.source, problem.error, skipped=problem.skipped)
        return
    try:
        data = read_entry(lambda pwd: open_entry(fh, entry, pwd), entry, msrc, budget, options.password)
    except NlpipeError as exc:
        yield error_unit(msrc, msrc, exc)
        return
    yield from _member_units(Member(msrc, entry.filename, data), settings, options, 1, budget)
