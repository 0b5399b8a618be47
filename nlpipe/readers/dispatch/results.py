"""What an ingest run yields besides documents -- failures and skipped files -- and the state of one run (its
settings, options and progress count) that every step of the dispatch shares.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nlpipe.config import Settings
from nlpipe.errors import NlpipeError
from nlpipe.readers.archives.guards import ArchiveLimits
from nlpipe.types import Document

__all__ = ["IngestFailure", "IngestResult", "IngestSkipped", "Progress", "Run"]

Progress = Callable[[str, int, int | None], None]


@dataclass
class IngestFailure:
    """A file or archive member that could not be read: its source, error code and message."""

    source: str
    code: str
    message: str


@dataclass
class IngestSkipped(IngestFailure):
    """A file left out on purpose (link, unsafe path, hidden file, OCR off): a warning, not an error."""


@dataclass
class IngestResult:
    documents: list[Document] = field(default_factory=list)
    failures: list[IngestFailure] = field(default_factory=list)
    skipped: list[IngestFailure] = field(default_factory=list)

    def add(self, item: Document | IngestFailure) -> None:
        if isinstance(item, IngestSkipped):
            self.skipped.append(item)
        elif isinstance(item, IngestFailure):
            self.failures.append(item)
        else:
            self.documents.append(item)


@dataclass
class Run:
    settings: Settings
    password: str | None
    ocr: str
    max_depth: int
    progress: Progress | None
    total: int | None = None
    done: int = 0

    @property
    def limits(self) -> ArchiveLimits:
        return ArchiveLimits.from_settings(self.settings)

    def tick(self, source: str) -> None:
        self.done += 1
        if self.progress is not None:
            total = self.total if self.total is not None and self.done <= self.total else None
            self.progress(source, self.done, total)

    def failure(self, source: str, error: NlpipeError, *, skipped: bool = False) -> IngestFailure:
        self.tick(source)
        cls = IngestSkipped if skipped else IngestFailure
        return cls(source=source, code=error.code, message=error.message)
