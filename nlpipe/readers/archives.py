"""Zip and tar archives (plain, gzip, bzip2, xz), single ``.gz``/``.bz2``/``.xz`` files and folders, member by member.

Nothing is ever extracted to disk: each member is read into memory on its own and handed back as a
:class:`Member` (its bytes and its source ``archive.zip!path/inside``) for the dispatcher to parse -- which
opens archives found inside archives with the same :class:`ArchiveBudget`, so the limits hold for the whole
tree. Problems come back as :class:`Problem` items, never as exceptions: one bad member never aborts the
archive.

Hostile input is refused before it costs memory or time:

- zip bombs: each member's declared size is checked against the per-document limit, the running total
  against the archive limit and ``file_size / compress_size`` against the compression-ratio limit before a
  byte is inflated; then the same limits are enforced again while streaming (declared sizes can lie), so
  reading stops one chunk past a limit. Compressed tars (and ``.gz`` files) are guarded on the whole
  decompressed stream against the compressed bytes consumed so far, so a bomb stops after a few MB
  (including the data of members that are skipped), and pax / GNU long-name headers are capped. The ratio
  is only enforced past :data:`RATIO_FLOOR` unpacked bytes: a tiny file of repeated characters is no bomb.
- the member count is capped; for zips the count in the end-of-central-directory record is checked before
  Python parses the central directory.
- absolute paths, ``..`` components, symlinks, hard links, devices and FIFOs are skipped with a warning;
  hidden files (``.name``, ``__MACOSX/``, ``Thumbs.db``) are skipped too.
- encrypted zip members are reported per member (ZipCrypto members are decrypted when a password is given).
- a corrupt or truncated archive is reported naming the archive; tar members read before the damage are kept.

Codes (messages start with the archive or ``archive!member`` and say what to do):

========  ==========================================================================================
E176      empty member (0 bytes)
E178      member larger than ``max_document_bytes`` (declared, or found while reading) -- LimitError
E182      archive corrupt or truncated (not a zip/tar, damaged header, cut-off data)
E183      encrypted member (no or wrong password, or an encryption Python cannot read)
E184      compression ratio above ``max_compression_ratio`` (zip bomb) -- LimitError
E185      archive unpacks to more than ``max_archive_bytes``; the rest is not read -- LimitError
E186      more members than ``max_archive_members``; the rest is not read -- LimitError
E188      skipped: absolute path or ``..`` in a member name
E189      skipped: symlink, hard link, device, FIFO or socket
E191      skipped: hidden or system file
E192      damaged member (CRC mismatch, more data than declared, unsupported compression method)
E195      a folder or file that cannot be read from disk
E197      warning: a tar archive ends without its end-of-archive marker (it may be truncated)
========  ==========================================================================================
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from nlpipe.errors import LimitError, NlpipeError
from nlpipe.readers.textfile import fail

__all__ = [
    "ARCHIVE_KINDS",
    "CHUNK",
    "RATIO_FLOOR",
    "ArchiveBudget",
    "ArchiveLimits",
    "FolderFile",
    "Member",
    "Problem",
    "check_zip_package",
    "compression_of",
    "is_hidden",
    "iter_archive",
    "iter_folder",
    "peek_decompressed",
    "unsafe_reason",
    "zip_entry_count",
]

MB = 1024 * 1024
CHUNK = 64 * 1024
RATIO_FLOOR = 1 * MB
MAX_META_BYTES = 1 * MB  # pax extended headers and GNU long names are a few hundred bytes in practice
_TAR_OVERHEAD = 2048  # header blocks and padding allowed per member on top of the data itself
ARCHIVE_KINDS = ("zip", "tar", "gzip", "bz2", "xz")
HIDDEN_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini", "$RECYCLE.BIN", "System Volume Information"})
_TAR_META_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                   tarfile.GNUTYPE_LONGLINK)  # fmt: skip
_COMPRESSED_SUFFIXES = {"gzip": (".gz", ".gzip"), "bz2": (".bz2",), "xz": (".xz",)}
_EXT = {"gzip": "gz", "bz2": "bz2", "xz": "xz"}


# ------------------------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class ArchiveLimits:
    max_member_bytes: int
    max_total_bytes: int
    max_members: int
    max_ratio: float

    @classmethod
    def from_settings(cls, settings: Any) -> ArchiveLimits:
        return cls(
            max_member_bytes=settings.max_document_bytes,
            max_total_bytes=settings.max_archive_bytes,
            max_members=settings.max_archive_members,
            max_ratio=settings.max_compression_ratio,
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


class _Abort(Exception):
    """Raised through tarfile's internals to stop an archive; carries the coded error."""

    def __init__(self, error: NlpipeError) -> None:
        super().__init__(str(error))
        self.error = error


