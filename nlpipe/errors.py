"""Every error nlpipe raises on purpose.

Each error carries a stable ``code`` (``E###``) and a message that says what went wrong and how to fix it.
The CLI prints ``str(error)`` on stderr and exits 1; the API turns the error's *kind* (its class) into an
HTTP status and returns ``{"error": {"code", "message", "details"}}``. Library code never imports the CLI or
API layers, so the mapping to exit codes and statuses lives there.

Codes are grouped by hundreds:

- E0xx configuration and parameters
- E1xx input files and import formats
- E2xx store (datasets, documents, annotations)
- E3xx training
- E4xx model artifacts and prediction
- E5xx evaluation
- E6xx API requests
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "NlpipeError",
    "ConfigError",
    "InputError",
    "NotFoundError",
    "ConflictError",
    "LimitError",
    "TrainingError",
    "ArtifactError",
    "AuthError",
]


class NlpipeError(Exception):
    """Root of every nlpipe error.

    Parameters
    ----------
    code:
        Stable error code such as ``"E101"``. Tests and API clients rely on it.
    message:
        What went wrong and how to fix it. Name the file, line or field where there is one.
    details:
        Machine-readable context (``file``, ``line``, ``field``, ...), returned by the API.
    """

    def __init__(self, code: str, message: str, **details: Any) -> None:
        self.code = code
        self.message = message
        self.details = {k: v for k, v in details.items() if v is not None}
        super().__init__(f"[{code}] {message}")

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ConfigError(NlpipeError):
    """A setting or parameter has a value nlpipe cannot use."""


class InputError(NlpipeError):
    """A file, row or request body is malformed."""


class NotFoundError(NlpipeError):
    """A named dataset, model or version does not exist."""


class ConflictError(NlpipeError):
    """The request clashes with what is already stored (a name that exists, ...)."""


class LimitError(NlpipeError):
    """Input exceeds a configured size limit."""


class TrainingError(NlpipeError):
    """Training cannot proceed with the data as it is."""


class ArtifactError(NlpipeError):
    """A model directory is missing, damaged, or was written by an incompatible version."""


class AuthError(NlpipeError):
    """A request lacks a valid API key."""


def location(file: object | None = None, line: int | None = None, field: str | None = None) -> str:
    """Format ``file line N field 'x'`` for the start of a message, skipping the parts that are missing."""
    parts = []
    if file is not None:
        parts.append(f"{file}")
    if line is not None:
        parts.append(f"line {line}")
    if field is not None:
        parts.append(f"field '{field}'")
    return ", ".join(parts)
