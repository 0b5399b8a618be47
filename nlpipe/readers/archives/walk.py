"""One archive of any kind, member by member: the walker of its kind (zip, tar, single compressed file)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from nlpipe.readers.archives.compressed import COMPRESSED_SUFFIXES, iter_compressed
from nlpipe.readers.archives.guards import (
    ArchiveBudget,
    Member,
    Problem,
)
from nlpipe.readers.archives.tar import iter_tar
from nlpipe.readers.archives.zips import iter_zip

__all__ = ["ARCHIVE_KINDS", "iter_archive"]

ARCHIVE_KINDS = ("zip", "tar", "gzip", "bz2", "xz")


def iter_archive(
    fileobj: IO[bytes],
    *,
    kind: str,
    source: str,
    budget: ArchiveBudget,
    name: str | None = None,
    password: str | None = None,
) -> Iterator[Member | Problem]:
    """Members of a ``zip``, ``tar`` (any compression) or single ``gzip`` / ``bz2`` / ``xz`` file, one at a time.

    ``fileobj`` must be seekable (a file or ``BytesIO``), positioned at the archive's start; ``name`` is the
    archive's file name (a ``.gz`` file's member is named after it). Members are read one by one into memory
    and never written anywhere; every problem is a :class:`Problem` item, not an exception.
    """
    if kind == "zip":
        yield from iter_zip(fileobj, source, budget, password)
    elif kind == "tar":
        yield from iter_tar(fileobj, source, budget)
    elif kind in COMPRESSED_SUFFIXES:
        yield from iter_compressed(fileobj, source, name or source, budget, kind)
    else:
        raise ValueError(f"not an archive kind: {kind!r}")
