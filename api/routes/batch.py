"""``POST /v1/batch``: a batch prediction job over an uploaded file or archive, or a file or folder on the server.

The answer is 202 with ``{"job": {...}}`` and ``Location: /v1/jobs/{id}``; the job runs in a worker process of
its own (:mod:`api.batch_workers`, :mod:`nlpipe.batch.job_worker`), its progress and summary are read with
``GET /v1/jobs/{id}``, its results with ``GET /v1/jobs/{id}/results``, and ``DELETE /v1/jobs/{id}`` cancels it.
Everything the job would only fail on later is checked first, and refused before any job exists: the models
(404 E403/E404), the format and options, the server-side path (403 E870/E871, 422 E872), the input (E874, E875).
"""

from __future__ import annotations

import functools
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.batch_form import BatchBody, read_form, read_json
from api.batch_workers import BatchWorkers
from api.deps import PredictAuth, SettingsDep, StoreDep
from api.routes.jobs import job_location
from api.schemas import BatchIn
from nlpipe.batch.jobs import BatchSpec, create_batch_job, make_folder
from nlpipe.batch.units import SourceOptions
from nlpipe.errors import InputError

router = APIRouter(prefix="/v1/batch", tags=["batch"])


async def get_workers(request: Request) -> BatchWorkers:
    return request.app.state.batch


WorkersDep = Annotated[BatchWorkers, Depends(get_workers)]

_FIELDS = BatchIn.model_json_schema()
_LISTS = " (a list: repeat the field, or separate the values by commas)"


def _form_schema() -> dict[str, Any]:
    """The multipart form: a `file` part (or several) and :class:`~api.schemas.BatchIn`'s fields as text."""
    fields = {name: dict(schema) for name, schema in _FIELDS["properties"].items()}
    for name in ("models", "text_cols"):
        fields[name]["description"] = fields[name].get("description", "") + _LISTS
    upload = {
        "type": "array",
        "items": {"type": "string", "format": "binary"},
        "description": "The input: one or more files or archives (zip, tar, tgz, mbox, WARC, CSV, JSONL, PDF, ...), "
        "streamed to disk, at most NLPIPE_MAX_BATCH_UPLOAD_BYTES in all. Documents' ids start with the file's name "
        "(news.zip!a/b.txt). Give this or `path`.",
    }
    return {"type": "object", "properties": {"file": upload, **fields}, "required": ["models"]}


REQUEST_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": _form_schema()}, "application/json": {"schema": _FIELDS}},
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": 'The job, pending, as `{"job": {...}}`; poll its Location (/v1/jobs/{id}).'},
    403: {
        "description": "E870: server-side paths are disabled (NLPIPE_BATCH_ROOT is not set); E871: the path "
        "resolves outside NLPIPE_BATCH_ROOT (through '..' or a symlink)."
    },
    404: {"description": "E403/E404: a model or version that does not exist (no job is created)."},
    413: {"description": "E873: the upload is over NLPIPE_MAX_BATCH_UPLOAD_BYTES."},
    422: {
        "description": "E606: a field missing, of the wrong type or out of range; E872: no such path under "
        "NLPIPE_BATCH_ROOT; E874: neither a file nor a path, or both; E875: an unusable or repeated file name; "
        "E876: a body that is not a multipart form or JSON object; E840, E823, E196, E801, E802: models and "
        "options the run would refuse."
    },
}


def _fields(values: dict[str, Any]) -> BatchIn:
    try:
        return BatchIn.model_validate(values)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None


def _spec(fields: BatchIn) -> BatchSpec:
    options = SourceOptions(split_on=fields.split_on, text_cols=tuple(fields.text_cols), id_col=fields.id_col,
                            no_header=fields.no_header, ocr=fields.ocr)  # fmt: skip
    return BatchSpec(tuple(fields.models), fields.format, options, fields.top_k)


async def _read(request: Request, body_folder: Any, max_bytes: int) -> tuple[BatchBody, dict[str, Any]]:
    """The body's files (written to ``body_folder``) and fields, by its content type."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        body = await read_form(request, body_folder, max_bytes)
        return body, body.values()
    if kind == "application/json" or kind.endswith("+json"):
        return BatchBody(), await read_json(request)
    raise InputError("E876", f"POST /v1/batch takes multipart/form-data (to upload the input) or application/json "
                     f"(to name a server-side path), not {kind or 'a body without a content type'!r}.",
                     field="content-type")  # fmt: skip


@router.post(
    "", status_code=202, name="create_batch_job", openapi_extra={"requestBody": REQUEST_BODY}, responses=RESPONSES
)
async def create(
    request: Request,
    response: Response,
    store: StoreDep,
    settings: SettingsDep,
    workers: WorkersDep,
    auth: PredictAuth,
) -> dict[str, Any]:
    """Predict every document of the input with every model, in a job: the results are one file (JSON Lines, CSV
    or Parquet), one row per document in input order, as ``nlpipe batch predict`` writes it.

    The input is an uploaded file or archive (multipart/form-data, field `file`), streamed to the job's folder
    under NLPIPE_HOME, or a `path` on the server under NLPIPE_BATCH_ROOT (multipart or JSON). The models are
    checked, and pinned to the versions they name now, before the job is created. The job survives a restart of
    the server: it continues from its checkpoint.
    """
    folder = await anyio.to_thread.run_sync(make_folder, settings)
    try:
        body, values = await _read(request, folder.inputs, settings.max_batch_upload_bytes)
        fields = _fields(values)
        if (fields.path is None) == (not body.files):
            raise InputError("E874", "Give the input either as an uploaded `file` (multipart/form-data) or as a "
                             "server-side `path`, not both." if body.files else "Give the input: upload it as `file` "
                             "(multipart/form-data) or name a server-side `path` under NLPIPE_BATCH_ROOT.",
                             field="file")  # fmt: skip
        create = functools.partial(create_batch_job, store, settings, _spec(fields), folder, uploads=body.files,
                                   path=fields.path, owner=auth.name if auth is not None else None)  # fmt: skip
        job = await anyio.to_thread.run_sync(create)
    except BaseException:
        folder.remove()  # on the loop: awaiting here could be cancelled too
        raise
    folder.release()
    await anyio.to_thread.run_sync(workers.submit, job["id"])
    response.headers["Location"] = job_location(job["id"])
    return {"job": job}
