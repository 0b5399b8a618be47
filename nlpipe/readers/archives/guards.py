"""What one archive tree may cost, and the checks that hold it to that: member names (absolute paths, ``..``,
hidden files), declared sizes, compression ratios and counts, and a capped read that stops one chunk past a
limit (declared sizes can lie). The coded errors of those limits (E176, E178, E184-E186, E188, E192) are built
here; the walkers of :mod:`nlpipe.readers.archives` use them for every archive kind.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nlpipe.errors import LimitError, NlpipeError
from nlpipe.readers.textfile import fail

__all__ = [
    "Abort",
    "ArchiveBudget",
    "ArchiveLimits",
    "CHUNK",
    "FolderFile",
    "HIDDEN_NAMES",
    "MB",
    "Member",
    "Problem",
    "RATIO_FLOOR",
    "Readable",
    "bomb",
    "corrupt",
    "count_member",
    "is_hidden",
    "ratio_exceeded",
    "read_capped",
    "refuse_by_declared_size",
    "skip",
    "too_large",
    "too_many",
    "too_much",
    "unsafe_reason",
]

MB = 1024 * 1024
CHUNK = 64 * 1024
RATIO_FLOOR = 1 * MB
HIDDEN_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini", "$RECYCLE.BIN", "System Volume Information"})


class Readable(Protocol):
    """What the readers need of a stream: a file, ``BytesIO``, a decompressing file or tarfile's member handle."""

    def read(self, size: int = ..., /) -> bytes: ...


@dataclass(frozen=True)
class ArchiveLimits:
    """What one archive tree may hold; ``members_setting`` and ``bytes_setting`` name the settings that raise the
    member count and the total, for the messages of E186 and E185."""

    max_member_bytes: int
    max_total_bytes: int
    max_members: int
    max_ratio: float
    members_setting: str = "NLPIPE_MAX_ARCHIVE_MEMBERS"
    bytes_setting: str = "NLPIPE_MAX_ARCHIVE_BYTES"

    @classmethod
    def from_settings(cls, settings: Any) -> ArchiveLimits:
        return cls(
            max_member_bytes=settings.max_document_bytes,
            max_total_bytes=settings.max_archive_bytes,
            max_members=settings.max_archive_members,
            max_ratio=settings.max_compression_ratio,
        )

    @classmethod
    def for_batch(cls, settings: Any) -> ArchiveLimits:
        """A batch run's limits: it reads archives as streams, a member at a time, so the member count and the
        total have limits of their own, far above ingest's (NLPIPE_MAX_BATCH_ARCHIVE_MEMBERS / _BYTES); a member
        is still one document (NLPIPE_MAX_DOCUMENT_BYTES) and the ratio guard is the same."""
        return cls(
            max_member_bytes=settings.max_document_bytes,
            max_total_bytes=settings.max_batch_archive_bytes,
            max_members=settings.max_batch_archive_members,
            max_ratio=settings.max_compression_ratio,
            members_setting="NLPIPE_MAX_BATCH_ARCHIVE_MEMBERS",
            bytes_setting="NLPIPE_MAX_BATCH_ARCHIVE_BYTES",
        )


@dataclass
class ArchiveBudget:
    """What one archive tree (an archive and the archives inside it) has used so far."""

    limits: ArchiveLimits
    members: int = 0
    total_bytes: int = 0
    exhausted: bool = False  # a tree-wide limit was hit: stop reading every archive of the tree


@dataclass
class Member:
    """A file read from an archive: ``source`` is ``archive!path``, ``name`` the path inside the archive."""

    source: str
    name: str
    data: bytes


@dataclass
class FolderFile:
    source: str
    path: Path


@dataclass
class Problem:
    """A member or archive that could not be read (``skipped`` False) or was left out on purpose (True)."""

    source: str
    error: NlpipeError
    skipped: bool = False


class Abort(Exception):
    """Raised through tarfile's internals to stop an archive; carries the coded error."""

    def __init__(self, error: NlpipeError) -> None:
        super().__init__(str(error))
        self.error = error


_DRIVE = re.compile(r"^[A-Za-z]:")
#: Matches every name with a part that starts with a dot or holds a hidden name (and a few more, checked in full).
_HIDDEN_HINT = re.compile(r"(?:^|/)\.|" + "|".join(re.escape(h) for h in sorted(HIDDEN_NAMES)))


