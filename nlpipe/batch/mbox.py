"""mbox mail archives, one message at a time: a streaming split on ``From`` lines, as the standard library's
:class:`mailbox.mbox` cuts them (every line starting with ``From`` starts a message; the blank line before it ends
the previous one; ``>From`` lines are left as they are), without its table of contents or any message but the
current one in memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import IO

from nlpipe.batch.problems import error_unit, too_large
from nlpipe.batch.units import Unit
from nlpipe.readers.textfile import fail

__all__ = ["LINE_BYTES", "looks_like_mbox", "mbox_units"]

#: Longest piece of a line read at once (longer lines are read in pieces).
LINE_BYTES = 64 * 1024
_FROM_LINE = re.compile(rb"From \S+\s+(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\b[^\n]*\d{1,2}:\d{2}")
_HEADER_LINE = re.compile(rb"[!-9;-~]+[ \t]*:")
_SPACE = re.compile(r"\s+")


def looks_like_mbox(head: bytes) -> bool:
    """Whether a file's first line is an mbox ``From`` line (``From sender Mon Jan  1 00:00:00 2024``): a sender
    and an asctime-style date, so prose that starts with "From" is not taken for mail."""
    return _FROM_LINE.match(head) is not None


def _message_id(data: bytes) -> str | None:
    end = min((i for i in (data.find(b"\n\n"), data.find(b"\r\n\r\n")) if i >= 0), default=len(data))
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(data[: end + 1])
        value = headers.get("Message-ID")
    except Exception:  # a header the parser cannot read: the message is named by its number
        return None
    text = _SPACE.sub(" ", str(value)).strip() if value is not None else ""
    return text or None


def _message(data: bytes, source: str, number: int, oversized: bool, max_bytes: int) -> Unit:
    uid = f"{source}#msg-{number}"
    meta = {"message": number}
    if data.endswith(b"\r\n\r\n"):  # the blank line before the next From line separates, it is not the body's
        data = data[:-2]
    elif data.endswith(b"\n\n"):
        data = data[:-1]
    if oversized:
        return error_unit(uid, source, too_large(uid, None, max_bytes, "message"), meta)
    if not data.strip():
        return error_unit(uid, source, fail("E804", "an empty message (a From line and nothing after it); the mbox "
                                            "file is damaged -- export it again", file=uid), meta)  # fmt: skip
    if not _HEADER_LINE.match(data):
        first = data.split(b"\n", 1)[0][:60].decode("utf-8", "replace")
        return error_unit(uid, source, fail("E804", f"the message does not start with a header line (it starts "
                                            f"{first!r}); the mbox file is damaged -- export it again", file=uid),
                          meta)  # fmt: skip
    return Unit(id=_message_id(data) or uid, source=source, kind="email", data=data, meta=meta)


def mbox_units(fh: IO[bytes], source: str, max_bytes: int) -> Iterator[Unit]:
    """One ``email`` unit per message (its RFC 822 bytes, the From line left out), named by its Message-ID, else
    ``source#msg-N`` (N from 1); a message over ``max_bytes`` is an E178 unit and a damaged one (empty, no header
    line) an E804 unit, both named ``source#msg-N``; text before the first From line is an E804 unit
    ``source#msg-0``."""
    number = 0
    parts: list[bytes] = []
    size, oversized = 0, False
    junk = False  # text before the first From line
    at_line_start, in_from_line = True, False
    while piece := fh.readline(LINE_BYTES):
        starts_message = at_line_start and piece.startswith(b"From ")
        at_line_start = piece.endswith(b"\n")
        if starts_message:
            if number == 0 and junk:
                yield error_unit(f"{source}#msg-0", source, fail("E804", "text before the first 'From ' line; an "
                                 "mbox file starts with a From line -- check that this is an mbox export",
                                 file=source), {"message": 0})  # fmt: skip
            elif number > 0:
                yield _message(b"".join(parts), source, number, oversized, max_bytes)
            number += 1
            parts, size, oversized = [], 0, False
            in_from_line = not at_line_start
            continue
        if in_from_line:  # the rest of a From line longer than LINE_BYTES
            in_from_line = not at_line_start
            continue
        if number == 0:
            junk = junk or bool(piece.strip())
            continue
        size += len(piece)
        if size > max_bytes:
            oversized, parts = True, []
        elif not oversized:
            parts.append(piece)
    if number > 0:
        yield _message(b"".join(parts), source, number, oversized, max_bytes)
    elif junk:
        yield error_unit(f"{source}#msg-0", source, fail("E804", "no 'From ' line: this is not an mbox file -- "
                         "check that it is an mbox export", file=source), {"message": 0})  # fmt: skip