# ----------------------------------------------------------------------------------------------- checks


def unsafe_reason(name: str) -> str | None:
    """Why a member name is unsafe to honour (absolute, drive letter, ``..``), or None."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        return "an absolute path"
    if ".." in norm.split("/"):
        return "a '..' component that points outside the archive"
    return None


def is_hidden(name: str) -> bool:
    """True for dot-files, ``__MACOSX/`` resource forks and OS litter such as ``Thumbs.db``, at any level."""
    parts = [p for p in name.replace("\\", "/").split("/") if p]
    return any(p.startswith(".") and p not in (".", "..") or p in HIDDEN_NAMES for p in parts)


def _ratio_exceeded(unpacked: int, packed: int, limits: ArchiveLimits) -> bool:
    return unpacked > RATIO_FLOOR and unpacked > limits.max_ratio * max(packed, 0)


def _skip(source: str, code: str, why: str) -> Problem:
    return Problem(source, fail(code, f"skipped: {why}; nothing was read from it", file=source), skipped=True)


def _refuse_by_declared_size(msrc: str, size: int, budget: ArchiveBudget) -> Problem | None:
    """Refuse a zip or tar member by the size it declares, before reading it: empty (E176), over the document
    limit (E178), or past the archive's total (E185, which also stops the rest of the archive)."""
    limits = budget.limits
    if size == 0:
        return Problem(msrc, fail("E176", "empty file (0 bytes); nothing to read", file=msrc))
    if size > limits.max_member_bytes:
        return Problem(msrc, _too_large(msrc, size, limits, declared=True))
    if budget.total_bytes + size > limits.max_total_bytes:
        budget.exhausted = True
        return Problem(msrc, _too_much(msrc, limits, budget.total_bytes, size))
    return None


def _too_large(source: str, size: int, limits: ArchiveLimits, *, declared: bool) -> NlpipeError:
    what = f"declares {size:,} bytes" if declared else f"holds more than {size:,} bytes (stopped reading there)"
    return fail(
        "E178",
        f"{what}, more than the {limits.max_member_bytes:,}-byte document limit; split it or raise "
        "NLPIPE_MAX_DOCUMENT_BYTES",
        file=source,
        kind=LimitError,
    )


def _too_much(source: str, limits: ArchiveLimits, used: int, more: int | None) -> NlpipeError:
    extra = f" (this member declares {more:,} bytes after {used:,} already read)" if more is not None else ""
    return fail(
        "E185",
        f"the archive unpacks to more than the {limits.max_total_bytes:,}-byte limit{extra}; the rest of it was "
        "not read -- split the archive or raise NLPIPE_MAX_ARCHIVE_BYTES",
        file=source,
        kind=LimitError,
    )


def _too_many(source: str, limits: ArchiveLimits, count: int | None = None) -> NlpipeError:
    has = f"has {count:,} members" if count is not None else "has more members than that"
    return fail(
        "E186",
        f"{has}; at most {limits.max_members:,} are read from one archive (nested archives included), so the "
        "rest was not read -- split the archive or raise NLPIPE_MAX_ARCHIVE_MEMBERS",
        file=source,
        kind=LimitError,
    )


