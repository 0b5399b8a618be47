"""``spacy``: spaCy ``.spacy`` (DocBin) files <-> records.

Reading: each Doc is one record; ``doc.text`` the text, ``doc.ents`` the spans (character offsets),
``doc.cats`` the labels whose score is at least 0.5. ``doc.user_data`` keys ``nlpipe_split`` and ``nlpipe_id``
(what the writer stores) give the split and id. A DocBin has no lines: errors name the Doc's 1-based number
as the line.

Writing: the text is tokenised by spaCy's blank English tokenizer, with tokens also split where a span
starts or ends inside one, so every span becomes an entity and the text stays identical. ``doc.cats`` holds
every label of the export (1.0 for the document's labels, 0.0 for the others), as spaCy's text classifier
expects. Entities cannot overlap: of overlapping spans the longest is written. Documents are written with
``store_user_data`` so the split and id come back.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from nlpipe.config import Settings
from nlpipe.errors import LimitError
from nlpipe.label.formats.common import longest_first, temp_name
from nlpipe.readers.archives.guards import RATIO_FLOOR
from nlpipe.readers.fields import check_text, parse_split
from nlpipe.readers.textfile import fail
from nlpipe.types import Record, Span

__all__ = ["read_docbin", "write_docbin"]

MAX_RATIO: float = Settings.model_fields["max_compression_ratio"].default  # the archives' bomb guard
_PIECE = 1024 * 1024  # bytes inflated at a time by the bomb check
_SPLIT_KEY = "nlpipe_split"
_ID_KEY = "nlpipe_id"


def _check_unpacked_size(data: bytes, path: Path, max_ratio: float) -> None:
    """E237 when the zlib stream of a DocBin inflates to more than ``max_ratio`` times its size (past
    ``RATIO_FLOOR``): checked by inflating it in bounded pieces that are thrown away, before spaCy inflates
    it whole. A stream zlib cannot read is left to spaCy (E121)."""
    limit = max(RATIO_FLOOR, int(max_ratio * len(data)))
    inflater = zlib.decompressobj()
    unpacked, pending = 0, data
    try:
        while pending and unpacked <= limit:
            unpacked += len(inflater.decompress(pending, _PIECE))
            pending = inflater.unconsumed_tail
    except zlib.error:
        return
    if unpacked > limit:
        raise fail(
            "E237",
            f"the DocBin inflates to more than {limit:,} bytes, over {max_ratio:g} times its {len(data):,} bytes "
            "(a compression bomb); it was not read -- write it again with DocBin(...).to_disk",
            file=path,
            kind=LimitError,
        )


def read_docbin(path: Path, *, max_bytes: int, max_ratio: float = MAX_RATIO, **_: object) -> Iterator[Record]:
    """Records of a ``.spacy`` file. E121: not a DocBin; E122: a Doc whose categories or data are malformed;
    E237: the file inflates to more than ``max_ratio`` times its size (the archives' ``max_compression_ratio``)."""
    from spacy.tokens import DocBin
    from spacy.vocab import Vocab

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise fail("E100", f"cannot read the file ({exc.strerror or exc})", file=path) from None
    _check_unpacked_size(data, path, max_ratio)
    try:
        db = DocBin().from_bytes(data)
        # DocBin decodes each Doc's user_data with srsly, which looks up its msgpack plugins (entry points) on
        # every call: milliseconds per Doc. Decode them here with one unpacker instead (same bytes, same result
        # for the plain values nlpipe stores).
        blobs, db.user_data = list(db.user_data), []
        docs = list(db.get_docs(Vocab()))
        user_data = [_unpack(b) if b is not None else {} for b in blobs]
    except Exception as exc:  # DocBin raises ValueError, zlib and msgpack errors, KeyError for damaged data
        raise fail(
            "E121",
            f"not a readable spaCy DocBin ({type(exc).__name__}); write it with DocBin(...).to_disk('x.spacy'), "
            "or pass the right --format",
            file=path,
        ) from None
    for i, doc in enumerate(docs, 1):
        text = check_text(doc.text, max_bytes, file=path, line=i)
        labels: list[str] = []
        for label, score in doc.cats.items():
            if isinstance(score, bool) or not isinstance(score, int | float):
                raise fail("E122", f"category {label!r} has score {score!r}; scores are numbers 0-1",
                           file=path, line=i, field="cats")  # fmt: skip
            if score >= 0.5:
                labels.append(str(label))
        user: dict[Any, Any] = user_data[i - 1] if i <= len(user_data) else {}
        ext = user.get(_ID_KEY)
        yield Record(
            text=text,
            labels=labels,
            split=parse_split(user.get(_SPLIT_KEY), file=path, line=i, field=_SPLIT_KEY),
            external_id=str(ext) if ext is not None else None,
            file=str(path),
            line=i,
            spans=[Span(e.start_char, e.end_char, e.label_) for e in doc.ents],
        )


def _unpack(blob: bytes) -> dict[Any, Any]:
    from srsly.msgpack._unpacker import unpackb

    value = unpackb(blob, raw=False, use_list=False)
    return value if isinstance(value, dict) else {}


def _aligned_doc(nlp: Any, text: str, spans: list[Span]) -> Any:
    """``nlp.make_doc(text)`` with tokens split wherever a span boundary falls inside one."""
    from spacy.tokens import Doc

    doc = nlp.make_doc(text)
    cuts = {s.start for s in spans} | {s.end for s in spans}
    starts = {t.idx for t in doc} | {len(text)}
    if cuts <= starts | {t.idx + len(t) for t in doc}:
        return doc
    words: list[str] = []
    spaces: list[bool] = []
    for tok in doc:
        a, b = tok.idx, tok.idx + len(tok)
        pieces = [a, *sorted(c for c in cuts if a < c < b), b]
        for x, y in zip(pieces, pieces[1:], strict=False):
            words.append(text[x:y])
            spaces.append(False)
        spaces[-1] = bool(tok.whitespace_)
    return Doc(nlp.vocab, words=words, spaces=spaces)


def write_docbin(records: Iterable[Record], out: Path) -> int:
    """Write records to a ``.spacy`` file; returns how many were written."""
    import spacy
    from spacy.tokens import DocBin
    from srsly.msgpack import Packer

    nlp = spacy.blank("en")
    records = list(records)
    all_labels = sorted({lab for rec in records for lab in rec.labels})
    db = DocBin(store_user_data=False)  # user data packed below with one packer (see read_docbin)
    packer = Packer(use_bin_type=True)
    user_data: list[bytes | None] = []  # DocBin.user_data holds None for a Doc without any
    for n, rec in enumerate(records, 1):
        spans = longest_first(rec.spans)
        doc = _aligned_doc(nlp, rec.text, spans)
        ents = []
        for sp in spans:
            ent = doc.char_span(sp.start, sp.end, label=sp.label)
            if ent is None:  # only whitespace inside, or offsets outside the text
                raise fail("E115", f"record {n}: span ({sp.start}, {sp.end}, {sp.label!r}) does not cover a token",
                           file=out)  # fmt: skip
            ents.append(ent)
        doc.ents = ents
        doc.cats = {lab: 1.0 if lab in rec.labels else 0.0 for lab in all_labels}
        user: dict[str, str] = {}
        if rec.split:
            user[_SPLIT_KEY] = rec.split
        if rec.external_id is not None:
            user[_ID_KEY] = rec.external_id
        db.add(doc)
        user_data.append(packer.pack(user))
    db.store_user_data, db.user_data = True, user_data
    tmp = temp_name(out)
    try:
        db.to_disk(tmp)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(records)
