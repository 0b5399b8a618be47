"""The work budget of one call: a deadline, a cancel flag and a cap on OCR'd pages, checked between steps.

The API runs each heavy request (``:predict``, ``:predictFile``, an upload with ``wait=true``) in a worker thread
under a :class:`WorkBudget` made from its settings (``NLPIPE_REQUEST_TIMEOUT``, ``NLPIPE_MAX_OCR_PAGES``). The
code doing the work calls :func:`checkpoint` between steps -- between OCR pages, documents of an archive,
batches of predictions -- and :func:`charge_ocr` before it OCRs pages. With no budget active (the CLI, the
Python API) both do nothing, so only the API's requests are bounded.

A thread cannot be stopped from outside; the budget is how its work stops itself: once the deadline has passed
(or :meth:`WorkBudget.cancel` was called), the next checkpoint raises E611 (:class:`WorkTimeout`). Past the
OCR page cap, :func:`charge_ocr` raises E612 naming the file.

The active budget is a context variable: set it with :func:`active_budget` in the thread that does the work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from nlpipe.errors import LimitError, NlpipeError

__all__ = [
    "BUDGET_ERRORS",
    "OcrPageCapError",
    "WorkBudget",
    "WorkTimeout",
    "active_budget",
    "charge_ocr",
    "checkpoint",
    "current_budget",
]


class WorkTimeout(NlpipeError):
    """A request's work ran past its deadline (``NLPIPE_REQUEST_TIMEOUT``) and was stopped (HTTP 504)."""


class OcrPageCapError(LimitError):
    """A request would OCR more pages than ``NLPIPE_MAX_OCR_PAGES`` (HTTP 413)."""


#: The errors that stop a whole call, not only the file being read: readers let them through.
BUDGET_ERRORS = (WorkTimeout, OcrPageCapError)


@dataclass
class WorkBudget:
    """``timeout`` seconds from creation (None: no deadline) and at most ``max_ocr_pages`` OCR'd pages (None: no
    cap) for one call; ``ocr_pages`` counts the pages charged so far."""

    timeout: float | None = None
    max_ocr_pages: int | None = None
    ocr_pages: int = 0
    started: float = field(default_factory=time.monotonic)
    _cancelled: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def remaining(self) -> float | None:
        """Seconds left before the deadline (negative once it has passed), or None without one."""
        return None if self.timeout is None else self.started + self.timeout - time.monotonic()

    def cancel(self) -> None:
        """Stop the work at its next checkpoint (E611), e.g. when the client went away."""
        self._cancelled.set()

    @property
    def expired(self) -> bool:
        remaining = self.remaining
        return self._cancelled.is_set() or (remaining is not None and remaining <= 0)

    def check(self, where: str | None = None) -> None:
        """E611 once the deadline has passed or the work was cancelled; ``where`` names what was being done."""
        if self.expired:
            during = f" while reading {where}" if where else ""
            limit = f"the {self.timeout:g}-second limit (NLPIPE_REQUEST_TIMEOUT)" if self.timeout else "its limit"
            raise WorkTimeout(
                "E611",
                f"The request was stopped{during}: it ran past {limit}. Send smaller files or fewer texts, or use "
                "an upload job (wait=false) for long work.",
                file=where,
                timeout=self.timeout,
            )

    def charge(self, pages: int, source: str) -> None:
        """Count ``pages`` about to be OCR'd for ``source``; E612 when that passes the cap (nothing is counted)."""
        if self.max_ocr_pages is not None and self.ocr_pages + pages > self.max_ocr_pages:
            before = f" after {self.ocr_pages:,} already OCR'd in this request" if self.ocr_pages else ""
            raise OcrPageCapError(
                "E612",
                f"{source}: {pages:,} pages to OCR{before}, more than the {self.max_ocr_pages:,}-page limit of one "
                "request (NLPIPE_MAX_OCR_PAGES); split the file, send ocr=never for its text layer only, or upload "
                "it as a job (wait=false)",
                file=source,
                max_ocr_pages=self.max_ocr_pages,
            )
        self.ocr_pages += pages


_CURRENT: ContextVar[WorkBudget | None] = ContextVar("nlpipe_work_budget", default=None)


def current_budget() -> WorkBudget | None:
    """The budget of the work running in this thread (or context), if any."""
    return _CURRENT.get()


@contextmanager
def active_budget(budget: WorkBudget | None) -> Iterator[WorkBudget | None]:
    """Make ``budget`` the one :func:`checkpoint` and :func:`charge_ocr` check, for the ``with`` block."""
    token = _CURRENT.set(budget)
    try:
        yield budget
    finally:
        _CURRENT.reset(token)


def checkpoint(where: str | None = None) -> None:
    """E611 when the active budget's deadline has passed or it was cancelled; nothing without a budget."""
    budget = _CURRENT.get()
    if budget is not None:
        budget.check(where)


def charge_ocr(pages: int, source: str) -> None:
    """Count ``pages`` of ``source`` about to be OCR'd against the active budget's cap (E612 past it), after a
    :func:`checkpoint`; nothing without a budget."""
    budget = _CURRENT.get()
    if budget is not None:
        budget.check(source)
        budget.charge(pages, source)
