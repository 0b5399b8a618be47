"""WARC web archives (``.warc``, ``.warc.gz``), record by record, with warcio.

Each ``response`` record whose HTTP Content-Type is HTML becomes an ``html`` unit (the HTTP body, decoded and
cleaned by the worker), a ``text/plain`` one a ``text`` unit; other records (requests, metadata, warcinfo, DNS)
and other content types are not documents, nor are responses with an empty body (redirects). The id is
``URI@WARC-Date``.

warcio reads a truncated WARC silently (it stops, or hands back a short body), so the damage is found here: a
record whose body ends before its Content-Length, or bytes after the last whole record, make an E182 unit after
the records read so far. A gzipped WARC is decompressed here, member by member (an unfinished member is
truncation), under the compression-ratio limit of archives (E184), and warcio reads the plain stream.
"""

from __future__ import annotations

import codecs
import zlib
from collections.abc import Iterator
from typing import IO, Any

from nlpipe.batch.problems import error_unit, too_large
from nlpipe.batch.units import Unit
from nlpipe.config import Settings
from nlpipe.errors import NlpipeError
from nlpipe.readers.archives.guards import CHUNK, ArchiveLimits, bomb, ratio_exceeded
from nlpipe.readers.textfile import fail, read_text

__all__ = ["HTML_TYPES", "looks_like_warc", "warc_units"]

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_WARC_MAGIC = b"WARC/1."


def looks_like_warc(head: bytes, name: str) -> bool:
    """A WARC by name (``.warc``, ``.warc.gz``) or by its first bytes, plain or gzipped."""
    if name.lower().endswith((".warc", ".warc.gz")) or head.startswith(_WARC_MAGIC):
        return True
    if head.startswith(b"\x1f\x8b"):
        try:
            return zlib.decompressobj(31).decompress(head, 16).startswith(_WARC_MAGIC)
        except zlib.error:
            return False
    return False


class _Damaged(Exception):
    """The WARC is truncated or damaged (raised through warcio, which only catches EOFError)."""


class _Gunzip:
    """A multi-member gzip stream, decompressed as it is read; what warcio reads instead of the file.

    Raises :class:`_Damaged` when the file ends inside a member, the E184 error past the compression-ratio limit.
    """

    def __init__(self, raw: IO[bytes], source: str, limits: ArchiveLimits) -> None:
        self.raw, self.source, self.limits = raw, source, limits
        self.member: Any = None  # zlib's decompressor of the current member (None between members)
        self.pending = b""  # compressed bytes read but not yet decompressed
        self.packed = self.unpacked = 0

    def tell(self) -> int:
        return self.unpacked

    def _more(self) -> bytes:
        data = self.raw.read(CHUNK)
        self.packed += len(data)
        return data

    def read(self, size: int = -1) -> bytes:
        size = CHUNK if size is None or size < 0 else size
        while True:
            if not self.pending:
                self.pending = self._more()
                if not self.pending:
                    if self.member is not None:
                        raise _Damaged("the file ends inside a gzip member")
                    return b""
            if self.member is None:
                self.member = zlib.decompressobj(31)
            out = self.member.decompress(self.pending, size)
            self.pending = self.member.unconsumed_tail
            if self.member.eof:
                self.pending = self.member.unused_data + self.pending
                self.member = None
            if out:
                self.unpacked += len(out)
                if ratio_exceeded(self.unpacked, self.packed, self.limits):
                    raise bomb(self.source, self.limits, self.unpacked, self.packed, declared=False)
                return out


def _content_type(http: Any) -> tuple[str, str | None]:
    value = http.get_header("Content-Type") or ""
    mime, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset" and val.strip().strip("\"'"):
            try:
                charset = codecs.lookup(val.strip().strip("\"'")).name
            except LookupError:
                charset = None
    return mime.strip().lower(), charset


def _body_text(body: bytes, charset: str | None, uid: str) -> str:
    if charset:
        try:
            return body.decode(charset)
        except UnicodeError:
            pass
    return read_text(body, source=uid)


def _record_unit(record: Any, source: str, max_bytes: int) -> Unit | None:
    """The unit of one record, or None when the record is not a document."""
    http = record.http_headers
    if record.rec_type != "response" or http is None:
        return None
    mime, charset = _content_type(http)
    if mime not in HTML_TYPES and mime != "text/plain":
        return None
    uri = record.rec_headers.get_header("WARC-Target-URI") or ""
    date = record.rec_headers.get_header("WARC-Date") or ""
    status = http.get_statuscode()
    uid = f"{uri}@{date}"
    meta: dict[str, Any] = {"uri": uri, "date": date, "status": int(status) if str(status).isdigit() else status}
    try:
        body = record.content_stream().read(max_bytes + 1)
    except (_Damaged, NlpipeError):
        raise  # the WARC itself (its gzip stream) is damaged
    except Exception as exc:  # this body's chunked or compressed HTTP encoding is damaged: the next record is fine
        err = fail("E179", f"cannot decode the HTTP body ({type(exc).__name__}: {exc}); the crawler saved it "
                   "damaged", file=uid)  # fmt: skip
        return error_unit(uid, source, err, meta)
    if len(body) > max_bytes:
        return error_unit(uid, source, too_large(uid, None, max_bytes, "HTTP body"), meta)
    if not body.strip():
        return None
    if mime == "text/plain":
        try:
            return Unit(id=uid, source=source, kind="text", text=_body_text(body, charset, uid), meta=meta)
        except NlpipeError as exc:
            return error_unit(uid, source, exc, meta)
    if charset:
        meta["charset"] = charset
    return Unit(id=uid, source=source, kind="html", data=body, meta=meta)


def _finish(record: Any) -> None:
    """Read the rest of a record's block; :class:`_Damaged` when the file ends before its Content-Length."""
    from warcio.limitreader import LimitReader

    stream = record.raw_stream
    while stream.read(CHUNK):
        pass
    if not isinstance(stream, LimitReader):
        raise _Damaged("a record without a valid Content-Length")
    if stream.limit > 0:
        raise _Damaged(f"a record ends {stream.limit:,} bytes before its Content-Length")


def warc_units(fh: IO[bytes], source: str, settings: Settings) -> Iterator[Unit]:
    """The units of a WARC file read from ``fh`` (plain or gzipped), in record order; see the module docstring."""
    from warcio.archiveiterator import ArchiveIterator

    head = fh.read(2)
    fh.seek(0)
    stream: Any = _Gunzip(fh, source, ArchiveLimits.for_batch(settings)) if head == b"\x1f\x8b" else fh
    kept = 0
    try:
        records = ArchiveIterator(stream)
        for record in records:
            unit = _record_unit(record, source, settings.max_document_bytes)
            _finish(record)
            if unit is not None:
                kept += 1
                yield unit
        if records.offset < stream.tell():  # bytes after the last whole record: a record cut in its headers
            raise _Damaged("the file ends inside a record's headers")
    except NlpipeError as exc:
        yield error_unit(source, source, exc)
    except Exception as exc:  # _Damaged, warcio's ArchiveLoadFailed, zlib.error, its own AttributeErrors...
        yield error_unit(source, source, _corrupt(source, exc, kept))


def _corrupt(source: str, exc: Exception, kept: int) -> NlpipeError:
    detail = str(exc) if isinstance(exc, _Damaged) else f"{type(exc).__name__}: {exc}"
    return fail(
        "E182",
        f"the WARC file is corrupt or truncated ({detail}); the {kept} document(s) before the damage were read -- "
        "download or write it again (`warcio check` tells whether it is whole)",
        file=source,
    )
