"""Zip archives, member by member (``ZipCrypto`` members decrypted with a password), and the bomb check of zip-based
documents (DOCX) before their reader inflates them.
"""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import IO, Protocol

from nlpipe.errors import LimitError, NlpipeError
from nlpipe.readers.archives.guards import (
    ArchiveBudget,
    ArchiveLimits,
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
    too_many,
    unsafe_reason,
)
from nlpipe.readers.textfile import fail

__all__ = [
    "EntryFields",
    "check_zip_package",
    "entry_error",
    "entry_problem",
    "iter_zip",
    "read_entry",
    "zip_entry_count",
]


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
        raise too_many(source, limits, count)
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception:
        return
    total = 0
    with zf:
        for info in zf.infolist():
            if ratio_exceeded(info.file_size, info.compress_size, limits):
                raise bomb(f"{source}!{info.filename}", limits, info.file_size, info.compress_size, declared=True)
            total += info.file_size
            if total > max_unpacked_bytes:
                raise fail(
                    "E185",
                    f"the {what} package unpacks to more than {max_unpacked_bytes:,} bytes; it was not opened -- "
                    "save it again without embedded media, or split it",
                    file=source,
                    kind=LimitError,
                )


class EntryFields(Protocol):
    """What the guards read of a member's directory entry: a :class:`zipfile.ZipInfo` or a
    :class:`~nlpipe.readers.archives.zip_directory.ZipEntry`."""

    @property
    def filename(self) -> str: ...
    @property
    def flag_bits(self) -> int: ...
    @property
    def compress_type(self) -> int: ...
    @property
    def compress_size(self) -> int: ...
    @property
    def file_size(self) -> int: ...
    @property
    def external_attr(self) -> int: ...


def entry_problem(info: EntryFields, msrc: str, budget: ArchiveBudget, password: str | None) -> Problem | None:
    """Why a member is refused from its directory entry alone, before a byte of it is read (unsafe name, link,
    hidden file, encrypted without a password, declared size, declared ratio), or None."""
    name = info.filename
    reason = unsafe_reason(name)
    if reason:
        return skip(msrc, "E188", f"the member name has {reason} (re-create the archive with relative paths)")
    ftype = stat.S_IFMT(info.external_attr >> 16)
    if ftype == stat.S_IFLNK:
        return skip(msrc, "E189", "a symbolic link (links are never followed)")
    if ftype not in (0, stat.S_IFREG, stat.S_IFDIR):
        return skip(msrc, "E189", "not a regular file (device, FIFO or socket)")
    if is_hidden(name):
        return skip(msrc, "E191", "a hidden or system file")
    if info.flag_bits & 0x1 and not password:
        return Problem(
            msrc,
            fail("E183", "the member is encrypted; pass the archive's password, or re-create the archive "
                 "without encryption", file=msrc),
        )  # fmt: skip
    refused = refuse_by_declared_size(msrc, info.file_size, budget)
    if refused is not None:
        return refused
    if ratio_exceeded(info.file_size, info.compress_size, budget.limits):
        return Problem(msrc, bomb(msrc, budget.limits, info.file_size, info.compress_size, declared=True))
    return None


def entry_error(exc: Exception, info: EntryFields, msrc: str) -> NlpipeError:
    """The coded error of a member that could not be read: a wrong password or AES encryption E183, an unsupported
    method E192, a damaged member (bad CRC, bad local header, broken data) E192."""
    if isinstance(exc, NlpipeError):
        return exc
    if isinstance(exc, RuntimeError):  # zipfile: "Bad password for file", "... is encrypted, password required"
        return fail("E183", f"cannot decrypt the member ({exc}); check the password", file=msrc)
    if isinstance(exc, NotImplementedError):  # compression method 99 is AES encryption; others: zstd, ppmd, ...
        code, hint = (
            ("E183", "AES-encrypted members cannot be read; re-create the archive with no encryption")
            if info.compress_type == 99
            else ("E192", "re-create the archive with the standard deflate method")
        )
        return fail(code, f"unsupported member ({exc}); {hint}", file=msrc)
    if info.flag_bits & 0x1:  # the password check byte matches 1 wrong password in 256; the CRC then fails
        return fail("E183", f"cannot decrypt the member ({type(exc).__name__}: {exc}); check the password", file=msrc)
    return fail("E192", f"the member is damaged ({type(exc).__name__}: {exc}); create the archive again", file=msrc)


def read_entry(
    open_member: Callable[[bytes | None], AbstractContextManager[Readable]],
    info: EntryFields,
    msrc: str,
    budget: ArchiveBudget,
    password: str | None,
) -> bytes:
    """A member's bytes through ``open_member(pwd)``, read with :func:`read_capped`; every failure a coded error
    (:func:`entry_error`)."""
    encrypted = bool(info.flag_bits & 0x1)
    try:
        pwd = password.encode("utf-8") if encrypted and password else None
        with open_member(pwd) as fh:
            return read_capped(fh, source=msrc, budget=budget, declared=info.file_size, compressed=info.compress_size)
    except Exception as exc:  # BadZipFile (bad CRC, bad local header), zlib.error, EOFError, OSError, ...
        raise entry_error(exc, info, msrc) from None


def _zip_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, source: str, budget: ArchiveBudget, password: str | None
) -> Member | Problem:
    msrc = f"{source}!{info.filename}"
    problem = entry_problem(info, msrc, budget, password)
    if problem is not None:
        return problem
    try:
        data = read_entry(lambda pwd: zf.open(info, pwd=pwd), info, msrc, budget, password)
    except NlpipeError as exc:
        return Problem(msrc, exc)
    return Member(msrc, info.filename, data)


def iter_zip(
    fileobj: IO[bytes], source: str, budget: ArchiveBudget, password: str | None
) -> Iterator[Member | Problem]:
    limits = budget.limits
    count = zip_entry_count(fileobj)
    if count is not None and budget.members + count > limits.max_members:
        yield Problem(source, too_many(source, limits, count))
        return
    try:
        zf = zipfile.ZipFile(fileobj)
    except Exception as exc:
        yield Problem(source, corrupt(source, "zip", exc))
        return
    with zf:
        for info in zf.infolist():
            if budget.exhausted:
                return
            over = count_member(budget, source)
            if over is not None:
                yield over
                return
            if info.is_dir() or stat.S_IFMT(info.external_attr >> 16) == stat.S_IFDIR:
                continue
            yield _zip_member(zf, info, source, budget, password)
