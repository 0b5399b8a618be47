"""The vocabulary every stage shares: documents, spans, labeled records and predictions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

Source = Literal["human", "rule", "model", "import"]
SOURCES: tuple[str, ...] = ("human", "rule", "model", "import")
SPLITS: tuple[str, ...] = ("train", "validation", "test")
#: What a dataset or model name may be (it becomes a folder name and part of URLs): 1-100 letters, digits, "_",
#: "." or "-", starting with a letter or digit. Anchored with \A and \Z (not ^ and $, which let a final newline
#: through) so ``match`` and ``fullmatch`` both check the whole name.
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}"
NAME_RE = re.compile(rf"\A{NAME_PATTERN}\Z")
NAME_MAX = 100


@dataclass(frozen=True)
class Word:
    """One word on a page with its box in PDF points (origin top-left; y grows downwards).

    ``size`` is the font size (text layer) or the box height (OCR); ``conf`` is Tesseract's confidence 0-100
    for OCR words and None for text-layer words.
    """

    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    size: float | None = None
    conf: float | None = None


@dataclass
class Page:
    """One page: ``number`` is 1-based; ``ocr`` says the text came from Tesseract, not the text layer."""

    number: int
    text: str
    width: float | None = None
    height: float | None = None
    words: list[Word] = field(default_factory=list)
    ocr: bool = False


@dataclass
class Document:
    text: str
    source: str | None = None
    mime: str = "text/plain"
    pages: list[Page] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class Span:
    """Characters ``start:end`` of a document's text (end exclusive) with a label.

    Predicted spans may also carry their ``text``, and for documents with word boxes the 1-based ``page`` and
    the ``bbox`` (x0, top, x1, bottom in PDF points, origin top-left) of their words.
    """

    start: int
    end: int
    label: str
    source: str = "human"
    score: float | None = None
    text: str | None = None
    page: int | None = None
    bbox: tuple[float, float, float, float] | None = None


@dataclass
class Record:
    """One labeled example read from an import file, before it reaches the store.

    ``line`` is the 1-based line (or row) in ``file`` it came from, so later checks can name it.
    ``document`` carries what an ingested file adds to the text (source, mime, pages with word boxes, the
    SHA-256 of the stored original in ``meta["original_sha256"]``). ``spans`` are entity annotations as
    character offsets into ``text`` (end exclusive); a span's ``source`` is ignored on import (the import's
    own source applies).
    """

    text: str
    labels: list[str]
    split: str | None = None
    external_id: str | None = None
    file: str | None = None
    line: int | None = None
    document: Document | None = None
    spans: list[Span] = field(default_factory=list)


@dataclass
class LabelScore:
    label: str
    score: float
    terms: list[tuple[str, float]] | None = None


@dataclass
class Prediction:
    """What a model says about one text.

    ``labels`` are sorted by score, highest first; ``predicted`` names the labels that pass the decision
    rule (argmax for single-label, per-label thresholds for multi-label).
    """

    labels: list[LabelScore]
    predicted: list[str]
    spans: list[Span] = field(default_factory=list)
    sentiment: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "predicted": self.predicted,
            "labels": [
                {"label": ls.label, "score": round(ls.score, 6)}
                | ({"terms": [{"term": t, "weight": round(w, 6)} for t, w in ls.terms]} if ls.terms is not None else {})
                for ls in self.labels
            ],
        }
        if self.spans:
            optional = ("text", "page", "bbox")  # left out when unknown
            out["spans"] = [{k: v for k, v in s.__dict__.items() if v is not None or k not in optional}
                            for s in self.spans]  # fmt: skip
        if self.sentiment is not None:
            out["sentiment"] = self.sentiment
        return out
