"""Every error nlpipe raises on purpose.

Each error carries a stable ``code`` (``E###``) and a message that says what went wrong and how to fix it.
The CLI prints ``str(error)`` on stderr and exits 1; the API turns the error's *kind* (its class) into an
HTTP status and returns ``{"error": {"code", "message", "details"}}``. Library code never imports the CLI or
API layers, so the mapping to exit codes and statuses lives there.

Every code is defined once, with its class and meaning, in :mod:`nlpipe.error_codes` (the README's "Error
codes" table is generated from it, and ``tests/test_error_codes.py`` checks both against the raise sites).
Codes are grouped by hundreds:

- E0xx settings and the database
- E1xx input files: import formats (E100-E131), PDF and OCR (E150-E167), documents and archives (E175-E198)
- E2xx the store: datasets and documents (E201-E207), jobs (E230-E235), annotations and reviews (E240-E248)
- E3xx training: the classifier (E301-E306, E320-E326, E340-E342 its prediction checks), data checks and
  options (E310-E315), sentiment (E350-E364), entities (E370-E376), layout (E390-E395)
- E4xx model artifacts and prediction: models (E401-E417), sentiment (E420-E425), entities (E430-E433),
  layout (E440-E443), model files, aliases and the models table (E450-E461)
- E5xx evaluation: metrics (E501-E509), reports (E520-E522), runs (E530-E543), layout fields (E570-E576)
- E6xx the HTTP API: HTTP statuses (E600-E606; E601 is also the AuthError of a missing or bad API key),
  request limits, uploads and annotators (E607-E631), annotator permissions (E650), internal errors (E699)
- E7xx labeling: rules files (E700-E713), the labeling queue (E720-E724)
- W3xx training warnings (``nlpipe.train.Check`` of level ``warning``): they are reported, never raised
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
    "ForbiddenError",
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


class ForbiddenError(NlpipeError):
    """The caller is known (a valid API key) but may not do this (act as another key's annotator)."""


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
