"""The OpenAPI document with the error responses each operation can give, all in the one error shape.

FastAPI documents only 200 and its own 422 shape; this adds, per operation: 401 where an API key is checked,
403 where an annotator is named, 404 where the path names something, 400/413 where there is a body, 422 (our
shape) where there is any input, 500 everywhere, and a ``default`` in the error shape for anything else. An
error status a route declares itself (``responses={409: {"description": ...}}``) keeps its description, which
names the route's own codes, and gets the error shape too.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.schemas import ErrorOut

ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
DESCRIPTIONS = {
    "400": "E600: the body cannot be parsed (e.g. multipart without a boundary).",
    "401": "E601: no valid API key in X-API-Key (or, before any key exists, a route that writes); E631: the key's "
    "annotator differs from X-Annotator.",
    "403": "E640: the key lacks the scope the route needs (listed in its security entry); E641: a job made by "
    "another key, without the admin scope; E650: a plain key names an annotator who has a key of their own.",
    "404": "Not found: the dataset, model, version, document, annotation, review or job (E203, E403, E404, E230, "
    "E240, E244, E247, ...).",
    "413": "E605: the body is over NLPIPE_MAX_REQUEST_BYTES; E607: more texts than NLPIPE_MAX_BATCH_TEXTS.",
    "422": "E606: the request fails validation (a field missing, of the wrong type or out of range); input the "
    "library refuses keeps its own code (E201 dataset name, E401 model name, E241 annotator, ...).",
    "500": "E699: an internal error (details.request_id names it in the server log); a damaged model or a server "
    "setting (E0xx, E4xx).",
    "default": "Any other error, in the same shape.",
}
METHODS = ("get", "put", "post", "delete", "patch")


def error_statuses(path: str, op: dict[str, Any]) -> list[str]:
    """The error statuses an operation can answer with, besides 500 and the default, read from the operation:
    a ``security`` entry is the X-API-Key check, an X-Annotator header names an annotator, a ``{...}`` in the
    path names something that may not exist, a request body may be unparsable or too large."""
    statuses: set[str] = set()
    params = op.get("parameters", [])
    if op.get("security"):
        statuses.update(("401", "403"))
    if any(p["in"] == "header" and p["name"].lower() == "x-annotator" for p in params):
        statuses.update(("401", "403"))
    if "{" in path:
        statuses.add("404")
    if "requestBody" in op:
        statuses.update(("400", "413"))
    if params or "requestBody" in op:
        statuses.add("422")
    return sorted(statuses)


def add_error_responses(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with every operation's error responses, and the ErrorOut schema in its components."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorOut"] = error_schema
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method not in METHODS:
                continue
            declared = {
                status: str(response.get("description") or "")
                for status, response in op["responses"].items()
                if status.isdigit() and int(status) >= 400
            }
            for status in sorted({*error_statuses(path, op), *declared}) + ["500", "default"]:
                op["responses"][status] = {
                    "description": declared.get(status) or DESCRIPTIONS.get(status, "An error, in the one shape."),
                    "content": {"application/json": {"schema": ERROR_REF}},
                }
    if "HTTPValidationError" not in str(doc["paths"]):  # FastAPI's own 422 shape, now replaced everywhere
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return doc


def install(app: FastAPI) -> None:
    """Serve the document with the error responses (built once, on first request, from the app's routes)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = add_error_responses(doc)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
