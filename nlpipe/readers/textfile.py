"""Decode text files whose encoding nobody wrote down.

Order of trust, for every entry point here:

1. an explicit ``encoding`` (decoded strictly; a failure is E108 naming the line);
2. a byte-order mark (UTF-8, UTF-16, UTF-32);
3. UTF-16 without a BOM, recognised by NUL bytes at every other position (other NUL-laden data that is
   not valid UTF-8 is treated as binary: E108);
4. strict UTF-8 -- valid UTF-8 is never reinterpreted as anything else;
5. a legacy code page picked by charset-normalizer from the bytes around the first non-UTF-8 byte,
   preferring cp1252 / latin-1 when they read the bytes as well as the best guess does (charset-normalizer
   alone often prefers cp1250 or cp1257 for short Western European text);
6. cp1252 with U+FFFD replacement, only for lines nothing above can decode.

Files that mix encodings (UTF-8 lines pasted into a cp1252 file) are decoded line by line: each line that is
valid UTF-8 stays UTF-8, the rest use the legacy code page.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from nlpipe.errors import InputError, NlpipeError, location

__all__ = ["fail", "read_text", "decode_bytes", "iter_decoded", "iter_lines", "read_head", "SNIFF_BYTES"]

SNIFF_BYTES = 64 * 1024
_WINDOW = 128 * 1024
_CHAOS_SLACK = 0.1

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: FF FE 00 00 starts with FF FE
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_WIDE = {"utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"}
_LEGACY = (
    "cp1252", "latin_1", "iso8859_15", "cp1250", "cp1251", "cp1253", "cp1254", "cp1255", "cp1256",
    "cp1257", "koi8_r", "koi8_u", "mac_roman", "shift_jis", "cp932", "euc_jp", "gb18030", "big5",
    "euc_kr", "cp949",
)  # fmt: skip
_PREFERRED = ("cp1252", "latin_1", "iso8859_15")
# A UTF-8 lead byte followed by a continuation byte: data without one cannot contain a valid
# non-ASCII UTF-8 line, so a single legacy decode of the whole buffer is safe.
_UTF8_PAIR = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")

PathLike = str | os.PathLike[str]


def fail(
    code: str,
    message: str,
    *,
    file: object | None = None,
    line: int | None = None,
    field: str | None = None,
    kind: type[NlpipeError] = InputError,
) -> NlpipeError:
    """Build an error whose message starts with its location (``file, line N, field 'x': ...``)."""
    where = location(file, line, field)
    return kind(
        code,
        f"{where}: {message}" if where else message,
        file=str(file) if file is not None else None,
        line=line,
        field=field,
    )


def _not_found(path: Path, exc: OSError) -> NlpipeError:
    if isinstance(exc, FileNotFoundError):
        return fail("E100", "file not found; check the path (relative paths start from the current folder)", file=path)
    return fail("E100", f"cannot read the file ({exc.strerror or exc}); check its permissions", file=path)


def _bom(data: bytes) -> tuple[str, int] | None:
    for mark, enc in _BOMS:
        if data.startswith(mark):
            return enc, len(mark)
    return None


def _utf16_without_bom(sample: bytes) -> str | None:
    """``utf-16-le``/``-be`` when NULs sit at every other byte, as in mostly-ASCII UTF-16 text."""
    sample = sample[: 4096 - (min(len(sample), 4096) % 2)]
    half = len(sample) // 2
    if half < 2:
        return None
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    if odd >= 0.4 * half and even <= 0.05 * half:
        return "utf-16-le"
    if even >= 0.4 * half and odd <= 0.05 * half:
        return "utf-16-be"
    return None


def _binary(source: object | None) -> NlpipeError:
    return fail(
        "E108",
        "looks like a binary file (it contains NUL bytes and is neither UTF-8 nor UTF-16 text); only plain "
        "text can be imported -- export spreadsheets as CSV and PDFs as text first, or pass --encoding",
        file=source,
    )


def _line_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def _window(data: bytes, pos: int) -> bytes:
    """Bytes around ``pos`` (the first non-UTF-8 byte), starting at a line start when that is near."""
    start = data.rfind(b"\n", 0, pos) + 1
    if pos - start > 16 * 1024:
        start = max(0, pos - 1024)
    return data[start : start + _WINDOW]


def _legacy_candidates(window: bytes) -> list[str]:
    """Legacy code pages that could have produced ``window``, most plausible first."""
    from charset_normalizer import from_bytes  # imported lazily: only legacy files pay for it

    matches = list(from_bytes(window, cp_isolation=list(_LEGACY)))
    out: list[str] = []
    if matches:
        best = min(m.chaos for m in matches)
        close = [m for m in matches if m.chaos <= best + _CHAOS_SLACK]
        for pref in _PREFERRED:
            if any(pref in m.could_be_from_charset for m in close):
                out.append(pref)
        for m in sorted(matches, key=lambda m: m.chaos):
            if m.encoding not in out:
                out.append(m.encoding)
    return out or ["cp1252"]


def _decode_line(raw: bytes, legacy: str) -> str:
    if raw.isascii():
        return raw.decode("ascii")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode(legacy)
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _decode_legacy(data: bytes, candidates: list[str]) -> str:
    if not _UTF8_PAIR.search(data):
        for enc in candidates:
            try:
                return data.decode(enc)
            except UnicodeDecodeError:
                continue
    return "".join(_decode_line(raw, candidates[0]) for raw in data.splitlines(keepends=True))


def _decode_explicit(data: bytes, encoding: str, source: object | None) -> str:
    name = _codec_name(encoding, source)
    if name == "utf-8" and data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode(name)
    except UnicodeDecodeError as exc:
        raise fail(
            "E108",
            f"not valid {encoding} (byte 0x{data[exc.start]:02x}); pass the file's real encoding with "
            "--encoding, or leave it out to auto-detect",
            file=source,
            line=_line_of(data, exc.start) if name not in _WIDE else None,
        ) from None


def _codec_name(encoding: str, source: object | None) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise fail(
            "E108",
            f"unknown encoding '{encoding}'; use a name such as utf-8, cp1252, latin-1 or utf-16",
            file=source,
        ) from None


def decode_bytes(data: bytes, encoding: str | None = None, *, source: object | None = None) -> str:
    """Decode a whole buffer following the order in the module docstring."""
    if encoding:
        return _decode_explicit(data, encoding, source)
    bom = _bom(data)
    if bom is not None:
        enc, skip = bom
        try:
            return data[skip:].decode(enc)
        except UnicodeDecodeError:
            raise fail(
                "E108",
                f"starts with a {enc} byte-order mark but is not valid {enc}; re-save it as UTF-8",
                file=source,
            ) from None
    if b"\x00" in data:
        wide = _utf16_without_bom(data)
        if wide is not None:
            try:
                return data.decode(wide)
            except UnicodeDecodeError:
                pass
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise _binary(source) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _decode_legacy(data, _legacy_candidates(_window(data, exc.start)))


def read_text(path_or_bytes: PathLike | bytes, encoding: str | None = None, *, source: object | None = None) -> str:
    """Decode a file (or bytes) to text, detecting the encoding when ``encoding`` is None.

    ``source`` names the data in error messages when bytes are passed. Raises E100 when the file cannot be
    read and E108 when it cannot be decoded (explicit encoding that does not fit, or binary data).
    """
    if isinstance(path_or_bytes, bytes | bytearray | memoryview):
        return decode_bytes(bytes(path_or_bytes), encoding, source=source)
    path = Path(path_or_bytes)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _not_found(path, exc) from None
    return decode_bytes(data, encoding, source=source if source is not None else path)


def _wide_pieces(fh: IO[bytes], first: bytes, enc: str, block_size: int, bad: NlpipeError) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(enc)("strict")
    data = first
    try:
        while data:
            text = decoder.decode(data)
            if text:
                yield text
            data = fh.read(block_size)
        text = decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise bad from None
    if text:
        yield text


def _utf8_cut(buf: bytes) -> int:
    """Where to cut ``buf`` (which has no line break) without splitting a UTF-8 character."""
    end = len(buf)
    for back in range(1, min(4, end) + 1):
        byte = buf[end - back]
        if byte < 0x80:
            return end
        if byte >= 0xC0:  # a lead byte: cut before it unless its sequence is complete
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return end if back >= need else end - back
    return end


def iter_decoded(fh: IO[bytes], *, source: object | None = None, block_size: int = _WINDOW) -> Iterator[str]:
    """Decode a binary stream piece by piece, for files too large to decode whole (:func:`decode_bytes` holds all).

    The order of trust is the module's: a byte-order mark, UTF-16 without one (NULs in the first block), strict
    UTF-8, then a legacy code page picked once, from the bytes around the first non-UTF-8 byte, with pieces that
    mix UTF-8 and legacy lines decoded line by line. Pieces end after a line break (a line longer than two blocks
    is cut between characters), so a line is decoded as one; at most a few blocks are held. Line endings are kept
    as they are. Raises E108 as :func:`decode_bytes` does (binary data, a byte-order mark that does not fit), when
    the bad bytes are reached.
    """
    head = fh.read(block_size)
    bom = _bom(head)
    if bom is not None:
        enc, skip = bom
        bad = fail("E108", f"starts with a {enc} byte-order mark but is not valid {enc}; re-save it as UTF-8",
                   file=source)  # fmt: skip
        yield from _wide_pieces(fh, head[skip:], enc, block_size, bad)
        return
    if b"\x00" in head:
        yield from _wide_pieces(fh, head, _utf16_without_bom(head) or "utf-8", block_size, _binary(source))
        return
    candidates: list[str] | None = None
    carry = b""
    data = head
    while data or carry:
        buf = carry + data
        cut = buf.rfind(b"\n") + 1
        if not data:
            cut = len(buf)
        elif cut == 0 and len(buf) > 2 * block_size:
            cut = _utf8_cut(buf)
        piece, carry = memoryview(buf)[:cut], buf[cut:]  # decoded in place: a copy of a block costs as much
        if piece:
            try:
                yield str(piece, "utf-8")
            except UnicodeDecodeError as exc:
                if candidates is None:
                    candidates = _legacy_candidates(_window(bytes(piece), exc.start))
                yield _decode_legacy(bytes(piece), candidates)
        data = fh.read(block_size) if data else b""


def _strip_eol(raw: bytes) -> bytes:
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw


def iter_lines(path: PathLike, encoding: str | None = None, *, keep_ends: bool = False) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` for a text file without its line ending, decoding as it goes.

    Lines are split on ``\\n`` only (``\\r\\n`` is handled), so JSON strings holding U+2028 stay intact.
    ``keep_ends``: each line keeps its ``\\n`` / ``\\r\\n`` (what the csv module reads).
    ASCII-compatible files are streamed; UTF-16/32 files are decoded whole.
    """
    path = Path(path)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed in the finally below, also when the caller stops early
    except OSError as exc:
        raise _not_found(path, exc) from None
    try:
        head = fh.read(SNIFF_BYTES)
        name = _codec_name(encoding, path) if encoding else None
        bom = _bom(head)
        wide = (name in _WIDE) if name else (bom is not None and bom[0] != "utf-8") or b"\x00" in head
        if wide:
            fh.close()
            text = read_text(path, encoding)
            if text.endswith("\n"):
                text = text[:-1]
                end = "\n" if keep_ends else ""
            else:
                end = ""
            lines = text.split("\n") if text else []
            for n, line in enumerate(lines, 1):
                if keep_ends:
                    yield n, line + ("\n" if n < len(lines) else end)
                else:
                    yield n, line.removesuffix("\r")
            return
        skip = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) and name in (None, "utf-8") else 0
        fh.seek(skip)
        legacy: str | None = None
        for n, raw in enumerate(fh, 1):
            if not keep_ends:
                raw = _strip_eol(raw)
            if raw.isascii():
                yield n, raw.decode("ascii")
            elif name is not None:
                try:
                    yield n, raw.decode(name)
                except UnicodeDecodeError as exc:
                    raise fail(
                        "E108",
                        f"not valid {encoding} (byte 0x{raw[exc.start]:02x}); pass the file's real encoding "
                        "with --encoding, or leave it out to auto-detect",
                        file=path,
                        line=n,
                    ) from None
            else:
                try:
                    yield n, raw.decode("utf-8")
                    continue
                except UnicodeDecodeError:
                    pass
                if legacy is None:
                    pos = fh.tell()
                    legacy = _legacy_candidates(raw + fh.read(_WINDOW))[0]
                    fh.seek(pos)
                yield n, _decode_line(raw, legacy)
    finally:
        fh.close()


def read_head(path: PathLike, size: int = SNIFF_BYTES) -> tuple[str, bool]:
    """The decoded start of a file for format sniffing, and whether it is the whole file.

    Lenient: a character cut at the end of the chunk is dropped. Raises E100 / E108 like :func:`read_text`.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(size + 1)
    except OSError as exc:
        raise _not_found(path, exc) from None
    complete = len(data) <= size
    data = data[:size]
    bom = _bom(data)
    if bom is not None or (b"\x00" in data and _utf16_without_bom(data)):
        enc, skip = bom if bom is not None else (_utf16_without_bom(data) or "utf-16-le", 0)
        return data[skip:].decode(enc, errors="ignore"), complete
    if not complete:
        cut = data.rfind(b"\n")
        if cut > 0:
            data = data[: cut + 1]
    if b"\x00" in data:
        try:
            codecs.getincrementaldecoder("utf-8")().decode(data, final=complete)
        except UnicodeDecodeError:
            raise _binary(path) from None
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(data, final=complete), complete
    except UnicodeDecodeError as exc:
        return _decode_legacy(data, _legacy_candidates(_window(data, exc.start))), complete