def _bomb(source: str, limits: ArchiveLimits, unpacked: int, packed: int, *, declared: bool) -> NlpipeError:
    how = "declares" if declared else "unpacked to more than"
    return fail(
        "E184",
        f"{how} {unpacked:,} bytes from {packed:,} compressed bytes, a ratio above the limit of "
        f"{limits.max_ratio:g} (a zip bomb?); it was not unpacked -- raise NLPIPE_MAX_COMPRESSION_RATIO if "
        "the file is genuine",
        file=source,
        kind=LimitError,
    )


def _corrupt(source: str, what: str, exc: BaseException | None, *, kept: int | None = None) -> NlpipeError:
    detail = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
    tail = f"; the {kept} member(s) read before the damage were kept" if kept else ""
    return fail(
        "E182",
        f"cannot read the {what} archive, it is corrupt or truncated{detail}{tail}; download or create it "
        "again and check that it opens with an archive tool",
        file=source,
    )


def _read_capped(
    stream: IO[bytes],
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
                raise _too_large(source, limits.max_member_bytes, limits, declared=False)
            if n > remaining:
                budget.exhausted = True
                raise _too_much(source, limits, budget.total_bytes, None)
            packed = compressed() if callable(compressed) else compressed
            if packed is not None and _ratio_exceeded(n, packed, limits):
                raise _bomb(source, limits, n, packed, declared=False)
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


def _count_member(budget: ArchiveBudget, source: str) -> Problem | None:
    budget.members += 1
    if budget.members > budget.limits.max_members:
        budget.exhausted = True
        return Problem(source, _too_many(source, budget.limits))
    return None


# -------------------------------------------------------------------------------------------------- zip


def zip_entry_count(fileobj: IO[bytes]) -> int | None:
    """Entries declared by a zip's end-of-central-directory record (zip64 aware), read without parsing them."""
    end_record = getattr(zipfile, "_EndRecData", None)
    index = getattr(zipfile, "_ECD_ENTRIES_TOTAL", None)
    if end_record is None or index is None:
        return None
    try:
        record = end_record(fileobj)
    except Exception:
        return None
    finally:
        fileobj.seek(0)
    return int(record[index]) if record else None


def check_zip_package(
    data: bytes, *, source: str, max_unpacked_bytes: int, max_ratio: float, max_members: int, what: str
) -> None:
    """Refuse a zip-based document (DOCX) whose declared contents are a bomb: E186, E184 or E185.

    A package the zipfile module cannot open passes: the format's reader reports it with its own code.
    """
    limits = ArchiveLimits(max_unpacked_bytes, max_unpacked_bytes, max_members, max_ratio)
    count = zip_entry_count(io.BytesIO(data))
    if count is not None and count > max_members:
        raise _too_many(source, limits, count)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception:
        return
    total = 0
    with zf:
        for info in zf.infolist():
            if _ratio_exceeded(info.file_size, info.compress_size, limits):
                raise _bomb(f"{source}!{info.filename}", limits, info.file_size, info.compress_size, declared=True)
            total += info.file_size
            if total > max_unpacked_bytes:
                raise fail(
                    "E185",
                    f"the {what} package unpacks to more than {max_unpacked_bytes:,} bytes; it was not opened -- "
                    "save it again without embedded media, or split it",
                    file=source,
                    kind=LimitError,
                )


def _zip_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: str, budget: ArchiveBudget, password: str | None
) -> Member | Problem:
    limits = budget.limits
    name = info.filename
    msrc = f"{source}!{name}"
    reason = unsafe_reason(name)
    if reason:
        return _skip(msrc, "E188", f"the member name has {reason} (re-create the archive with relative paths)")
    ftype = stat.S_IFMT(info.external_attr >> 16)
    if ftype == stat.S_IFLNK:
        return _skip(msrc, "E189", "a symbolic link (links are never followed)")
    if ftype not in (0, stat.S_IFREG, stat.S_IFDIR):
        return _skip(msrc, "E189", "not a regular file (device, FIFO or socket)")
    if is_hidden(name):
        return _skip(msrc, "E191", "a hidden or system file")
    encrypted = bool(info.flag_bits & 0x1)
    if encrypted and not password:
        return Problem(
            msrc,
            fail("E183", "the member is encrypted; pass the archive's password, or re-create the archive "
                 "without encryption", file=msrc),
        )  # fmt: skip
    refused = _refuse_by_declared_size(msrc, info.file_size, budget)
    if refused is not None:
        return refused
    if _ratio_exceeded(info.file_size, info.compress_size, limits):
        return Problem(msrc, _bomb(msrc, limits, info.file_size, info.compress_size, declared=True))
    try:
        pwd = password.encode("utf-8") if encrypted and password else None
        with zf.open(info, pwd=pwd) as fh:
            data = _read_capped(fh, source=msrc, budget=budget, declared=info.file_size, compressed=info.compress_size)
    except NlpipeError as exc:
        return Problem(msrc, exc)
    except RuntimeError as exc:  # zipfile: "Bad password for file", "... is encrypted, password required"
        return Problem(msrc, fail("E183", f"cannot decrypt the member ({exc}); check the password", file=msrc))
    except NotImplementedError as exc:  # compression method 99 is AES encryption; others: zstd, ppmd, ...
        code, hint = (
            ("E183", "AES-encrypted members cannot be read; re-create the archive with no encryption")
            if info.compress_type == 99
            else ("E192", "re-create the archive with the standard deflate method")
        )
        return Problem(msrc, fail(code, f"unsupported member ({exc}); {hint}", file=msrc))
    except Exception as exc:  # BadZipFile (bad CRC, bad local header), zlib.error, EOFError, OSError
        if encrypted:  # the password check byte matches 1 wrong password in 256; the CRC then fails
            return Problem(
                msrc, fail("E183", f"cannot decrypt the member ({type(exc).__name__}: {exc}); check the password",
                           file=msrc),
            )  # fmt: skip
        return Problem(
            msrc,
            fail("E192", f"the member is damaged ({type(exc).__name__}: {exc}); create the archive again", file=msrc),
        )
    return Member(msrc, name, data)


