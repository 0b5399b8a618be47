"""Archives (zip, tar of any compression, single ``.gz`` / ``.bz2`` / ``.xz`` files) as units, member by member.

The archive readers of :mod:`nlpipe.readers.archives` walk them with their guards (bombs, traversal, links, hidden
files, sizes, member counts, corrupt data: every problem a coded :class:`~nlpipe.readers.archives.guards.Problem`,
the members before a corrupt spot kept); each member becomes a ``bytes`` unit named ``outer.zip!dir/a.txt``, and an
archive inside is opened in turn, up to :data:`~nlpipe.readers.dispatch.route.MAX_DEPTH` deep, under the same
budget, exactly as ingest reads them. Members are documents only, never containers: a CSV or JSON Lines member is
one document (read as plain text), and an mbox or a WARC inside an archive is not read (E175: unpack it first).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO

from nlpipe.batch.problems import error_unit, problem_unit, too_large
from nlpipe.batch.units import SourceOptions, Unit
from nlpipe.config import Settings
from nlpipe.errors import LimitError, NlpipeError
from nlpipe.readers.archives.guards import ArchiveBudget, ArchiveLimits, Member
from nlpipe.readers.archives.walk import ARCHIVE_KINDS, iter_archive
from nlpipe.readers.dispatch.route import MAX_DEPTH
from nlpipe.readers.dispatch.sniff import SNIFF_BYTES, sniff
from nlpipe.readers.textfile import fail

__all__ = ["archive_units", "image_skipped"]


def image_skipped(source: str) -> Unit:
    """The ``skipped`` unit of an image when OCR is off (E190), as ingest reports it."""
    exc = fail("E190", "skipped: an image is read by OCR, and OCR is off; pass --ocr auto to read it", file=source)
    return problem_unit(source, exc, skipped=True)


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
    budget = budget if budget is not None else ArchiveBudget(ArchiveLimits.from_settings(settings))
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
