"""One JSON error shape for every error: ``{"error": {"code", "message", "details", "request_id"}}``.

Library errors keep their own code; HTTP-level errors get codes in E6xx. Statuses are decided here only.
Bodies carry no server paths or object reprs (:mod:`api.redact`); an unexpected error's body says only E699 and
a request id, under which the server log has the traceback.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.redact import redact, redact_value, server_roots
from nlpipe.errors import (
    ArtifactError,
    AuthError,
    ConfigError,
    ConflictError,
    ForbiddenError,
    InputError,
    LimitError,
    NlpipeError,
    NotFoundError,
    TrainingError,
)
from nlpipe.logs import REQUEST_ID

log = logging.getLogger("nlpipe.api")

STATUS: list[tuple[type[NlpipeError], int]] = [
    (NotFoundError, 404),
    (AuthError, 401),
    (ForbiddenError, 403),
    (LimitError, 413),
    (ConflictError, 409),
    (InputError, 422),
    (TrainingError, 422),
    (ArtifactError, 500),
    (ConfigError, 500),
]
# E600 is what the fallback below already gave a 400 (a body FastAPI cannot parse, e.g. multipart without a
# boundary); written out so the error catalogue (nlpipe/error_codes.py) can see it.
HTTP_CODES = {400: "E600", 401: "E601", 403: "E602", 404: "E603", 405: "E604", 413: "E605", 422: "E606"}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The one error shape, with the request's id (``request_id``, as in the X-Request-ID header and the log)."""
    return {"error": {"code": code, "message": message, "details": details or {}, "request_id": REQUEST_ID.get()}}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def status_of(exc: NlpipeError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 400


async def _nlpipe_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NlpipeError)
    headers = {"WWW-Authenticate": "ApiKey"} if isinstance(exc, AuthError) else None
    status = status_of(exc)
    if status >= 500:  # a server-side problem (a damaged model, a setting): the log keeps the full message
        log.error("%s %s: %s", request.method, request.url.path, exc)
    roots = server_roots(getattr(request.app.state, "settings", None))
    return error_response(status, exc.code, redact(exc.message, roots), redact_value(exc.details, roots), headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"], "type": e["type"]}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"field": "", "message": "invalid request"}
    return error_response(
        422, "E606", f"Invalid request: {first['field'] or 'body'}: {first['message']}", {"errors": errors}
    )


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = HTTP_CODES.get(exc.status_code, f"E6{exc.status_code % 100:02d}")
    return error_response(exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    request_id = REQUEST_ID.get() or uuid.uuid4().hex  # outside the Observe middleware: its header is set here
    REQUEST_ID.set(request_id)
    log.error("unhandled error, request id %s: %s %s", request_id, request.method, request.url.path, exc_info=exc)
    return error_response(
        500,
        "E699",
        f"Internal error; the server log has the details under request id {request_id}.",
        {"request_id": request_id},
        headers={"X-Request-ID": request_id},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(NlpipeError, _nlpipe_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
