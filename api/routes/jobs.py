"""Jobs: the state of long-running work started by other endpoints (``POST /v1/batch``, uploads with
``?wait=false``), a batch job's results, and cancelling a batch job.

``GET /v1/jobs/{id}`` returns ``{"job": {"id", "kind", "status", "total", "done", "params", "result", "error",
"progress", "created_at", "updated_at"}}``: ``status`` is ``pending``, ``running``, ``succeeded``, ``failed`` or
``cancelled``; ``result`` is what the job produced (an upload: what the synchronous endpoint would have returned;
a batch job: its summary); ``error`` has the API's error shape; ``progress`` holds a running batch job's
``errors``, ``rows``, ``skipped`` and ``docs_per_second``. An unknown id is a 404 with code E230.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from api.deps import AnyKeyAuth, Principal, SettingsDep, StoreDep
from api.params import row_id
from api.redact import redact_value, server_roots
from nlpipe.batch.jobs import MEDIA_TYPES, cancel_batch_job, results_file
from nlpipe.errors import ForbiddenError
from nlpipe.store.jobs import get_job

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

JobId = Annotated[int, row_id("job")]


def job_location(job_id: int) -> str:
    """The path a client polls for a job (the ``Location`` of a 202 response)."""
    return f"{router.prefix}/{job_id}"


def _shown(request: Request, job: dict[str, Any]) -> dict[str, Any]:
    """A job as a client sees it: no server paths in its error."""
    if job.get("error"):
        job = {**job, "error": redact_value(job["error"], server_roots(request.app.state.settings))}
    return {"job": job}


def _owned(store: StoreDep, job_id: int, auth: Principal | None) -> dict[str, Any]:
    """The job, when ``auth`` may see it: the key that made it, a key with the admin scope, or anyone for a job no
    key made (the CLI's, or made before keys existed); E641 (403) otherwise."""
    job = get_job(store, job_id)
    owner = job.get("owner")
    if auth is not None and owner is not None and owner != auth.name and not auth.allows("admin"):
        raise ForbiddenError("E641", f"Job {job_id} was made by another API key; only that key, or a key with the "
                             "admin scope, may see or cancel it.")  # fmt: skip
    return job


@router.get("/{job_id}", name="get_job")
def show(job_id: JobId, store: StoreDep, request: Request, auth: AnyKeyAuth) -> dict[str, Any]:
    """A job's status and progress counts; its result once it has succeeded, its error once it has failed. Once
    keys exist: for the key that made it, or an admin key."""
    return _shown(request, _owned(store, job_id, auth))


@router.get(
    "/{job_id}/results",
    name="get_job_results",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The batch job's results file, streamed: JSON Lines, CSV or Parquet (the job's format).",
            "content": {media.split(";")[0]: {} for media in MEDIA_TYPES.values()},
        },
        404: {"description": "E230: no such job; E879: not a batch job, or its results are not on this server."},
        409: {"description": "E877: the job has not succeeded (yet); poll it until it has."},
    },
)
async def results(job_id: JobId, store: StoreDep, settings: SettingsDep, auth: AnyKeyAuth) -> FileResponse:
    """The results file of a succeeded batch job (``Content-Disposition: attachment; filename=job-<id>.<format>``).
    Once any API key exists: for the key that made the job, or an admin key."""
    await anyio.to_thread.run_sync(_owned, store, job_id, auth)
    path, fmt = await anyio.to_thread.run_sync(results_file, store, settings, job_id)
    return FileResponse(path, media_type=MEDIA_TYPES[fmt], filename=f"job-{job_id}.{fmt}")


@router.delete(
    "/{job_id}",
    name="cancel_job",
    responses={409: {"description": "E232: the job has already finished; E878: it is not a batch job."}},
)
def cancel(job_id: JobId, store: StoreDep, settings: SettingsDep, request: Request, auth: AnyKeyAuth) -> dict[str, Any]:
    """Cancel a pending or running batch job: it is ``cancelled`` at once, its worker stops after its current chunk
    and its files are removed. For the key that made it, or an admin key."""
    _owned(store, job_id, auth)
    return _shown(request, cancel_batch_job(store, settings, job_id))
