"""Path and query parameters the routes share: names and row ids, with the ranges the OpenAPI document shows.

Names are still checked by the library (E201 dataset, E401 model), so their codes stay; the pattern here only
documents them. Ids are checked here: the databases store signed 64-bit integers and cannot even compare a
larger one (OverflowError), so anything outside 1..2^63-1 is E606 (HTTP 422) before it reaches them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from starlette.convertors import StringConvertor, register_url_convertor

from nlpipe.errors import InputError
from nlpipe.types import NAME_MAX, NAME_PATTERN

#: The largest id a stored row can have (a signed 64-bit integer).
MAX_ID = 2**63 - 1
NAME_RULE = f"1-{NAME_MAX} letters, digits, '_', '.' or '-', starting with a letter or digit"


class ModelNameConvertor(StringConvertor):
    """``{name:model}`` in a route path: a path segment without ':', so ``/v1/models/x:predict`` is never the
    model-detail route of a model named ``x:predict`` (a GET or OPTIONS there is a 405 naming POST)."""

    regex = "[^/:]+"


register_url_convertor("model", ModelNameConvertor())


def name_path(what: str) -> Any:
    """A ``{name}`` path parameter: a dataset or model name (documented; the library checks it)."""
    return Path(
        description=f"The {what}'s name: {NAME_RULE}.",
        json_schema_extra={"pattern": f"^{NAME_PATTERN}$", "minLength": 1, "maxLength": NAME_MAX},
    )


def row_id(what: str) -> Any:
    """A path parameter that is the id of a stored row: an integer 1..2^63-1."""
    return Path(ge=1, le=MAX_ID, description=f"The {what}'s id (1 to 2^63-1).")


def seed_query() -> Any:
    """A ``seed`` query parameter: an integer 0..2^63-1."""
    return Query(ge=0, le=MAX_ID, description="Seed of the random order (default: NLPIPE_SEED).")


DatasetName = Annotated[str, name_path("dataset")]
ModelName = Annotated[str, name_path("model")]
#: A predict route's model: ``NAME``, or ``NAME@VERSION`` / ``NAME@ALIAS`` (``news@v3``, ``news@staging``).
ModelSpec = Annotated[
    str,
    Path(
        description=f"The model: its name ({NAME_RULE}), or NAME@VERSION or NAME@ALIAS for one version (else the "
        "body's `version`, else production, else the newest).",
        json_schema_extra={
            "pattern": f"^{NAME_PATTERN}(@{NAME_PATTERN})?$",
            "minLength": 1,
            "maxLength": 2 * NAME_MAX + 1,
        },
    ),  # fmt: skip
]


def model_spec(spec: str, version: str | None) -> tuple[str, str | None]:
    """``NAME[@VERSION]`` of a path, with the version the body or form gives: (name, version). E419 when both name
    a version and they differ."""
    name, at, pinned = spec.partition("@")
    if not at:
        return name, version
    if version is not None and version != pinned:
        raise InputError("E419", f"The path names version {pinned!r} of {name!r} and the request version {version!r}; "
                         "give one of them.", field="version")  # fmt: skip
    return name, pinned
