"""Staging folders of jobs under ``NLPIPE_HOME/uploads``, and the start-up sweep of the ones nobody runs any more.

An upload read by a job is copied to ``uploads/job-<id>`` (the job's id). From the moment that folder exists
until it is removed, the process that will run the job holds an exclusive :func:`fcntl.flock` on its
``.lock`` file (:class:`StagingFolder` keeps the file open). The kernel drops the lock when the process dies,
however it dies, so a folder nobody holds the lock of is an orphan: :func:`sweep_staging` -- run when the API
starts -- fails its job with E235 (:func:`~nlpipe.store.jobs.abandon_job`) if it was still pending or running,
and removes the folder. Folders with no such job (or a finished one) and leftovers of older versions
(``job-<random>``) are removed too, when unlocked. A folder whose lock is held belongs to a live process --
another uvicorn worker, or another server sharing ``NLPIPE_HOME`` -- and is left alone; so are jobs with no
folder here (another host's).

Creating a folder and taking its lock happen under a shared lock on ``NLPIPE_HOME/.uploads.lock``, and the sweep
looks for unlocked folders under an exclusive one, so it never finds a new folder before its lock is taken.
flock locks belong to an open file description: a second ``open`` + ``flock`` of the same file conflicts even
in the same process; Python opens files non-inheritable, so child processes do not keep the lock. The locks
are as reliable as the file system's flock: fine on local disks, not to be trusted on every network share.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from nlpipe.store.db import Store
from nlpipe.store.jobs import abandon_job

__all__ = ["LOCK_NAME", "StagingFolder", "SweepReport", "create_staging", "staging_path", "sweep_staging"]

log = logging.getLogger("nlpipe.staging")

PREFIX = "job-"
LOCK_NAME = ".lock"  # inside each job's folder
SWEEP_LOCK_NAME = ".uploads.lock"  # next to the uploads folder, which holds job folders only
_JOB_FOLDER = re.compile(r"job-([0-9]{1,18})")  # job-<id>; anything else after job- is an older version's name


def uploads_dir(home: Path) -> Path:
    return Path(home) / "uploads"


def staging_path(home: Path, job_id: int) -> Path:
    """The folder of job ``job_id``'s staged files."""
    return uploads_dir(home) / f"{PREFIX}{job_id}"


def open_lock(path: Path) -> IO[bytes]:
    """``path`` opened for locking (created 0600 when missing; never through a symbolic link)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    return os.fdopen(fd, "ab")


@contextmanager
def _sweep_lock(base: Path, operation: int) -> Iterator[None]:
    with open_lock(base.parent / SWEEP_LOCK_NAME) as fh:
        fcntl.flock(fh, operation)  # released when the file is closed
        yield


@dataclass
class StagingFolder:
    """A job's staging folder, locked while this object's lock file is open; :meth:`remove` ends both."""

    job_id: int
    path: Path
    lock: IO[bytes] | None = field(default=None, repr=False)

    def remove(self) -> None:
        """Delete the folder, then release its lock (in this order: the sweep never sees it half-removed)."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self.lock is not None:
            self.lock.close()
            self.lock = None


def create_staging(home: Path, job_id: int) -> StagingFolder:
    """Create job ``job_id``'s empty staging folder, its lock held; raises OSError when that cannot be done
    (``FileExistsError`` if the folder exists)."""
    base = uploads_dir(home)
    base.mkdir(parents=True, exist_ok=True)
    path = staging_path(home, job_id)
    with _sweep_lock(base, fcntl.LOCK_SH):
        path.mkdir(mode=0o700)
        try:
            lock = open_lock(path / LOCK_NAME)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BaseException:
                lock.close()
                raise
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
    return StagingFolder(job_id, path, lock)


@dataclass
class SweepReport:
    """What :func:`sweep_staging` did: jobs failed with E235, folders removed, folders left to a live process."""

    failed_jobs: list[int] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def try_lock(folder: Path) -> IO[bytes] | None:
    """The folder's lock file, locked by us; None when another open file holds the lock."""
    fh = open_lock(folder / LOCK_NAME)
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    except BaseException:
        fh.close()
        raise
    return fh


def _claim_orphans(base: Path, report: SweepReport) -> list[tuple[Path, IO[bytes]]]:
    """Lock every unlocked ``job-*`` folder under ``base`` (under the exclusive sweep lock)."""
    claimed: list[tuple[Path, IO[bytes]]] = []
    with _sweep_lock(base, fcntl.LOCK_EX), os.scandir(base) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if not entry.name.startswith(PREFIX) or not entry.is_dir(follow_symlinks=False):
                continue
            folder = Path(entry.path)
            try:
                lock = try_lock(folder)
            except OSError as exc:
                log.warning("upload folder %s left as it is: its lock cannot be taken (%s)", folder, exc)
                report.kept.append(entry.name)
                continue
            if lock is None:
                report.kept.append(entry.name)
            else:
                claimed.append((folder, lock))
    return claimed


def sweep_staging(store: Store, home: Path) -> SweepReport:
    """Clean up after processes that died while running jobs: fail their jobs (E235) and remove their staging
    folders under ``home/uploads`` -- only the folders whose lock nobody holds. Never raises: a folder that
    cannot be handled is logged and left for the next sweep."""
    report = SweepReport()
    base = uploads_dir(home)
    if not base.is_dir():
        return report
    try:
        claimed = _claim_orphans(base, report)
    except OSError as exc:
        log.warning("upload folders under %s not swept: %s", base, exc)
        return report
    for folder, lock in claimed:
        try:
            match = _JOB_FOLDER.fullmatch(folder.name)
            if match is not None and abandon_job(store, int(match.group(1))) is not None:
                report.failed_jobs.append(int(match.group(1)))
                log.warning("job %s failed (E235): the server running it stopped; removing %s", match[1], folder)
            shutil.rmtree(folder, ignore_errors=True)
            if folder.exists():
                log.warning("upload folder %s could not be removed entirely; the next start tries again", folder)
            else:
                report.removed.append(folder.name)
        except Exception as exc:  # the store failed: keep the folder, the next start tries again
            log.exception("upload folder %s not swept", folder, exc_info=exc)
        finally:
            lock.close()
    if report.failed_jobs or report.removed:
        log.info(
            "swept %s: %d orphaned job(s) failed with E235 %s, %d folder(s) removed %s, %d in use left alone",
            base, len(report.failed_jobs), report.failed_jobs, len(report.removed), report.removed, len(report.kept),
        )  # fmt: skip
    return report