def unsafe_reason(name: str) -> str | None:
    """Why a member name is unsafe to honour (absolute, drive letter, ``..``), or None."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or norm[1:2] == ":" and _DRIVE.match(norm):
        return "an absolute path"
    if ".." in norm and ".." in norm.split("/"):
        return "a '..' component that points outside the archive"
    return None


def is_hidden(name: str) -> bool:
    """True for dot-files, ``__MACOSX/`` resource forks and OS litter such as ``Thumbs.db``, at any level."""
    norm = name.replace("\\", "/")
    if _HIDDEN_HINT.search(norm) is None:
        return False  # no part starts with a dot or holds a hidden name (the common case, without splitting)
    parts = [p for p in norm.split("/") if p]
    return any(p.startswith(".") and p not in (".", "..") or p in HIDDEN_NAMES for p in parts)


def ratio_exceeded(unpacked: int, packed: int, limits: ArchiveLimits) -> bool:
    return unpacked > RATIO_FLOOR and unpacked > limits.max_ratio * max(packed, 0)


def skip(source: str, code: str, why: str) -> Problem:
    return Problem(source, fail(code, f"skipped: {why}; nothing was read from it", file=source), skipped=True)


def refuse_by_declared_size(msrc: str, size: int, budget: ArchiveBudget) -> Problem | None:
    """Refuse a zip or tar member by the size it declares, before reading it: empty (E176), over the document
    limit (E178), or past the archive's total (E185, which also stops the rest of the archive)."""
    limits = budget.limits
    if size == 0:
        return Problem(msrc, fail("E176", "empty file (0 bytes); nothing to read", file=msrc))
    if size > limits.max_member_bytes:
        return Problem(msrc, too_large(msrc, size, limits, declared=True))
    if budget.total_bytes + size > limits.max_total_bytes:
        budget.exhausted = True
        return Problem(msrc, too_much(msrc, limits, budget.total_bytes, size))
    return None


def too_large(source: str, size: int, limits: ArchiveLimits, *, declared: bool) -> NlpipeError:
    what = f"declares {size:,} bytes" if declared else f"holds more than {size:,} bytes (stopped reading there)"
    return fail(
        "E178",
        f"{what}, more than the {limits.max_member_bytes:,}-byte document limit; split it or raise "
        "NLPIPE_MAX_DOCUMENT_BYTES",
        file=source,
        kind=LimitError,
    )


def too_much(source: str, limits: ArchiveLimits, used: int, more: int | None) -> NlpipeError:
    extra = f" (this member declares {more:,} bytes after {used:,} already read)" if more is not None else ""
    return fail(
        "E185",
        f"the archive unpacks to more than the {limits.max_total_bytes:,}-byte limit{extra}; the rest of it was "
        f"not read -- split the archive or raise {limits.bytes_setting}",
        file=source,
        kind=LimitError,
    )


def too_many(source: str, limits: ArchiveLimits, count: int | None = None) -> NlpipeError:
    has = f"has {count:,} members" if count is not None else "has more members than that"
    return fail(
        "E186",
        f"{has}; at most {limits.max_members:,} are read from one archive (nested archives included), so the "
        f"rest was not read -- split the archive or raise {limits.members_setting}",
        file=source,
        kind=LimitError,
    )


def bomb(source: str, limits: ArchiveLimits, unpacked: int, packed: int, *, declared: bool) -> NlpipeError:
    how = "declares" if declared else "unpacked to more than"
    return fail(
        "E184",
        f"{how} {unpacked:,} bytes from {packed:,} compressed bytes, a ratio above the limit of "
        f"{limits.max_ratio:g} (a zip bomb?); it was not unpacked -- raise NLPIPE_MAX_COMPRESSION_RATIO if "
        "the file is genuine",
        file=source,
        kind=LimitError,
    )


def corrupt(source: str, what: str, exc: BaseException | None, *, kept: int | None = None) -> NlpipeError:
    detail = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
    tail = f"; the {kept} member(s) read before the damage were kept" if kept else ""
    return fail(
        "E182",
        f"cannot read the {what} archive, it is corrupt or truncated{detail}{tail}; download or create it "
        "again and check that it opens with an archive tool",
        file=source,
    )


def read_capped(
    stream: Readable,
    *,
    source: str,
    budget: ArchiveBudget,
    declared: int | None,
    compressed: int | Callable[[], int] | None,
) -> bytes:
    """Read a member in chunks, stopping as soon as it passes a limit (declared sizes can lie)."""
    limits = budget.limits
    remaining = limits.max_total_bytes - budget.total_bytes
    buf = bytearray()
    try:
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                break
            buf += chunk
            n = len(buf)
            if n > limits.max_member_bytes:
                raise too_large(source, limits.max_member_bytes, limits, declared=False)
            if n > remaining:
                budget.exhausted = True
                raise too_much(source, limits, budget.total_bytes, None)
            packed = compressed() if callable(compressed) else compressed
            if packed is not None and ratio_exceeded(n, packed, limits):
                raise bomb(source, limits, n, packed, declared=False)
            if declared is not None and n > declared:
                raise fail(
                    "E192",
                    f"holds more data than the {declared:,} bytes its header declares; the archive is damaged or "
                    "crafted -- create it again",
                    file=source,
                )
    finally:
        budget.total_bytes += len(buf)
    return bytes(buf)


def count_member(budget: ArchiveBudget, source: str) -> Problem | None:
    budget.members += 1
    if budget.members > budget.limits.max_members:
        budget.exhausted = True
        return Problem(source, too_many(source, budget.limits))
    return None
