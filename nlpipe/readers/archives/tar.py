"""Tar archives (plain, gzip, bzip2, xz), streamed: the decompressed stream is guarded as a whole, so tarfile's own
reads (headers, skipped members' data) are bounded too; oversized pax / GNU long-name headers are refused, and
how the archive ended (marker, cut-off header, no marker) is reported.
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterator
from typing import IO, Self

from nlpipe.errors import NlpipeError
from nlpipe.readers.archives.compressed import EXTENSIONS, compression_of, consumed_counter, decompressed, peek
from nlpipe.readers.archives.guards import (
    CHUNK,
    MB,
    Abort,
    ArchiveBudget,
    Member,
    Problem,
    Readable,
    bomb,
    corrupt,
    count_member,
    is_hidden,
    ratio_exceeded,
    read_capped,
    refuse_by_declared_size,
    skip,
    too_much,
    unsafe_reason,
)
from nlpipe.readers.textfile import fail

__all__ = ["MAX_META_BYTES", "iter_tar"]

MAX_META_BYTES = 1 * MB  # pax extended headers and GNU long names are a few hundred bytes in practice
_TAR_OVERHEAD = 2048  # header blocks and padding allowed per member on top of the data itself
_TAR_META_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                   tarfile.GNUTYPE_LONGLINK)  # fmt: skip


class _Guard:
    """A read-only stream counting what passes through; raises :class:`Abort` past the archive limits.

    Wraps the *decompressed* tar stream, so tarfile's own reads -- headers, skipped members' data -- are
    bounded, not only the members we read.
    """

    def __init__(
        self, raw: Readable, *, source: str, budget: ArchiveBudget, compressed: Callable[[], int] | None
    ) -> None:
        self.raw = raw
        self.source = source
        self.budget = budget
        self.compressed = compressed
        limits = budget.limits
        self.limit = limits.max_total_bytes - budget.total_bytes + _TAR_OVERHEAD * (limits.max_members + 2)
        self.total = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = CHUNK
        data = self.raw.read(size)
        self.total += len(data)
        limits = self.budget.limits
        if self.total > self.limit:
            self.budget.exhausted = True
            raise Abort(too_much(self.source, limits, self.budget.total_bytes, None))
        packed = self.compressed() if self.compressed is not None else None
        if packed is not None and ratio_exceeded(self.total, packed, limits):
            raise Abort(bomb(self.source, limits, self.total, packed, declared=False))
        return data


def _tarinfo_class(state: dict[str, str | None], source: str) -> type[tarfile.TarInfo]:
    """A TarInfo that records how the archive ended and refuses oversized extended headers."""

    class _Info(tarfile.TarInfo):
        @classmethod
        def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
            if len(buf) == 0:
                state["end"] = "missing"
            elif len(buf) != tarfile.BLOCKSIZE:
                state["end"] = "truncated"
            elif buf.count(0) == tarfile.BLOCKSIZE:
                state["end"] = "marker"
            try:
                obj = super().frombuf(buf, encoding, errors)
            except tarfile.InvalidHeaderError:  # type: ignore[attr-defined]  # in tarfile, missing from its stubs
                state["end"] = "invalid"
                raise
            if obj.type in _TAR_META_TYPES and obj.size > MAX_META_BYTES:
                raise Abort(
                    fail(
                        "E182",
                        f"an extended tar header declares {obj.size:,} bytes (at most {MAX_META_BYTES:,} are "
                        "accepted); the archive is damaged or crafted -- create it again",
                        file=source,
                    )
                )
            state["end"] = None
            return obj

    return _Info


def iter_tar(fileobj: IO[bytes], source: str, budget: ArchiveBudget) -> Iterator[Member | Problem]:
    compression = compression_of(peek(fileobj, 16))
    what = "tar" if compression is None else f"tar.{EXTENSIONS[compression]}"
    state: dict[str, str | None] = {"end": None}
    consumed = consumed_counter(fileobj) if compression else None
    guard = _Guard(decompressed(fileobj, compression), source=source, budget=budget, compressed=consumed)
    kept = 0
    try:
        tf = tarfile.open(fileobj=guard, mode="r|", tarinfo=_tarinfo_class(state, source))  # type: ignore[call-overload]
    except Abort as stop:
        yield Problem(source, stop.error)
        return
    except Exception as exc:
        yield Problem(source, corrupt(source, what, exc))
        return
    try:
        while not budget.exhausted:
            info = tf.next()
            tf.members.clear()  # stream mode keeps every header otherwise
            if info is None:
                break
            over = count_member(budget, source)
            if over is not None:
                yield over
                return
            if info.isdir():
                continue
            msrc = f"{source}!{info.name}"
            if (skipped := _skipped(info, msrc)) is not None:
                yield skipped
            elif (refused := refuse_by_declared_size(msrc, info.size, budget)) is not None:
                yield refused
            else:
                handle = tf.extractfile(info)
                if handle is None:  # pragma: no cover - isreg() members always have data
                    continue
                try:
                    data = read_capped(handle, source=msrc, budget=budget, declared=info.size, compressed=None)
                except NlpipeError as exc:
                    yield Problem(msrc, exc)
                    continue
                kept += 1
                yield Member(msrc, info.name, data)
    except Abort as stop:
        yield Problem(source, stop.error)
        return
    except Exception as exc:  # ReadError, EOFError (truncated gzip), zlib.error, lzma.LZMAError, OSError
        yield Problem(source, corrupt(source, what, exc, kept=kept))
        return
    if budget.exhausted:
        return
    ending = _bad_ending(state["end"], what, source, kept)
    if ending is not None:
        yield ending


def _skipped(info: tarfile.TarInfo, msrc: str) -> Problem | None:
    """A member left out by its name or type (unsafe path, link, device or FIFO, hidden file), else None."""
    reason = unsafe_reason(info.name)
    if reason:
        return skip(msrc, "E188", f"the member name has {reason} (re-create the archive with relative paths)")
    if info.issym() or info.islnk():
        kind = "symbolic" if info.issym() else "hard"
        return skip(msrc, "E189", f"a {kind} link to '{info.linkname}' (links are never followed)")
    if not info.isreg():
        return skip(msrc, "E189", "not a regular file (device, FIFO or socket)")
    if is_hidden(info.name):
        return skip(msrc, "E191", "a hidden or system file")
    return None


def _bad_ending(end: str | None, what: str, source: str, kept: int) -> Problem | None:
    """How an archive read to its end ended, when that was not its end-of-archive marker: a damaged or cut-off
    header (E182), or no marker at all (a skipped E197 warning)."""
    if end in ("truncated", "invalid"):
        why = "a damaged header" if end == "invalid" else "a header cut off mid-way"
        return Problem(
            source,
            fail(
                "E182",
                f"the {what} archive stops at {why}, so it is corrupt or truncated"
                + (f"; the {kept} member(s) before it were kept" if kept else "")
                + " -- download or create it again",
                file=source,
            ),
        )
    if end == "missing":
        return skip(
            source,
            "E197",
            f"the end of the {what} archive (it has no end-of-archive marker, so it may be truncated; "
            "the members before were read)",
        )
    return None
