"""The end summary of a batch run: rows, documents predicted, errors and skipped inputs by code, time and docs/s.

It is checkpointed with the run's progress (:meth:`Summary.to_dict`) and restored on resume
(:meth:`Summary.from_dict`), so the counts of a resumed run are those of one uninterrupted run. ``seconds`` is the
time spent predicting, summed over the run's sessions (the runner adds each session's time).

Error code: E826 a checkpointed summary that is not one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nlpipe.errors import InputError

__all__ = ["Summary"]


def _counts(value: Any) -> dict[str, int] | None:
    if not isinstance(value, dict):
        return None
    if not all(isinstance(k, str) and type(v) is int and v >= 0 for k, v in value.items()):
        return None
    return {k: value[k] for k in sorted(value)}


def _by_code(counts: Mapping[str, int]) -> str:
    """``E178 30, E176 2``: most frequent first, then by code."""
    return ", ".join(f"{code} {n:,}" for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


@dataclass
class Summary:
    """Counts of a batch run: ``rows`` written, ``ok`` of them documents with predictions, ``errors`` the error
    rows by code, ``skipped`` the inputs left out on purpose by code (never rows), ``seconds`` spent."""

    rows: int = 0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        """The error rows."""
        return sum(self.errors.values())

    @property
    def handled(self) -> int:
        """Documents done: rows written and inputs left out on purpose."""
        return self.rows + sum(self.skipped.values())

    @property
    def docs_per_second(self) -> float:
        """Rows per second of :attr:`seconds` (0 before any time is counted)."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def add(self, row: Mapping[str, Any]) -> None:
        """Count one row written to the output (a document's or an error's)."""
        error = row.get("error")
        self.count(None if error is None else str(error["code"]))

    def count(self, code: str | None, n: int = 1) -> None:
        """Count ``n`` rows written: documents' (``code`` None) or errors'."""
        self.rows += n
        if code is None:
            self.ok += n
        else:
            self.errors[code] = self.errors.get(code, 0) + n

    def skip(self, code: str, n: int = 1) -> None:
        """Count ``n`` inputs left out on purpose (a link, a hidden file, an image with OCR off: code ``code``)."""
        self.skipped[code] = self.skipped.get(code, 0) + n

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data, codes sorted (``docs_per_second`` is derived, and ignored on restore)."""
        return {
            "rows": self.rows,
            "ok": self.ok,
            "errors": {code: self.errors[code] for code in sorted(self.errors)},
            "skipped": {code: self.skipped[code] for code in sorted(self.skipped)},
            "seconds": round(self.seconds, 3),
            "docs_per_second": round(self.docs_per_second, 1),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Summary:
        """The summary :meth:`to_dict` gave (read back from a checkpoint); E826 when ``data`` is not one."""
        fields = data if isinstance(data, dict) else {}
        rows, ok, seconds = fields.get("rows"), fields.get("ok"), fields.get("seconds")
        errors, skipped = _counts(fields.get("errors")), _counts(fields.get("skipped"))
        whole = [type(rows) is int, type(ok) is int, isinstance(seconds, int | float) and not isinstance(seconds, bool)]
        if not all(whole) or errors is None or skipped is None:
            raise InputError("E826", "The batch checkpoint's summary is damaged (it needs integer rows and ok, "
                             "errors and skipped as {code: count}, and seconds); run the batch again with "
                             "--restart.", field="summary")  # fmt: skip
        assert isinstance(rows, int) and isinstance(ok, int) and isinstance(seconds, int | float)  # checked above
        if not 0 <= ok <= rows or ok + sum(errors.values()) != rows or seconds < 0:
            raise InputError("E826", f"The batch checkpoint's summary does not add up (rows {rows}, ok {ok}, errors "
                             f"{sum(errors.values())}, seconds {seconds}); run the batch again with --restart.",
                             field="summary")  # fmt: skip
        return cls(rows=rows, ok=ok, errors=errors, skipped=skipped, seconds=float(seconds))

    def lines(self) -> list[str]:
        """Short lines for the end of ``nlpipe batch predict`` (the CLI prints them on stderr)."""
        out = [f"{self.rows:,} document{'s' if self.rows != 1 else ''}: {self.ok:,} predicted, "
               f"{self.failed:,} error{'s' if self.failed != 1 else ''}"]  # fmt: skip
        if self.errors:
            out.append(f"errors by code: {_by_code(self.errors)}")
        if self.skipped:
            out.append(f"skipped: {sum(self.skipped.values()):,} ({_by_code(self.skipped)})")
        out.append(f"{self.seconds:,.1f} s, {self.docs_per_second:,.1f} docs/s")
        return out
