"""Jobs: the state of long-running work started by other endpoints (``POST /v1/datasets/{name}/documents?wait=false``).

``GET /v1/jobs/{id}`` returns ``{"job": {"id", "kind", "status", "total", "done", "params", "result", "error",
"created_at", "updated_at"}}``: ``status`` is ``pending``, ``running``, ``succeeded`` or ``failed``; ``result`` is
what the synchronous endpoint would have returned; ``error`` has the API's error shape. An unknown id is a 404
with code E230.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from api.deps import StoreDep
from api.params import row_id
from nlpipe.store.jobs import get_job

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


def job_location(job_id: int) -> str:
    """The path a client polls for a job (the ``Location`` of a 202 response)."""
    return f"{router.prefix}/{job_id}"


@router.get("/{job_id}", name="get_job")
def show(job_id: Annotated[int, row_id("job")], store: StoreDep) -> dict[str, Any]:
    """A job's status and progress counts; its result once it has succeeded, its error once it has failed."""
    return {"job": get_job(store, job_id)}