def _iter_zip(
    fileobj: IO[bytes], source: str, budget: ArchiveBudget, password: str | None
) -> Iterator[Member | Problem]:
    limits = budget.limits
    count = zip_entry_count(fileobj)
    if count is not None and budget.members + count > limits.max_members:
        yield Problem(source, _too_many(source, limits, count))
        return
    try:
        zf = zipfile.ZipFile(fileobj)
    except Exception as exc:
        yield Problem(source, _corrupt(source, "zip", exc))
        return
    with zf:
        for info in zf.infolist():
            if budget.exhausted:
                return
            over = _count_member(budget, source)
            if over is not None:
                yield over
                return
            if info.is_dir() or stat.S_IFMT(info.external_attr >> 16) == stat.S_IFDIR:
                continue
            yield _zip_member(zf, info, source, budget, password)


# -------------------------------------------------------------------------------------------------- tar


def compression_of(head: bytes) -> str | None:
    """``gzip``, ``bz2`` or ``xz`` from a stream's first bytes, else None."""
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and head[3:4].isdigit() and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return None


def peek_decompressed(head: bytes, compression: str, size: int = 1024) -> bytes:
    """Up to ``size`` decompressed bytes from the start of a compressed stream (b"" if it cannot tell)."""
    try:
        if compression == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, size)
        if compression == "bz2":
            return bz2.BZ2Decompressor().decompress(head, max_length=size)
        if compression == "xz":
            return lzma.LZMADecompressor().decompress(head, max_length=size)
    except Exception:
        return b""
    return b""


def _decompressed(fileobj: IO[bytes], compression: str | None) -> IO[bytes]:
    if compression == "gzip":
        return gzip.GzipFile(fileobj=fileobj, mode="rb")
    if compression == "bz2":
        return bz2.BZ2File(fileobj, mode="rb")
    if compression == "xz":
        return lzma.LZMAFile(fileobj, mode="rb")
    return fileobj


