"""Datasets: list, stats, and document uploads (files or archives), synchronous or as a job."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, File, Form, Query, Request, Response, UploadFile

from api.deps import ApiKeyDep, SettingsDep
from api.routes.jobs import job_location
from nlpipe.config import Settings
from nlpipe.errors import ConfigError, InputError
from nlpipe.intake import ingest_uploads
from nlpipe.store.datasets import check_name, dataset_stats, list_datasets
from nlpipe.store.jobs import JobProgress, create_job, run_job

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

    With ``wait=false`` the files are kept in a temporary folder and read by a background job: the answer is
    202 with ``{"job": {...}}`` and a ``Location`` header (``/v1/jobs/{id}``) to poll; the job's ``result`` is
    this endpoint's synchronous answer, ``total``/``done`` count uploaded files.
    """
    check_name(name)
    for i, f in enumerate(files):
        if not f.filename:
            raise InputError("E608", f"Uploaded file {i} has no file name.", field=f"files[{i}]")
    if not wait:
        if ocr is not None and ocr not in OCR_MODES:  # checked now: the job would only fail with it later
            raise InputError("E196", f"unknown OCR mode '{ocr}'; use auto, always or never", field="ocr")
        staged = _stage(settings, files)
        names = [n for n, _ in staged[1]]
        params = {"dataset": name, "files": names, "ocr": ocr, "password_given": password is not None}
        try:
            job = create_job(_store(request), "ingest", params=params, total=len(files))
        except BaseException:
            shutil.rmtree(staged[0], ignore_errors=True)
            raise
        background.add_task(_ingest_job, _store(request), settings, job["id"], name, staged, password, ocr)
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


def _stage(settings: Settings, files: list[UploadFile]) -> tuple[Path, list[tuple[str, Path]]]:
    """Copy the uploads to a new folder under ``NLPIPE_HOME/uploads``: (folder, [(file name, path)])."""
    try:
        base = settings.home / "uploads"
        base.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="job-", dir=base))
    except OSError as exc:
        raise _staging_error(settings, exc) from None
    staged = []
    try:
        for i, f in enumerate(files):
            path = folder / f"{i:05d}"
            with open(path, "wb") as out:
                f.file.seek(0)
                shutil.copyfileobj(f.file, out, 1 << 20)
            staged.append((f.filename or "", path))
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise _staging_error(settings, exc) from None
    return folder, staged


def _ingest_job(
    store: Any,
    settings: Settings,
    job_id: int,
    dataset: str,
    staged: tuple[Path, list[tuple[str, Path]]],
    password: str | None,
    ocr: str | None,
) -> None:
    """The background half of an asynchronous upload: read the staged files, record the result, clean up."""
    folder, files = staged

    def work(progress: JobProgress) -> dict[str, Any]:
        def uploads() -> Any:
            for i, (name, path) in enumerate(files):
                progress(i, len(files))  # the files before this one are read and stored
                yield name, path.read_bytes()

        summary = ingest_uploads(store, settings, dataset, uploads(), password=password, ocr=ocr)
        progress(len(files), len(files))
        return summary.to_dict()

    try:
        run_job(store, job_id, work)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
