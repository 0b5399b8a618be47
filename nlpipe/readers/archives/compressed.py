"""Compressed streams: telling gzip / bzip2 / xz apart by their first bytes, decompressing them while counting the
compressed bytes consumed (for the ratio limit), and a single ``.gz`` / ``.bz2`` / ``.xz`` file as a one-member
archive.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from collections.abc import Callable, Iterator
from typing import IO

from nlpipe.errors import NlpipeError
from nlpipe.readers.archives.guards import (
    ArchiveBudget,
    Member,
    Problem,
    Readable,
    corrupt,
    count_member,
    read_capped,
)

__all__ = [
    "COMPRESSED_SUFFIXES",
    "EXTENSIONS",
    "compression_of",
    "consumed_counter",
    "decompressed",
    "iter_compressed",
    "peek",
    "peek_decompressed",
]

COMPRESSED_SUFFIXES = {"gzip": (".gz", ".gzip"), "bz2": (".bz2",), "xz": (".xz",)}
EXTENSIONS = {"gzip": "gz", "bz2": "bz2", "xz": "xz"}


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


def decompressed(fileobj: IO[bytes], compression: str | None) -> Readable:
    if compression == "gzip":
        return gzip.GzipFile(fileobj=fileobj, mode="rb")
    if compression == "bz2":
        return bz2.BZ2File(fileobj, mode="rb")
    if compression == "xz":
        return lzma.LZMAFile(fileobj, mode="rb")
    return fileobj


def consumed_counter(fileobj: IO[bytes]) -> Callable[[], int]:
    """Compressed bytes a decompressor has taken from ``fileobj`` so far (read-ahead included)."""
    start = fileobj.tell()
    return lambda: fileobj.tell() - start


def peek(fileobj: IO[bytes], n: int) -> bytes:
    pos = fileobj.tell()
    head = fileobj.read(n)
    fileobj.seek(pos)
    return head


def _inner_name(name: str, compression: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in COMPRESSED_SUFFIXES[compression]:
        if base.lower().endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)]
    return base + ".out"


def iter_compressed(
    fileobj: IO[bytes], source: str, name: str, budget: ArchiveBudget, compression: str
) -> Iterator[Member | Problem]:
    inner = _inner_name(name, compression)
    msrc = f"{source}!{inner}"
    over = count_member(budget, source)
    if over is not None:
        yield over
        return
    try:
        data = read_capped(decompressed(fileobj, compression), source=msrc, budget=budget, declared=None,
                            compressed=consumed_counter(fileobj))  # fmt: skip
    except NlpipeError as exc:
        yield Problem(msrc, exc)
        return
    except Exception as exc:
        yield Problem(source, corrupt(source, EXTENSIONS[compression], exc))
        return
    yield Member(msrc, inner, data)
