"""Asynchronous uploads: files staged for a job that stores their documents later, in the background.

:func:`stage_upload_job` checks what the job would only fail on later (the dataset name, the OCR mode), creates
an ``ingest`` job (``pending``), and copies the uploaded files to the job's staging folder
``NLPIPE_HOME/uploads/job-<id>``, locked while this process holds it (see :mod:`nlpipe.store.staging`). It
returns an :class:`UploadJob`; its :meth:`~UploadJob.run` -- meant for a background task or thread -- reads the
staged files with :func:`~nlpipe.ingest.ingest_uploads`, records the summary as the job's result (or the error
as its failure: :func:`~nlpipe.store.jobs.run_job`), and removes the folder.

The job's ``total`` is the number of files when none is an archive, else None until the job ends, when it
equals ``done`` (the files and archive members read). Errors: E201 a bad dataset name; E196 an unknown OCR mode
(both before any job exists); E620 the upload cannot be stored (the folder or a file cannot be written, or a
file cannot be read): the job is failed with the same error and the folder removed; E234 anything else that
stops staging fails the job, and the exception is raised as it is.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from nlpipe.config import Settings
from nlpipe.errors import ConfigError, InputError, NlpipeError
from nlpipe.ingest import SNIFF_BYTES, ingest_uploads, is_archive_upload
from nlpipe.readers.budget import WorkBudget, active_budget
from nlpipe.store.datasets import check_name
from nlpipe.store.db import Store
from nlpipe.store.jobs import JobProgress, create_job, finish_job, run_job
from nlpipe.store.staging import StagingFolder, create_staging

__all__ = ["OCR_MODES", "UploadJob", "stage_upload_job"]

log = logging.getLogger("nlpipe.jobs")

OCR_MODES = ("auto", "always", "never")

Upload = tuple[str, IO[bytes]]  # (file name, a readable, seekable binary file: read from its start)


@dataclass
class UploadJob:
    """A staged upload: its ``job`` (as :func:`~nlpipe.store.jobs.get_job` returns it, ``pending``) and the files
    in its locked staging folder. :meth:`run` reads them into the dataset; call it once."""

    store: Store
    settings: Settings
    job: dict[str, Any]
    dataset: str
    staging: StagingFolder
    files: list[tuple[str, Path]]  # (file name, staged copy)
    password: str | None = None
    ocr: str | None = None

    def run(self) -> None:
        """Read the staged files, record the result (or the error) in the job, then remove the folder. Never
        raises for the work's errors: :func:`~nlpipe.store.jobs.run_job` records them in the job."""
        try:
            run_job(self.store, self.job["id"], self._work)
        finally:
            self.staging.remove()  # the folder, then its lock

    def _work(self, progress: JobProgress) -> dict[str, Any]:
        done, total = 0, None  # ingest_uploads' last count of files and archive members read, over all uploads

        def counted(_source: str, count: int, count_total: int | None) -> None:
            nonlocal done, total
            done, total = count, count_total
            progress(count, count_total)  # a None total leaves the job's total as it is

        def uploads() -> Iterator[tuple[str, bytes]]:
            for name, path in self.files:
                yield name, path.read_bytes()

        # The job's OCR is capped as a request's is (NLPIPE_MAX_OCR_PAGES, E612); it has no deadline: a job may run
        # longer than a request waits.
        with active_budget(WorkBudget(max_ocr_pages=self.settings.max_ocr_pages)):
            summary = ingest_uploads(
                self.store,
                self.settings,
                self.dataset,
                uploads(),
                password=self.password,
                ocr=self.ocr,
                progress=counted,
            )
        if total != done:  # ingest_uploads ends on an exact total when it counted anything; else this is 0 of 0
            progress(done, done)
        return summary.to_dict()


def stage_upload_job(
    store: Store,
    settings: Settings,
    dataset: str,
    files: Sequence[Upload],
    *,
    password: str | None = None,
    owner: str | None = None,
    ocr: str | None = None,
) -> UploadJob:
    """Create an ``ingest`` job for ``files`` (``(file name, binary file)`` pairs) and stage copies of them; the
    returned :class:`UploadJob`'s :meth:`~UploadJob.run` stores their documents in ``dataset`` (created if
    missing). See the module docstring for the job's counts and the errors."""
    check_name(dataset)
    if ocr is not None and ocr not in OCR_MODES:  # checked now: the job would only fail with it later
        raise InputError("E196", f"unknown OCR mode '{ocr}'; use auto, always or never", field="ocr")
    archives = any(is_archive_upload(_head(settings, f), name) for name, f in files)
    params = {
        "dataset": dataset,
        "files": [name for name, _ in files],
        "ocr": ocr,
        "password_given": password is not None,
    }
    job = create_job(store, "ingest", params=params, total=None if archives else len(files), owner=owner)
    staging, staged = _stage(store, settings, job["id"], files)
    return UploadJob(store, settings, job, dataset, staging, staged, password=password, ocr=ocr)


def _staging_error(settings: Settings, exc: OSError) -> ConfigError:
    return ConfigError(
        "E620",
        f"Cannot store the upload for a job under {settings.home}: {exc.strerror or exc}. Check that NLPIPE_HOME "
        "is writable and has space, or upload with wait=true.",
    )


def _head(settings: Settings, f: IO[bytes]) -> bytes:
    """The first bytes of an upload, for :func:`~nlpipe.ingest.is_archive_upload`."""
    try:
        f.seek(0)
        head = f.read(SNIFF_BYTES)
        f.seek(0)
    except OSError as exc:
        raise _staging_error(settings, exc) from None
    return head


def _stage(
    store: Store, settings: Settings, job_id: int, files: Sequence[Upload]
) -> tuple[StagingFolder, list[tuple[str, Path]]]:
    """Copy the uploads to job ``job_id``'s folder, locked (see :mod:`nlpipe.store.staging`): (folder, [(file
    name, path)]). When they cannot be stored the folder is removed and the job failed with the E620 raised."""
    staging = None
    try:
        staging = create_staging(settings.home, job_id)
        staged = []
        for i, (name, f) in enumerate(files):
            path = staging.path / f"{i:05d}"
            with open(path, "wb") as out:
                f.seek(0)
                shutil.copyfileobj(f, out, 1 << 20)
            staged.append((name, path))
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
        except Exception as store_exc:  # the caller still gets the staging error
            log.exception("job %s: could not record its failure", job_id, exc_info=store_exc)
        if isinstance(exc, OSError):
            raise error from None
        raise
