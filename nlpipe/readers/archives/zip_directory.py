"""A zip's central directory read as a stream, and one member read by its directory entry alone.

:class:`zipfile.ZipFile` parses the whole central directory into a list of ``ZipInfo`` objects when it opens an
archive: for 100,000 members that is over half a second and tens of megabytes, paid again by every process that
opens it. The batch reader needs neither: :func:`iter_entries` walks the directory in bounded blocks and yields
one small :class:`ZipEntry` per member (the fields :class:`zipfile.ZipInfo` has, under the same names, so the
guards of :mod:`nlpipe.readers.archives.zips` take either), and :func:`open_entry` opens one member from its entry
in any process that can read the file, by zipfile's own decompressing, decrypting and CRC-checking reader
(:class:`zipfile.ZipExtFile`). :func:`has_member_named` looks for exact member names in the raw directory bytes
(``word/document.xml`` tells a DOCX from a zip) without parsing an entry.

The directory is found as zipfile finds it (its end record, zip64 included, and data prepended to the archive, as in
self-extracting archives, allowed for); names are decoded as zipfile decodes them (UTF-8 when the entry's flag
says so, else CP437, cut at a NUL byte), so ids are the same either way.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, Any, NamedTuple

__all__ = [
    "DIRECT_BYTES",
    "ZipEntry",
    "directory_slice",
    "directory_span",
    "has_member_named",
    "iter_entries",
    "open_entry",
    "read_direct",
    "walk_entries",
]

_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # zipfile.structCentralDir: 46 bytes
_LOCAL = struct.Struct("<4s2B4HL2L2H")  # zipfile.structFileHeader: 30 bytes
_CENTRAL_MAGIC = b"PK\x01\x02"
_LOCAL_MAGIC = b"PK\x03\x04"
_BLOCK = 1024 * 1024
_UTF8_NAME = 0x800
_ENCRYPTED = 0x1
_PATCHED = 0x20
_STRONG = 0x40
_FFFF = 0xFFFF_FFFF
#: Members up to this size (stored or deflated, not encrypted) are read by :func:`read_direct`.
DIRECT_BYTES = 4 * 1024 * 1024


class ZipEntry(NamedTuple):
    """One member as the central directory describes it; ``header_offset`` is absolute in the file."""

    filename: str
    flag_bits: int
    compress_type: int
    CRC: int
    compress_size: int
    file_size: int
    header_offset: int
    external_attr: int
    raw_time: int

    def is_dir(self) -> bool:
        return self.filename.endswith("/")


class Span(NamedTuple):
    """Where the central directory is: ``entries`` declared, ``start`` (absolute) and ``size`` in bytes, and
    ``concat``, the bytes prepended to the archive (added to every member's offset)."""

    entries: int
    start: int
    size: int
    concat: int


def directory_span(fh: IO[bytes]) -> Span:
    """The central directory's place, from the end record (zip64 aware). Raises :class:`zipfile.BadZipFile` when
    there is no end record or it points outside the file."""
    endrec = zipfile._EndRecData(fh)  # type: ignore[attr-defined]  # zipfile's own finder of the end record
    fh.seek(0)
    if not endrec:
        raise zipfile.BadZipFile("File is not a zip file")
    size_cd, offset_cd = endrec[zipfile._ECD_SIZE], endrec[zipfile._ECD_OFFSET]  # type: ignore[attr-defined]
    concat = endrec[zipfile._ECD_LOCATION] - size_cd - offset_cd  # type: ignore[attr-defined]
    if endrec[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:  # type: ignore[attr-defined]
        concat -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator  # type: ignore[attr-defined]
    start = offset_cd + concat
    if start < 0 or size_cd < 0:
        raise zipfile.BadZipFile("Bad offset for central directory")
    return Span(int(endrec[zipfile._ECD_ENTRIES_TOTAL]), start, size_cd, concat)  # type: ignore[attr-defined]


def _zip64(extra: bytes, file_size: int, compress_size: int, offset: int) -> tuple[int, int, int]:
    """Sizes and offset from the zip64 extra field, for those the fixed fields mark as 0xFFFFFFFF."""
    while len(extra) >= 4:
        kind, length = struct.unpack_from("<HH", extra)
        if length + 4 > len(extra):
            raise zipfile.BadZipFile(f"Corrupt extra field {kind:04x} (size={length})")
        if kind == 0x0001:
            data = extra[4 : length + 4]
            values = [file_size, compress_size, offset]
            pos = 0
            for i, value in enumerate(values):
                if value == _FFFF or (i == 0 and value == 0xFFFF_FFFF_FFFF_FFFF):
                    if pos + 8 > len(data):
                        raise zipfile.BadZipFile("Corrupt zip64 extra field")
                    values[i] = struct.unpack_from("<Q", data, pos)[0]
                    pos += 8
            return values[0], values[1], values[2]
        extra = extra[length + 4 :]
    return file_size, compress_size, offset


def _name(raw: bytes, flags: int) -> str:
    name = raw.decode("utf-8") if flags & _UTF8_NAME else raw.decode("cp437")
    nul = name.find("\0")
    return name if nul < 0 else name[:nul]


def _blocks(fh: IO[bytes], span: Span) -> Iterator[tuple[bytes, int]]:
    """The directory's bytes in blocks of about :data:`_BLOCK`, each with the directory offset it starts at."""
    done = 0
    while done < span.size:
        fh.seek(span.start + done)  # each time: the caller may read members between two blocks
        block = fh.read(min(_BLOCK, span.size - done))
        if not block:
            raise zipfile.BadZipFile("Truncated central directory")
        yield block, done
        done += len(block)


def iter_entries(fh: IO[bytes], span: Span | None = None) -> Iterator[ZipEntry]:
    """Every entry of the central directory, in order, holding one block of it at a time. Raises
    :class:`zipfile.BadZipFile` where the directory is damaged (entries before it have been yielded)."""
    return (entry for entry, _ in walk_entries(fh, span))


def walk_entries(fh: IO[bytes], span: Span | None = None) -> Iterator[tuple[ZipEntry, int]]:
    """:func:`iter_entries` with the absolute file offset just after each entry: a run of entries is then the
    directory bytes between two such offsets, which :func:`directory_slice` reads back."""
    span = span or directory_span(fh)
    buf = b""
    unpack, make, concat = _CENTRAL.unpack_from, tuple.__new__, span.concat  # tuple.__new__: a named tuple, fast
    for block, done in _blocks(fh, span):
        base = span.start + done - len(buf)  # the file offset of buf[0]
        buf = buf + block if buf else block
        pos = 0
        while len(buf) - pos >= 46:
            fields = unpack(buf, pos)
            if fields[0] != _CENTRAL_MAGIC:
                raise zipfile.BadZipFile("Bad magic number for central directory")
            n, m, k = fields[12], fields[13], fields[14]
            end = pos + 46 + n + m + k
            if end > len(buf):
                break
            flags, size, csize, offset = fields[5], fields[11], fields[10], fields[18]
            if size == _FFFF or csize == _FFFF or offset == _FFFF:
                size, csize, offset = _zip64(buf[pos + 46 + n : pos + 46 + n + m], size, csize, offset)
            name = _name(buf[pos + 46 : pos + 46 + n], flags)
            yield make(ZipEntry, (name, flags, fields[6], fields[9], csize, size, offset + concat, fields[17],
                                  fields[7])), base + end  # fmt: skip
            pos = end
        buf = buf[pos:]
    if buf:
        raise zipfile.BadZipFile("Truncated central directory")


def directory_slice(fh: IO[bytes], start: int, end: int, concat: int) -> Iterator[ZipEntry]:
    """The entries of the directory bytes ``start:end`` (offsets from :func:`walk_entries`) of an archive whose
    prepended bytes are ``concat``: how a worker gets the entries of a range the reader cut."""
    return iter_entries(fh, Span(0, start, end - start, concat))


def has_member_named(fh: IO[bytes], names: Iterable[str], span: Span | None = None) -> set[str]:
    """Which of ``names`` (ASCII) are the exact name of some entry: found in the raw directory bytes, each hit
    checked to be an entry's whole name (its header's signature 46 bytes before, its name length field). Never
    parses an entry, so a directory of a million entries is scanned at the speed of ``bytes.find``."""
    span = span or directory_span(fh)
    wanted = {name: name.encode("ascii") for name in names}
    overlap = 46 + max((len(n) for n in wanted.values()), default=0)
    found: set[str] = set()
    tail = b""
    for block, _ in _blocks(fh, span):
        data = tail + block
        for name, raw in wanted.items():
            if name in found:
                continue
            at = data.find(raw, 46)
            while at >= 0:
                header = at - 46
                whole = struct.unpack_from("<H", data, header + 28)[0] == len(raw)  # the name length field
                if data[header : header + 4] == _CENTRAL_MAGIC and whole:
                    found.add(name)
                    break
                at = data.find(raw, at + 1)
        if len(found) == len(wanted):
            break
        tail = data[-overlap:]
    fh.seek(0)
    return found


def _info(entry: ZipEntry) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(entry.filename)
    info.flag_bits, info.compress_type, info.CRC = entry.flag_bits, entry.compress_type, entry.CRC
    info.compress_size, info.file_size, info.header_offset = entry.compress_size, entry.file_size, entry.header_offset
    info.external_attr = entry.external_attr
    info._raw_time = entry.raw_time  # type: ignore[attr-defined]  # ZipExtFile's password check byte
    return info


def _local_header(fh: IO[bytes], entry: ZipEntry) -> tuple[Any, ...]:
    """The fields of the member's local header (zipfile.structFileHeader), ``fh`` left just after them."""
    fh.seek(entry.header_offset)
    header = fh.read(_LOCAL.size)
    if len(header) != _LOCAL.size:
        raise zipfile.BadZipFile("Truncated file header")
    fields = _LOCAL.unpack(header)
    if fields[0] != _LOCAL_MAGIC:
        raise zipfile.BadZipFile("Bad magic number for file header")
    return fields


def open_entry(fh: IO[bytes], entry: ZipEntry, pwd: bytes | None = None) -> zipfile.ZipExtFile:
    """A reader of one member's data (decompressed, decrypted with ``pwd``, its CRC checked at the end), as
    :meth:`zipfile.ZipFile.open` makes it, from the entry alone. Raises what that raises: BadZipFile for a local
    header that does not match, RuntimeError for a missing or wrong password, NotImplementedError for a method
    zipfile cannot read."""
    fields = _local_header(fh, entry)
    raw = fh.read(fields[10])
    if fields[11]:
        fh.seek(fields[11], 1)
    if entry.flag_bits & _PATCHED:
        raise NotImplementedError("compressed patched data (flag bit 5)")
    if entry.flag_bits & _STRONG:
        raise NotImplementedError("strong encryption (flag bit 6)")
    if _name(raw, fields[3]) != entry.filename:
        raise zipfile.BadZipFile(f"File name in directory {entry.filename!r} and header {raw!r} differ.")
    if entry.flag_bits & _ENCRYPTED:
        if not pwd:
            raise RuntimeError(f"File {entry.filename!r} is encrypted, password required for extraction")
    else:
        pwd = None
    return zipfile.ZipExtFile(fh, "r", _info(entry), pwd, False)


def read_direct(fh: IO[bytes], entry: ZipEntry) -> bytes | None:
    """A small member's bytes read and inflated in one go, checked as zipfile checks them (local header, size,
    CRC-32), or None when the member is not one for this path (encrypted, a method other than stored or deflate,
    a flag zipfile refuses, over :data:`DIRECT_BYTES` declared or compressed): read it with :func:`open_entry`.
    Never returns more than the declared size: a member holding more raises :class:`zipfile.BadZipFile`. About a
    third of the cost of opening the member as a file: ``ZipInfo`` and ``ZipExtFile`` are not made."""
    if (
        entry.flag_bits & (_ENCRYPTED | _PATCHED | _STRONG)
        or entry.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
        or entry.file_size > DIRECT_BYTES
        or entry.compress_size > DIRECT_BYTES
    ):
        return None
    fields = _local_header(fh, entry)
    rest = fh.read(fields[10] + fields[11] + entry.compress_size)
    raw = rest[: fields[10]]
    if _name(raw, fields[3]) != entry.filename:
        raise zipfile.BadZipFile(f"File name in directory {entry.filename!r} and header {raw!r} differ.")
    packed = rest[fields[10] + fields[11] :]
    if len(packed) != entry.compress_size:
        raise EOFError("Truncated member data")
    if entry.compress_type == zipfile.ZIP_STORED:
        data = packed
    else:
        inflater = zlib.decompressobj(-15)
        data = inflater.decompress(packed, entry.file_size + 1)
        if len(data) <= entry.file_size and not inflater.eof:
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")
    if len(data) != entry.file_size:
        raise zipfile.BadZipFile(f"the member holds {len(data):,} bytes, its header declares {entry.file_size:,}")
    if zlib.crc32(data) != entry.CRC:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {entry.filename!r}")
    return data
