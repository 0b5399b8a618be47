"""What the batch reader hands to the workers: one :class:`Unit` per document, in input order, and the options
that say how inputs are cut into documents (:class:`SourceOptions`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from nlpipe.readers.archives.zip_directory import ZipEntry

#: How a worker turns a unit into a document:
#:   ``text``  the text is already there (a CSV/JSONL row, a ``--split-on`` item);
#:   ``file``  a file the worker reads and parses by its kind (a plain input or a folder's file): ``path``;
#:   ``bytes`` a file's bytes parsed by its kind (an archive member, named by ``source``): ``data``;
#:   ``member`` a zip member the worker reads itself from the archive at ``path``, by its directory entry ``member``;
#:   ``members`` a range of zip members of the archive at ``path``, named ``source``, by the bytes of the central
#:     directory that hold their entries: ``members`` = (first byte, end byte, bytes prepended to the archive,
#:     members, their declared bytes); the worker reads those entries, applies the entry guards and makes a
#:     ``member`` unit (or a problem) of each, so one unit gives several rows (see
#:     :func:`~nlpipe.batch.members.member_units`);
#:   ``lines`` a range of a JSON Lines or CSV file's lines at ``path``: ``lines`` = (first byte, end byte, number of its
#:     first line, rows in it), ``table`` a CSV file's layout; the worker reads and parses them and makes a unit of
#:     each row (see
#:     :func:`~nlpipe.batch.tables.line_units`);
#:   ``items`` ``--split-on`` items of the file ``source``: a span of its text, ``text``, with ``span`` = (the first
#:     item's number, the line breaks before the span, (start, end) of each item in the span, flat); or an item over
#:     the document limit alone, ``items`` = ((number, line, None),); the worker makes a ``text`` unit (or an E178
#:     error) of each item
#:     (see :func:`~nlpipe.batch.split.item_units`);
#:   ``email`` one message of an mbox archive (RFC 822 bytes): ``data``;
#:   ``html``  a WARC response's HTML body, whose main text is extracted (boilerplate removed): ``data``;
#:   ``error`` nothing to parse: the unit is an error row with ``error`` = (code, message);
#:   ``skipped`` left out on purpose (a link, a hidden file, an image with OCR off): counted, never a row.
UnitKind = Literal["text", "file", "bytes", "member", "members", "lines", "items", "email", "html", "error", "skipped"]


@dataclass(slots=True)
class Unit:
    """One document of a batch input, not yet parsed. Treat it as read-only once made (it is not frozen only because
    a frozen dataclass is three times slower to make, and the reader makes one per document).

    ``id`` is stable across runs: the file or member path (``news.zip!2024/a.txt``), the row's id column (else
    ``file.csv:LINE``), the WARC record's ``URI@DATE``, the mbox Message-ID (else ``file.mbox#msg-N``), or
    ``file.txt#item-N`` for ``--split-on``. ``source`` is the file (or archive member) it came from, as given on the
    command line. ``meta`` holds what the reader knows besides (the WARC URI and date, a row's line number, ...).
    """

    id: str
    source: str
    kind: UnitKind
    text: str | None = None
    path: str | None = None
    data: bytes | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    error: tuple[str, str] | None = None
    member: ZipEntry | None = None
    members: tuple[int, int, int, int, int] | None = None
    lines: tuple[int, int, int, int] | None = None
    table: Any = None  # a CSV range's layout (nlpipe.batch.tables.CsvLayout); None for JSON Lines
    items: tuple[tuple[int, int, str | None], ...] = ()
    span: tuple[int, int, tuple[int, ...]] | None = None

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled as its fields in order, entries as plain tuples (units travel to workers by the hundred thousand:
        the slots dataclass's own pickling looks its fields up for every unit, and a named tuple pickles 7x slower
        than a tuple)."""
        member = None if self.member is None else tuple(self.member)
        return (_unpickle, (self.id, self.source, self.kind, self.text, self.path, self.data, self.meta, self.error,
                            member, self.members, self.lines, self.table, self.items,
                            self.span))  # fmt: skip

    @property
    def count(self) -> int:
        """Documents (or problems) this unit stands for: its members or lines for a range (a blank line gives none,
        so this may count more than there are), else 1."""
        if self.lines is not None:
            return max(1, self.lines[3])
        if self.span is not None:
            return len(self.span[2]) // 2
        if self.items:
            return len(self.items)
        return self.members[3] if self.members is not None else 1

    @property
    def size(self) -> int:
        """Bytes this unit carries to a worker, or has it read (chunks are cut by count and by this)."""
        member = self.member.file_size if self.member is not None else 0
        if self.members is not None:
            member = self.members[4]
        if self.lines is not None:
            member = self.lines[1] - self.lines[0]
        return len(self.data or b"") + len(self.text or "") * 2 + member + 200  # ``items`` carry no text


def _unpickle(*fields: Any) -> Unit:
    unit = Unit(*fields)
    if unit.member is not None:
        unit.member = ZipEntry._make(unit.member)
    return unit


@dataclass(frozen=True)
class SourceOptions:
    """How inputs are cut into documents.

    ``split_on``: a regular expression cutting plain-text inputs into items (None: one document per file).
    ``text_cols``: the CSV/JSONL columns joined (by a newline) to make the text (empty: ``text``).
    ``id_col``: the CSV/JSONL column holding the document id (None: ``id`` when the file has it, else the line).
    ``no_header``: CSV files have no header row; columns are then named by position (``1``, ``2``, ...).
    ``ocr``: ``auto`` | ``always`` | ``never``, as for ingest. ``password``: for encrypted PDFs and zips.
    """

    split_on: str | None = None
    text_cols: tuple[str, ...] = ()
    id_col: str | None = None
    no_header: bool = False
    ocr: str = "auto"
    password: str | None = None

    def fingerprint(self) -> dict[str, Any]:
        """What a resumed run must share with the run it continues (the password is not written down)."""
        return {"split_on": self.split_on, "text_cols": list(self.text_cols), "id_col": self.id_col,
                "no_header": self.no_header, "ocr": self.ocr}  # fmt: skip
