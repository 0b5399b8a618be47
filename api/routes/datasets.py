"""Datasets: list, stats, and document uploads (files or archives), synchronous or as a job."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, File, Form, Query, Request, Response, UploadFile

from api.deps import ApiKeyDep, SettingsDep
from api.routes.jobs import job_location
from nlpipe.config import Settings
from nlpipe.errors import ConfigError, InputError, NlpipeError
from nlpipe.ingest import SNIFF_BYTES, ingest_uploads, is_archive_upload
from nlpipe.store.datasets import check_name, dataset_stats, list_datasets
from nlpipe.store.jobs import JobProgress, create_job, finish_job, run_job
from nlpipe.store.staging import StagingFolder, create_staging

log = logging.getLogger("nlpipe.api")
router = APIRouter(prefix="/v1/datasets", tags=["datasets"])
OCR_MODES = ("auto", "always", "never")


def _store(request: Request) -> Any:
    return request.app.state.store


@router.get("")
def list_all(request: Request) -> list[dict[str, Any]]:
    with _store(request).session() as s:
        return list_datasets(s)


@router.get("/{name}")
def stats(name: str, request: Request) -> dict[str, Any]:
    with _store(request).session() as s:
        return dataset_stats(s, name)


@router.post(
    "/{name}/documents",
    responses={202: {"description": "wait=false: the upload is stored and read by a job; poll its Location."}},
)
async def upload(
    name: str,
    request: Request,
    response: Response,
    background: BackgroundTasks,
    settings: SettingsDep,
    _key: ApiKeyDep,
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
    failed with E235 when the server starts again.
    """
    check_name(name)
    for i, f in enumerate(files):
        if not f.filename:
            raise InputError("E608", f"Uploaded file {i} has no file name.", field=f"files[{i}]")
    if not wait:
        if ocr is not None and ocr not in OCR_MODES:  # checked now: the job would only fail with it later
            raise InputError("E196", f"unknown OCR mode '{ocr}'; use auto, always or never", field="ocr")
        store = _store(request)
        archives = any(is_archive_upload(_head(settings, f), f.filename or "") for f in files)
        names = [f.filename or "" for f in files]
        params = {"dataset": name, "files": names, "ocr": ocr, "password_given": password is not None}
        job = create_job(store, "ingest", params=params, total=None if archives else len(files))
        staged = _stage(store, settings, job["id"], files)
        background.add_task(_ingest_job, store, settings, job["id"], name, staged, password, ocr)
        response.status_code = 202
        response.headers["Location"] = job_location(job["id"])
        return {"job": job}
    uploads = [(f.filename or "", await f.read()) for f in files]
    return ingest_uploads(_store(request), settings, name, uploads, password=password, ocr=ocr).to_dict()


def _staging_error(settings: Settings, exc: OSError) -> ConfigError:
    return ConfigError(
        "E620",
        f"Cannot store the upload for a job under {settings.home}: {exc.strerror or exc}. Check that NLPIPE_HOME "
        "is writable and has space, or upload with wait=true.",
    )


def _head(settings: Settings, f: UploadFile) -> bytes:
    """The first bytes of an upload, for :func:`is_archive_upload`."""
    try:
        f.file.seek(0)
        head = f.file.read(SNIFF_BYTES)
        f.file.seek(0)
    except OSError as exc:
        raise _staging_error(settings, exc) from None
    return head


def _stage(
    store: Any, settings: Settings, job_id: int, files: list[UploadFile]
) -> tuple[StagingFolder, list[tuple[str, Path]]]:
    """Copy the uploads to job ``job_id``'s folder, locked (see :mod:`nlpipe.store.staging`): (folder, [(file
    name, path)]). When they cannot be stored the folder is removed and the job failed with the E620 raised."""
    staging = None
    try:
        staging = create_staging(settings.home, job_id)
        staged = []
        for i, f in enumerate(files):
            path = staging.path / f"{i:05d}"
            with open(path, "wb") as out:
                f.file.seek(0)
                shutil.copyfileobj(f.file, out, 1 << 20)
            staged.append((f.filename or "", path))
        return staging, staged
    except BaseException as exc:
        if staging is not None:
            staging.remove()
        error: NlpipeError = (
            _staging_error(settings, exc)
            if isinstance(exc, OSError)
            else NlpipeError("E234", f"The upload stopped on an unexpected error ({type(exc).__name__}).")
        )
        try:
            finish_job(store, job_id, error=error)
        except Exception as store_exc:  # the client still gets the staging error
            log.exception("job %s: could not record its failure", job_id, exc_info=store_exc)
        if isinstance(exc, OSError):
            raise error from None
        raise


def _ingest_job(
    store: Any,
    settings: Settings,
    job_id: int,
    dataset: str,
    staged: tuple[StagingFolder, list[tuple[str, Path]]],
    password: str | None,
    ocr: str | None,
) -> None:
    """The background half of an asynchronous upload: read the staged files, record the result, clean up."""
    staging, files = staged

    def work(progress: JobProgress) -> dict[str, Any]:
        done, total = 0, None  # ingest_uploads' last count of files and archive members read, over all uploads

        def counted(_source: str, count: int, count_total: int | None) -> None:
            nonlocal done, total
            done, total = count, count_total
            progress(count, count_total)  # a None total leaves the job's total as it is

        def uploads() -> Any:
            for name, path in files:
                yield name, path.read_bytes()

        summary = ingest_uploads(store, settings, dataset, uploads(), password=password, ocr=ocr, progress=counted)
        if total != done:  # ingest_uploads ends on an exact total when it counted anything; else this is 0 of 0
            progress(done, done)
        return summary.to_dict()

    try:
        run_job(store, job_id, work)
    finally:
        staging.remove()  # the folder, then its lock
