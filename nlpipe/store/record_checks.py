"""The checks a record passes before it is stored: its text (E211), its named split (E204) and its spans (E207),
each naming the file and line."""

from __future__ import annotations

from nlpipe.errors import InputError
from nlpipe.types import SPLITS, Record

SpanKey = tuple[int, int, str]  # (start, end, label) of a checked span


def check_spans(rec: Record) -> list[SpanKey]:
    """The record's spans, each checked against its text (E207 names the file, line and span)."""
    if not rec.spans:
        return []
    n = len(rec.text)
    for i, sp in enumerate(rec.spans):
        where = f"{rec.file or 'input'}, line {rec.line}"
        if not isinstance(sp.label, str) or not sp.label.strip():
            raise InputError(
                "E207", f"{where}: span {i} has no label.", file=rec.file, line=rec.line, field=f"spans[{i}]"
            )
        if not (isinstance(sp.start, int) and isinstance(sp.end, int) and 0 <= sp.start < sp.end <= n):
            raise InputError(
                "E207",
                f"{where}: span {i} ({sp.start}, {sp.end}, {sp.label!r}) is not inside the text of {n} characters "
                "(offsets are 0-based characters, end exclusive, start < end).",
                file=rec.file,
                line=rec.line,
                field=f"spans[{i}]",
            )
    return list(dict.fromkeys((sp.start, sp.end, sp.label) for sp in rec.spans))


#: What no stored text may hold: PostgreSQL's text type cannot store it, and a text file never means it.
NUL = "\x00"
NUL_HINT = "a NUL character (U+0000), which no text holds: is it a binary file, or UTF-16 without a byte-order mark?"


def check_text(rec: Record) -> None:
    """E211 for a text with a NUL character, on every backend alike (PostgreSQL cannot store one)."""
    if NUL in rec.text:
        at = rec.text.index(NUL)
        raise InputError("E211", f"{rec.file or 'input'}, line {rec.line}: the text holds {NUL_HINT} (character {at})",
                         file=rec.file, line=rec.line, field="text")  # fmt: skip


def check_split(rec: Record) -> None:
    """E204 for a split that is not one of train, validation, test."""
    if rec.split is not None and rec.split not in SPLITS:
        raise InputError(
            "E204",
            f"{rec.file or 'input'}, line {rec.line}: unknown split {rec.split!r}; use one of {', '.join(SPLITS)}.",
            file=rec.file,
            line=rec.line,
            field="split",
        )
