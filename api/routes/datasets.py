"""Datasets: list, stats, and document uploads (files or archives), synchronous or as a job."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, File, Form, Query, Response, UploadFile

from api.deps import IngestAuth, ReadAuth, SettingsDep, StoreDep
from api.limits import GateDep
from api.params import DatasetName
from api.routes.jobs import job_location
from nlpipe.errors import InputError
from nlpipe.ingest import ingest_uploads
from nlpipe.store.datasets import check_name, list_datasets
from nlpipe.store.stats import dataset_stats
from nlpipe.upload_jobs import stage_upload_job

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


@router.get("")
def list_all(store: StoreDep, _auth: ReadAuth) -> list[dict[str, Any]]:
    with store.session() as s:
        return list_datasets(s)


@router.get("/{name}")
def stats(name: DatasetName, store: StoreDep, _auth: ReadAuth) -> dict[str, Any]:
    with store.session() as s:
        return dataset_stats(s, name)


@router.post(
    "/{name}/documents",
    responses={202: {"description": "wait=false: the upload is stored and read by a job; poll its Location."}},
)
async def upload(
    name: DatasetName,
    store: StoreDep,
    response: Response,
    background: BackgroundTasks,
    settings: SettingsDep,
    auth: IngestAuth,
    gate: GateDep,
    files: Annotated[list[UploadFile], File(description="Documents or archives (.zip, .tar, .tar.gz).")],
    ocr: Annotated[str | None, Form(description="auto, always or never.")] = None,
    password: Annotated[str | None, Form(description="Password of encrypted PDFs or zip members.")] = None,
    wait: Annotated[
        bool,
        Query(description="true: read the files now and return the result; false: return 202 and a job at once."),
    ] = True,
) -> dict[str, Any]:
    """Store the documents in the uploaded files; the result lists each file's documents and failures.

    With ``wait=false`` the files are kept in the job's folder ``NLPIPE_HOME/uploads/job-<id>`` and read by a
    background job: the answer is 202 with ``{"job": {...}}`` and a ``Location`` header (``/v1/jobs/{id}``) to
    poll; the job's ``result`` is this endpoint's synchronous answer. ``done`` counts the files and archive
    members read so far (stored, failed or skipped); ``total`` is the number of uploaded files when none is an
    archive, else null until the job ends, when it equals ``done``. A job whose server stops before it ends is
    failed with E235 when the server starts again. The job is :func:`nlpipe.upload_jobs.stage_upload_job`'s.
    """
    check_name(name)
    for i, f in enumerate(files):
        if not f.filename:
            raise InputError("E608", f"Uploaded file {i} has no file name.", field=f"files[{i}]")
    if not wait:
        uploaded = [(f.filename or "", f.file) for f in files]
        owner = auth.name if auth is not None else None
        staged = stage_upload_job(store, settings, name, uploaded, password=password, ocr=ocr, owner=owner)
        background.add_task(staged.run)
        response.status_code = 202
        response.headers["Location"] = job_location(staged.job["id"])
        return {"job": staged.job}

    def work() -> dict[str, Any]:  # in a worker thread (api.limits.WorkGate): the event loop stays free
        uploads = [(f.filename or "", f.file.read()) for f in files]
        return ingest_uploads(store, settings, name, uploads, password=password, ocr=ocr).to_dict()

    return await gate.run(work, ", ".join(f.filename or "" for f in files)[:200])
