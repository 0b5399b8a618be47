"""``conll``: CoNLL-2003 style token/tag files <-> records with character-offset entity spans.

Reading
    One token per line, columns separated by whitespace: the token first, the NER tag last (anything in
    between, such as CoNLL-2003's POS and chunk columns, is ignored). A blank line ends a sentence;
    ``-DOCSTART-`` lines start a document. Tags are ``O`` or ``<P>-<TYPE>`` with ``P`` one of ``B``, ``I``
    (IOB1 and IOB2 read the same way), ``E``, ``S`` (IOBES). An entity starts at ``B-``/``S-``, or at an
    ``I-``/``E-`` that does not continue an entity of the same type (that is IOB1's rule, and it also reads
    IOB2 and IOBES correctly); ``E-``/``S-`` end it.

    The text of a sentence is its tokens joined by single spaces; spans are character offsets into it.
    By default each sentence is one record (``line`` = the line of its first token). With ``conll_docs``
    each ``-DOCSTART-`` block is one record whose sentences are joined by ``\\n`` (``line`` = the
    ``-DOCSTART-`` line). CoNLL files carry no document labels and no split.

Writing
    Each record becomes one ``-DOCSTART- O`` block; each line of its text one sentence; tokens are the
    whitespace-separated words, also split where a span starts or ends inside a word. Two columns:
    ``token TAG``, tags in IOB2 (default) or IOB1. So a file read with or without ``conll_docs`` is written
    back to records with identical texts and spans. Other texts lose their exact spacing (runs of spaces,
    tabs and blank lines become single spaces / are dropped), and spans are trimmed to whole words. Tags
    cannot overlap: of overlapping spans the longest is written (:func:`~nlpipe.label.formats.common.longest_first`).
    A span across a line break, or one holding no word, cannot be written (E115).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from nlpipe.label.formats.common import longest_first
from nlpipe.readers.textfile import fail, iter_lines
from nlpipe.types import Record, Span

__all__ = ["read_conll", "write_conll", "looks_like_conll", "SCHEMES", "SUFFIXES"]

SCHEMES: tuple[str, ...] = ("iob2", "iob1")
SUFFIXES: tuple[str, ...] = (".conll", ".conll03", ".conllu", ".iob", ".iob1", ".iob2", ".bio")
"""File extensions that alone make a file ``conll``."""
DOCSTART = "-DOCSTART-"
_TAG = re.compile(r"^(?:O|([BIES])-(\S+))$")
_WORD = re.compile(r"\S+")


def looks_like_conll(first_lines: list[str]) -> bool:
    """True when the first non-blank lines look like a CoNLL token/tag file (used by format detection)."""
    lines = [ln for ln in first_lines if ln.strip()][:20]
    if not lines:
        return False
    if lines[0].split()[0] == DOCSTART:
        return True
    for ln in lines:
        fields = ln.split()
        if fields[0] != DOCSTART and (len(fields) < 2 or not _TAG.match(fields[-1])):
            return False
    return True


class _Sentence:
    __slots__ = ("tokens", "tags", "line")

    def __init__(self, line: int) -> None:
        self.tokens: list[str] = []
        self.tags: list[tuple[str | None, str | None]] = []
        self.line = line


def _sentence_text(sent: _Sentence) -> tuple[str, list[Span]]:
    """Tokens joined by single spaces and the entity spans their tags describe."""
    spans: list[Span] = []
    cur_start, cur_end, cur_type = -1, -1, None
    pos = 0
    for tok, (prefix, typ) in zip(sent.tokens, sent.tags, strict=True):
        start, end = pos, pos + len(tok)
        pos = end + 1
        if prefix is None:  # O
            if cur_type is not None:
                spans.append(Span(cur_start, cur_end, cur_type))
                cur_type = None
            continue
        if prefix in ("B", "S") or cur_type != typ:
            if cur_type is not None:
                spans.append(Span(cur_start, cur_end, cur_type))
            cur_start, cur_type = start, typ
        cur_end = end
        if prefix in ("E", "S"):
            spans.append(Span(cur_start, cur_end, cur_type))  # type: ignore[arg-type]
            cur_type = None
    if cur_type is not None:
        spans.append(Span(cur_start, cur_end, cur_type))
    return " ".join(sent.tokens), spans


def read_conll(path: Path, *, encoding: str | None = None, conll_docs: bool = False, **_: object) -> Iterator[Record]:
    """Records of a CoNLL file: one per sentence, or one per ``-DOCSTART-`` block with ``conll_docs``.

    E118: a token line without a tag column; E119: a tag that is not ``O`` or ``B-/I-/E-/S-TYPE``.
    """
    path = Path(path)
    sent: _Sentence | None = None
    doc: list[_Sentence] = []
    doc_line: int | None = None

    def doc_record() -> Record:
        texts, spans, offset = [], [], 0
        for s in doc:
            text, sp = _sentence_text(s)
            spans += [Span(x.start + offset, x.end + offset, x.label) for x in sp]
            texts.append(text)
            offset += len(text) + 1
        return Record(text="\n".join(texts), labels=[], spans=spans, file=str(path), line=doc_line or doc[0].line)

    def end_sentence(finished: _Sentence) -> Record | None:
        """A sentence is complete: its record, or None when it joins its document (``conll_docs``)."""
        if conll_docs:
            doc.append(finished)
            return None
        text, spans = _sentence_text(finished)
        return Record(text=text, labels=[], spans=spans, file=str(path), line=finished.line)

    for n, line in iter_lines(path, encoding):
        fields = line.split()
        if not fields or fields[0] == DOCSTART:
            if sent is not None and (rec := end_sentence(sent)) is not None:
                yield rec
            sent = None
            if fields and conll_docs:
                if doc:
                    yield doc_record()
                doc, doc_line = [], n
            continue
        if len(fields) < 2:
            raise fail(
                "E118",
                f"token {fields[0]!r} has no tag column; each line needs the token first and the NER tag last "
                "(e.g. 'Paris I-LOC'), and a blank line between sentences",
                file=path,
                line=n,
            )
        tag = fields[-1]
        m = _TAG.match(tag)
        if m is None:
            raise fail(
                "E119",
                f"unknown NER tag {tag!r} for token {fields[0]!r}; tags are O or B-/I-/E-/S- followed by the "
                "entity type (e.g. B-PER, I-LOC)",
                file=path,
                line=n,
                field="tag",
            )
        if sent is None:
            sent = _Sentence(n)
        sent.tokens.append(fields[0])
        sent.tags.append((m.group(1), m.group(2)))
    if sent is not None and (rec := end_sentence(sent)) is not None:
        yield rec
    if conll_docs and doc:
        yield doc_record()


# ----------------------------------------------------------------------------------------------- writing


def _tokens(text: str, start: int, cuts: set[int]) -> list[tuple[int, int]]:
    """Character ranges of the words of ``text`` (offset ``start``), also cut at the offsets in ``cuts``."""
    out: list[tuple[int, int]] = []
    for m in _WORD.finditer(text):
        a, b = m.start() + start, m.end() + start
        inner = sorted(c for c in cuts if a < c < b)
        for c in inner:
            out.append((a, c))
            a = c
        out.append((a, b))
    return out


def _cannot(out: Path, n: int, why: str) -> Exception:
    return fail("E115", f"record {n} cannot be written as CoNLL: {why}", file=out)


def write_conll(records: Iterable[Record], fh: IO[str], *, out: Path, scheme: str = "iob2") -> int:
    """Write records as ``-DOCSTART-`` blocks of ``token TAG`` lines; returns how many were written."""
    n = 0
    for n, rec in enumerate(records, 1):
        spans = [(s.start, s.end, s.label) for s in longest_first(rec.spans)]
        for label in {lab for _, _, lab in spans}:
            if not label.strip() or any(ch.isspace() for ch in label):
                raise _cannot(out, n, f"entity type {label!r} contains whitespace")
        if any("\n" in rec.text[s:e] for s, e, _ in spans):
            raise _cannot(out, n, "a span crosses a line break (CoNLL entities lie within one sentence)")
        cuts = {s for s, _, _ in spans} | {e for _, e, _ in spans}
        fh.write(f"{DOCSTART} O\n\n")
        covered = j = pos = 0
        for line in rec.text.split("\n"):
            toks = _tokens(line, pos, cuts)
            pos += len(line) + 1
            if not toks:
                continue
            prev_span = None
            for a, b in toks:
                while j < len(spans) and spans[j][1] <= a:
                    j += 1
                span = spans[j] if j < len(spans) and spans[j][0] <= a and b <= spans[j][1] else None
                if span is None:
                    tag = "O"
                else:
                    if a == span[0]:
                        covered += 1
                    if scheme == "iob1":
                        adjacent = prev_span is not None and prev_span != span and prev_span[2] == span[2]
                        tag = ("B-" if adjacent and a == span[0] else "I-") + span[2]
                    else:
                        tag = ("B-" if a == span[0] else "I-") + span[2]
                prev_span = span
                fh.write(f"{rec.text[a:b]} {tag}\n")
            fh.write("\n")
        if covered != len(spans):
            raise _cannot(out, n, "a span holds no word (only spaces), so no token can carry its tag")
    return n