def _consumed(fileobj: IO[bytes]) -> Callable[[], int]:
    """Compressed bytes a decompressor has taken from ``fileobj`` so far (read-ahead included)."""
    start = fileobj.tell()
    return lambda: fileobj.tell() - start


def _peek(fileobj: IO[bytes], n: int) -> bytes:
    pos = fileobj.tell()
    head = fileobj.read(n)
    fileobj.seek(pos)
    return head


class _Guard:
    """A read-only stream counting what passes through; raises :class:`_Abort` past the archive limits.

    Wraps the *decompressed* tar stream, so tarfile's own reads -- headers, skipped members' data -- are
    bounded, not only the members we read.
    """

    def __init__(
        self, raw: IO[bytes], *, source: str, budget: ArchiveBudget, compressed: Callable[[], int] | None
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
            raise _Abort(_too_much(self.source, limits, self.budget.total_bytes, None))
        packed = self.compressed() if self.compressed is not None else None
        if packed is not None and _ratio_exceeded(self.total, packed, limits):
            raise _Abort(_bomb(self.source, limits, self.total, packed, declared=False))
        return data


def _tarinfo_class(state: dict[str, str | None], source: str) -> type[tarfile.TarInfo]:
    """A TarInfo that records how the archive ended and refuses oversized extended headers."""

    class _Info(tarfile.TarInfo):
        @classmethod
        def frombuf(cls, buf: bytes, encoding: str, errors: str) -> tarfile.TarInfo:
            if len(buf) == 0:
                state["end"] = "missing"
            elif len(buf) != tarfile.BLOCKSIZE:
                state["end"] = "truncated"
            elif buf.count(0) == tarfile.BLOCKSIZE:
                state["end"] = "marker"
            try:
                obj = super().frombuf(buf, encoding, errors)
            except tarfile.InvalidHeaderError:
                state["end"] = "invalid"
                raise
            if obj.type in _TAR_META_TYPES and obj.size > MAX_META_BYTES:
                raise _Abort(
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


def _iter_tar(fileobj: IO[bytes], source: str, budget: ArchiveBudget) -> Iterator[Member | Problem]:
    compression = compression_of(_peek(fileobj, 16))
    what = "tar" if compression is None else f"tar.{_EXT[compression]}"
    state: dict[str, str | None] = {"end": None}
    consumed = _consumed(fileobj) if compression else None
    guard = _Guard(_decompressed(fileobj, compression), source=source, budget=budget, compressed=consumed)
    kept = 0
    try:
        tf = tarfile.open(fileobj=guard, mode="r|", tarinfo=_tarinfo_class(state, source))  # type: ignore[call-overload]
    except _Abort as stop:
        yield Problem(source, stop.error)
        return
    except Exception as exc:
        yield Problem(source, _corrupt(source, what, exc))
        return
    try:
        while not budget.exhausted:
            info = tf.next()
            tf.members.clear()  # stream mode keeps every header otherwise
            if info is None:
                break
            over = _count_member(budget, source)
            if over is not None:
                yield over
                return
            if info.isdir():
                continue
            msrc = f"{source}!{info.name}"
            reason = unsafe_reason(info.name)
            if reason:
                yield _skip(msrc, "E188", f"the member name has {reason} (re-create the archive with relative paths)")
            elif info.issym() or info.islnk():
                kind = "symbolic" if info.issym() else "hard"
                yield _skip(msrc, "E189", f"a {kind} link to '{info.linkname}' (links are never followed)")
            elif not info.isreg():
                yield _skip(msrc, "E189", "not a regular file (device, FIFO or socket)")
            elif is_hidden(info.name):
                yield _skip(msrc, "E191", "a hidden or system file")
            elif (refused := _refuse_by_declared_size(msrc, info.size, budget)) is not None:
                yield refused
            else:
                handle = tf.extractfile(info)
                if handle is None:  # pragma: no cover - isreg() members always have data
                    continue
                try:
                    data = _read_capped(handle, source=msrc, budget=budget, declared=info.size, compressed=None)
                except NlpipeError as exc:
                    yield Problem(msrc, exc)
                    continue
                kept += 1
                yield Member(msrc, info.name, data)
    except _Abort as stop:
        yield Problem(source, stop.error)
        return
    except Exception as exc:  # ReadError, EOFError (truncated gzip), zlib.error, lzma.LZMAError, OSError
        yield Problem(source, _corrupt(source, what, exc, kept=kept))
        return
    if budget.exhausted:
        return
    end = state["end"]
    if end in ("truncated", "invalid"):
        why = "a damaged header" if end == "invalid" else "a header cut off mid-way"
        yield Problem(
            source,
            fail(
                "E182",
                f"the {what} archive stops at {why}, so it is corrupt or truncated"
                + (f"; the {kept} member(s) before it were kept" if kept else "")
                + " -- download or create it again",
                file=source,
            ),
        )
    elif end == "missing":
        yield _skip(
            source,
            "E197",
            f"the end of the {what} archive (it has no end-of-archive marker, so it may be truncated; "
            "the members before were read)",
        )


# ------------------------------------------------------------------------------- single compressed files


def _inner_name(name: str, compression: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in _COMPRESSED_SUFFIXES[compression]:
        if base.lower().endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)]
    return base + ".out"


def _iter_compressed(
    fileobj: IO[bytes], source: str, name: str, budget: ArchiveBudget, compression: str
) -> Iterator[Member | Problem]:
    inner = _inner_name(name, compression)
    msrc = f"{source}!{inner}"
    over = _count_member(budget, source)
    if over is not None:
        yield over
        return
    try:
        data = _read_capped(_decompressed(fileobj, compression), source=msrc, budget=budget, declared=None,
                            compressed=_consumed(fileobj))  # fmt: skip
    except NlpipeError as exc:
        yield Problem(msrc, exc)
        return
    except Exception as exc:
        yield Problem(source, _corrupt(source, _EXT[compression], exc))
        return
    yield Member(msrc, inner, data)


# -------------------------------------------------------------------------------------------- dispatch


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
        yield from _iter_zip(fileobj, source, budget, password)
    elif kind == "tar":
        yield from _iter_tar(fileobj, source, budget)
    elif kind in _COMPRESSED_SUFFIXES:
        yield from _iter_compressed(fileobj, source, name or source, budget, kind)
    else:
        raise ValueError(f"not an archive kind: {kind!r}")


def iter_folder(root: Path, *, source: str) -> Iterator[FolderFile | Problem]:
    """Regular files below ``root``, sorted, files of a folder before its sub-folders.

    Symlinks (to files or folders) are not followed and come back as skipped E189, like devices and FIFOs;
    hidden files and folders (``.git``, ``.DS_Store``, ``__MACOSX``) as skipped E191 (a hidden folder once,
    without descending). A folder that cannot be listed is an E195 problem.
    """
    stack: list[tuple[str, str]] = [(os.fspath(root), source)]
    while stack:
        folder, fsrc = stack.pop()
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            yield Problem(
                fsrc,
                fail("E195", f"cannot list the folder ({exc.strerror or exc}); check its permissions", file=fsrc),
            )
            continue
        subfolders: list[tuple[str, str]] = []
        for entry in entries:
            esrc = f"{fsrc}/{entry.name}"
            try:
                if is_hidden(entry.name):
                    yield _skip(esrc, "E191", "a hidden or system file")
                elif entry.is_symlink():
                    yield _skip(esrc, "E189", "a symbolic link (links inside a folder are not followed)")
                elif entry.is_dir(follow_symlinks=False):
                    subfolders.append((entry.path, esrc))
                elif entry.is_file(follow_symlinks=False):
                    yield FolderFile(esrc, Path(entry.path))
                else:
                    yield _skip(esrc, "E189", "not a regular file (device, FIFO or socket)")
            except OSError as exc:
                yield Problem(esrc, fail("E195", f"cannot read it ({exc.strerror or exc}); check its permissions",
                                         file=esrc))  # fmt: skip
        stack.extend(reversed(subfolders))
