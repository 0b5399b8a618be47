"""Batch runs as jobs (``POST /v1/batch``): created, cancelled, their results found, and resumed after a restart.

A batch job is a ``jobs`` row of kind ``batch`` whose ``params`` say what to run: its folder (:mod:`.job_files`,
where the upload was streamed and the results go), its inputs (the uploaded files' names, or one path relative to
``NLPIPE_BATCH_ROOT``), its models pinned to versions when it was created (``NAME@VERSION``), the output format,
the source options and ``top_k``. A worker process runs it (:mod:`.job_worker`): it claims the job in the
database, calls :func:`~nlpipe.batch.runner.run_batch` with the output in the folder -- so a run that stops
(killed, or the server stopped) continues from the runner's checkpoint when the job runs again -- and records the
progress, the summary (as the job's ``result``) or the error.

:func:`resumable_jobs` is the start-up sweep: the jobs of this ``NLPIPE_HOME`` that are ``pending``, or
``running`` with nobody holding their folder's lock (their process is gone), are returned to be run again; folders
nobody needs any more (an upload whose request died before its job existed, a failed or cancelled job's) are
removed. A job whose folder is not here belongs to another home (another host sharing the database) and is left
alone.

Errors: E877 results asked for before the job has succeeded, E878 cancelling a job that is not a batch job, E879
no results here (not a batch job, or the file is gone), E881 the job's folder cannot be made under NLPIPE_HOME; and
those of the checks made before a job exists: E403/E404 an unknown model or version, E840 no model, E820/E823 the
output format, E196/E801/E802 the source options, E870-E872/E882 a server-side path.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from nlpipe.batch.job_files import (
    INPUT_DIR,
    JobFolder,
    batch_dir,
    folder_path,
    new_folder,
    results_path,
    server_input,
    sweep_lock,
    try_lock,
)
from nlpipe.batch.output import FORMATS, check_output
from nlpipe.batch.runner import BatchRequest, resolve_models
from nlpipe.batch.shapes import check_options
from nlpipe.batch.units import SourceOptions
from nlpipe.config import Settings
from nlpipe.errors import ConfigError, ConflictError, NlpipeError, NotFoundError
from nlpipe.store.db import Store
from nlpipe.store.jobs import FINISHED, cancel_job, create_job, get_job
from nlpipe.store.schema import Job

__all__ = [
    "KIND",
    "MEDIA_TYPES",
    "BatchSpec",
    "check_spec",
    "create_batch_job",
    "cancel_batch_job",
    "results_file",
    "request_for",
    "resumable_jobs",
    "make_folder",
]

log = logging.getLogger("nlpipe.jobs")

KIND = "batch"
#: The media type of each output format (Parquet's is registered with IANA since 2023).
MEDIA_TYPES = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
#: The runner's workers for a job: 1, so a job predicts in its own worker process and does not starve the server
#: (NLPIPE_MAX_BATCH_JOBS bounds how many run at once).
JOB_WORKERS = 1


@dataclass(frozen=True)
class BatchSpec:
    """What a batch job is asked to do, besides its input: ``models`` (``NAME`` or ``NAME@VERSION``, an alias for
    VERSION), the output format, how inputs are cut into documents, and the labels listed per document."""

    models: tuple[str, ...]
    fmt: str = "jsonl"
    options: SourceOptions = field(default_factory=SourceOptions)
    top_k: int | None = None


def check_spec(settings: Settings, spec: BatchSpec) -> list[str]:
    """Refuse what the job would only fail on later, before it exists; returns the models pinned to the versions
    they name now (``NAME@VERSION``). E403/E404 for a model or version that does not exist, E840 for none, E820 /
    E823 for the format, E196 / E801 / E802 for the options."""
    if spec.fmt not in FORMATS:
        check_output(spec.fmt, [])  # E820, naming the formats
    check_options(spec.options)
    refs = resolve_models(settings, spec.models)
    check_output(spec.fmt, [ref.info for ref in refs])
    return [f"{ref.name}@{ref.version}" for ref in refs]


def make_folder(settings: Settings) -> JobFolder:
    """A new locked folder for a job under NLPIPE_HOME (E881 when it cannot be made)."""
    try:
        return new_folder(settings.home)
    except OSError as exc:
        where = batch_dir(settings.home)
        raise ConfigError("E881", f"Cannot make a folder for a batch job under {where}: {exc.strerror or exc}. "
                          "Check that NLPIPE_HOME is writable and has space.") from None  # fmt: skip


def create_batch_job(
    store: Store,
    settings: Settings,
    spec: BatchSpec,
    folder: JobFolder,
    *,
    uploads: Sequence[str] = (),
    path: str | None = None,
    owner: str | None = None,
) -> dict[str, Any]:
    """Check ``spec`` (:func:`check_spec`) and the server-side ``path`` (:func:`~.job_files.server_input`), then
    create the ``pending`` job that runs it on ``uploads`` (file names in ``folder``'s ``input/``, in order) or
    ``path``. The caller keeps ``folder``'s lock until it is done with it, and starts the job's worker."""
    models = check_spec(settings, spec)
    if path is not None:
        inputs, source = [server_input(settings, path)], "path"
    else:
        inputs, source = list(uploads), "upload"
    params = {
        "folder": folder.name,
        "source": source,
        "inputs": inputs,
        "models": models,
        "format": spec.fmt,
        "options": spec.options.fingerprint(),
        "top_k": spec.top_k,
    }
    return create_job(store, KIND, params=params, owner=owner)


def request_for(settings: Settings, job: dict[str, Any]) -> tuple[BatchRequest, Path]:
    """The runner's request for ``job`` and the folder its inputs are read from (the worker's working folder, so
    document ids start with the names the client gave: ``news.zip!a.txt``). A server-side path is checked again
    (E870-E872), in case the root or a link changed since the job was created."""
    params = job["params"]
    folder = folder_path(settings.home, str(params.get("folder", ""))).absolute()
    if params.get("source") == "path":
        inputs = [server_input(settings, str(p)) for p in params["inputs"]]
        assert settings.batch_root is not None  # server_input refused the path (E870) without a root
        base = settings.batch_root.resolve()
    else:
        inputs, base = [str(p) for p in params["inputs"]], folder / INPUT_DIR
    opts = params.get("options") or {}
    options = SourceOptions(split_on=opts.get("split_on"), text_cols=tuple(opts.get("text_cols") or ()),
                            id_col=opts.get("id_col"), no_header=bool(opts.get("no_header")),
                            ocr=str(opts.get("ocr") or "auto"))  # fmt: skip
    fmt = str(params.get("format", "jsonl"))
    request = BatchRequest(inputs, [str(m) for m in params["models"]], results_path(folder, fmt), fmt=fmt,
                           options=options, workers=JOB_WORKERS, top_k=params.get("top_k"))  # fmt: skip
    return request, base


def cancel_batch_job(store: Store, settings: Settings, job_id: int) -> dict[str, Any]:
    """Cancel a ``pending`` or ``running`` batch job (its worker stops after its current chunk and removes the
    job's files; a job no worker holds has them removed now). E230 no such job, E232 it has finished, E878 it is
    not a batch job."""
    job = get_job(store, job_id)
    if job["status"] not in FINISHED and job["kind"] != KIND:
        raise ConflictError("E878", f"Job {job_id} is a {job['kind']} job; only batch jobs can be cancelled. It ends "
                            "by itself.", job=job_id)  # fmt: skip
    job = cancel_job(store, job_id)
    try:
        path = folder_path(settings.home, str(job["params"].get("folder", "")))
    except NlpipeError:
        return job
    lock = try_lock(path)
    if lock is not None:  # no worker on it: nobody else will clean up
        JobFolder(path.name, path, lock).remove()
    return job


def results_file(store: Store, settings: Settings, job_id: int) -> tuple[Path, str]:
    """The output file of a succeeded batch job and its format. E230 no such job, E879 not a batch job or the file
    is not on this server, E877 the job has not succeeded (yet)."""
    job = get_job(store, job_id)
    if job["kind"] != KIND:
        raise NotFoundError("E879", f"Job {job_id} is a {job['kind']} job; only batch jobs have a results file.",
                            job=job_id)  # fmt: skip
    if job["status"] != "succeeded":
        raise ConflictError("E877", f"Job {job_id} is {job['status']}; its results can be read once it has "
                            "succeeded. Poll the job until then.", job=job_id, status=job["status"])  # fmt: skip
    fmt = str(job["params"].get("format", "jsonl"))
    path = results_path(folder_path(settings.home, str(job["params"].get("folder", ""))), fmt)
    if not path.is_file():
        raise NotFoundError("E879", f"The results of job {job_id} are not on this server: it ran on another "
                            "NLPIPE_HOME, or they were removed.", job=job_id)  # fmt: skip
    return path, fmt


def _batch_jobs(store: Store) -> dict[str, tuple[int, str]]:
    """Every batch job's folder name -> (id, status)."""
    with store.session() as s:
        rows = s.execute(select(Job.id, Job.status, Job.params).where(Job.kind == KIND)).all()
    return {str((params or {}).get("folder")): (job_id, status) for job_id, status, params in rows}


def resumable_jobs(store: Store, settings: Settings) -> list[int]:
    """The start-up sweep (see the module docstring): the ids of this home's batch jobs to run (again), oldest
    first; folders of no job, and of failed or cancelled jobs, are removed. Folders in use are left alone. A
    folder that cannot be looked at is logged and left for the next start."""
    base = batch_dir(settings.home)
    if not base.is_dir():
        return []
    jobs = _batch_jobs(store)
    try:
        resume = _sweep(settings, base, jobs)
    except OSError as exc:
        log.warning("batch folders under %s not swept: %s", base, exc)
        return []
    if resume:
        log.info("batch jobs to run again: %s", resume)
    return sorted(resume)


def _sweep(settings: Settings, base: Path, jobs: dict[str, tuple[int, str]]) -> list[int]:
    resume: list[int] = []
    with sweep_lock(settings.home, fcntl.LOCK_EX), os.scandir(base) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            lock = try_lock(Path(entry.path))
            if lock is None:
                continue  # a live process works on it
            folder = JobFolder(entry.name, Path(entry.path), lock)
            job_id, status = jobs.get(entry.name, (None, None))
            if job_id is None or status in ("failed", "cancelled"):
                log.info("removing batch folder %s (%s)", entry.name, f"job {job_id} {status}" if job_id else "no job")
                folder.remove()
                continue
            folder.release()
            if status in ("pending", "running"):
                resume.append(job_id)
    return resume
