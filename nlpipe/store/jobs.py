"""Jobs: long-running work (asynchronous uploads, batch predictions) with progress counts.

A job lives in the ``jobs`` table. It is created ``pending``, becomes ``running`` when its work starts, counts
``done`` of ``total`` units as it goes (``total`` may be unknown: ``None``), and ends ``succeeded`` with a
``result``, ``failed`` with an ``error`` in the API's error shape (``{"code", "message", "details"}``), or
``cancelled`` (:func:`cancel_job`). A finished job never changes again. Jobs that run in a process of their own
(batch jobs) are claimed by that process first: :mod:`nlpipe.store.job_claims`.

Every function takes the :class:`~nlpipe.store.db.Store` and runs its own short transaction, so a worker thread
can report progress while requests read the job. Jobs are returned as plain dicts (:func:`job_dict`).
:func:`run_job` wraps a unit of work: it marks the job running, hands the work a throttled progress callback,
and records the result or the error -- whatever the work raises.

Errors: E230 no job with that id (:class:`~nlpipe.errors.NotFoundError`); E231 an unknown status; E232 a
finished job cannot change (:class:`~nlpipe.errors.ConflictError`); E233 negative counts or ``done`` above
``total``; E234 the job's work stopped on an unexpected error (recorded in the job, never raised); E235 the
server stopped before the job finished (recorded by :func:`abandon_job`, which the start-up sweep of
:mod:`nlpipe.store.staging` calls for a job whose process is gone).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update

from nlpipe.errors import ConflictError, InputError, NlpipeError, NotFoundError
from nlpipe.store.db import Store
from nlpipe.store.schema import Job, storable_id, utcnow

__all__ = [
    "STATUSES",
    "FINISHED",
    "JobProgress",
    "create_job",
    "update_job",
    "finish_job",
    "get_job",
    "job_dict",
    "run_job",
    "abandon_job",
    "cancel_job",
    "count_by_status",
]

log = logging.getLogger("nlpipe.jobs")

STATUSES = ("pending", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")
PROGRESS_INTERVAL = 0.5  # seconds between progress writes of run_job (the last count is always written)

JobProgress = Callable[[int, int | None], None]  # (done, total)


def _iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC; SQLite hands back naive datetimes for the UTC times written."""
    if value is None:
        return None
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()


def job_dict(row: Job) -> dict[str, Any]:
    """A job as the API returns it."""
    return {
        "id": row.id,
        "kind": row.kind,
        "status": row.status,
        "total": row.total,
        "done": row.done,
        "params": row.params or {},
        "owner": row.owner,
        "result": row.result,
        "error": row.error,
        "progress": row.progress,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
    }


def _json_safe(value: Any) -> Any:
    """``value`` as JSON would store it (paths and other objects become strings)."""
    return json.loads(json.dumps(value, default=str))


def _check_counts(total: int | None, done: int | None) -> None:
    if (total is not None and total < 0) or (done is not None and done < 0):
        raise InputError("E233", f"Job counts cannot be negative (total={total}, done={done}).", field="done")
    if total is not None and done is not None and done > total:
        raise InputError("E233", f"A job cannot have done more ({done}) than its total ({total}).", field="done")


def _load(session: Any, job_id: int) -> Job:
    row = session.get(Job, job_id) if storable_id(session, job_id) else None
    if row is None:
        raise NotFoundError("E230", f"No job with id {job_id}.", job=job_id)
    return row


def create_job(
    store: Store, kind: str, *, params: dict[str, Any] | None = None, total: int | None = None, owner: str | None = None
) -> dict[str, Any]:
    """A new ``pending`` job of ``kind`` (``"ingest"``, ...); ``params`` says what it was asked to do, ``owner``
    names the API key that asked (None: the CLI, or a server without keys)."""
    _check_counts(total, 0)
    with store.session() as s:
        row = Job(kind=kind, status="pending", total=total, done=0, params=_json_safe(params or {}), owner=owner)
        s.add(row)
        s.flush()
        return job_dict(row)


def get_job(store: Store, job_id: int) -> dict[str, Any]:
    """The job with this id; E230 when there is none."""
    with store.session() as s:
        return job_dict(_load(s, job_id))


def update_job(
    store: Store, job_id: int, *, status: str | None = None, total: int | None = None, done: int | None = None
) -> dict[str, Any]:
    """Change a job's status (``pending`` or ``running``; :func:`finish_job` ends it) and progress counts."""
    if status is not None and status not in STATUSES:
        raise InputError("E231", f"Unknown job status {status!r}; use one of: {', '.join(STATUSES)}.", field="status")
    if status in FINISHED:
        raise InputError("E231", f"Use finish_job to end a job, not status {status!r}.", field="status")
    with store.session() as s:
        row = _load(s, job_id)
        if row.status in FINISHED:
            raise ConflictError("E232", f"Job {job_id} has already {row.status}; it cannot change.", job=job_id)
        new_total = row.total if total is None else total
        new_done = row.done if done is None else done
        _check_counts(new_total, new_done)
        if status is not None:
            row.status = status
        row.total, row.done = new_total, new_done
        row.updated_at = utcnow()
        s.flush()
        return job_dict(row)


def finish_job(
    store: Store,
    job_id: int,
    *,
    result: dict[str, Any] | None = None,
    error: NlpipeError | dict[str, Any] | None = None,
) -> dict[str, Any]:
    """End a job: ``failed`` with ``error`` (an :class:`~nlpipe.errors.NlpipeError` or an error dict) when one is
    given, else ``succeeded`` with ``result``. A job that succeeds with a known total counts all of it done."""
    if isinstance(error, NlpipeError):
        error = error.to_dict()
    with store.session() as s:
        row = _load(s, job_id)
        if row.status in FINISHED:
            raise ConflictError("E232", f"Job {job_id} has already {row.status}; it cannot change.", job=job_id)
        if error is not None:
            row.status = "failed"
            row.error = _json_safe(error)
        else:
            row.status = "succeeded"
            row.result = _json_safe(result or {})
            if row.total is not None:
                row.done = max(row.done, row.total)
        row.updated_at = utcnow()
        s.flush()
        return job_dict(row)


def abandon_job(store: Store, job_id: int) -> dict[str, Any] | None:
    """Fail job ``job_id`` with E235 because the process that ran it is gone; returns the finished job, or None
    when there is no such job or it had already finished (it is left as it is)."""
    error = {
        "code": "E235",
        "message": "The server stopped before this job finished; upload the files again.",
        "details": {"job": job_id},
    }
    try:
        return finish_job(store, job_id, error=error)
    except (NotFoundError, ConflictError):
        return None


def cancel_job(store: Store, job_id: int) -> dict[str, Any]:
    """Mark a ``pending`` or ``running`` job ``cancelled`` (in one conditional UPDATE, so a job that finishes
    meanwhile is never overwritten); E230 for no such job, E232 when it has already finished. The process running
    it sees the status at its next step and stops (:func:`nlpipe.store.job_claims.is_claimed`)."""
    with store.session() as s:
        row = _load(s, job_id)
        changed = s.execute(
            update(Job)
            .where(Job.id == job_id, Job.status.in_(("pending", "running")))
            .values(status="cancelled", updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        s.refresh(row)
        if not _rowcount(changed):
            raise ConflictError("E232", f"Job {job_id} has already {row.status}; it cannot change.", job=job_id)
        return job_dict(row)


def _rowcount(result: Any) -> int:
    """Rows an UPDATE changed (a CursorResult's rowcount)."""
    return int(getattr(result, "rowcount", 0) or 0)


def run_job(store: Store, job_id: int, work: Callable[[JobProgress], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work(progress)`` as job ``job_id`` and record how it ended; returns the finished job.

    ``progress(done, total)`` (``total`` None: unchanged; raised to ``done`` when ``done`` outgrows it) is
    written at most every ``PROGRESS_INTERVAL`` seconds, the last call always; a progress write that fails is
    logged and does not stop the work. An :class:`~nlpipe.errors.NlpipeError` fails the job with its own code;
    any other exception fails it with E234 and is logged with its traceback. Nothing is raised: the caller is
    usually a background thread with nobody to catch it.
    """
    # "at" is None until the first write: monotonic clocks start at an arbitrary point (boot, on Linux), so no
    # number stands for "long ago".
    state: dict[str, Any] = {"at": None, "pending": None, "total": None}

    def write(done: int, total: int | None) -> None:
        try:
            update_job(store, job_id, done=done, total=total)
        except NlpipeError as exc:
            log.warning("job %s: progress not recorded: %s", job_id, exc)

    def progress(done: int, total: int | None = None) -> None:
        if total is not None:
            state["total"] = total
        known = state["total"]
        if known is not None and done > known:
            state["total"] = total = done
        state["pending"] = (done, total)
        now = time.monotonic()
        if state["at"] is None or now - state["at"] >= PROGRESS_INTERVAL:
            state["at"], state["pending"] = now, None
            write(done, total)

    try:
        job = update_job(store, job_id, status="running")
        state["total"] = job["total"]
        result = work(progress)
        if state["pending"] is not None:
            write(*state["pending"])
        return finish_job(store, job_id, result=result)
    except NlpipeError as exc:
        return _finish_quietly(store, job_id, exc)
    except Exception as exc:
        log.exception("job %s failed", job_id, exc_info=exc)
        error = {
            "code": "E234",
            "message": f"The job stopped on an unexpected error ({type(exc).__name__}); see the server log.",
            "details": {"job": job_id},
        }
        return _finish_quietly(store, job_id, error)


def _finish_quietly(store: Store, job_id: int, error: NlpipeError | dict[str, Any]) -> dict[str, Any]:
    try:
        return finish_job(store, job_id, error=error)
    except Exception as exc:  # the store itself failed, or the job had already finished: log, never raise
        log.exception("job %s: could not record its failure", job_id, exc_info=exc)
        return {"id": job_id, "status": "failed", "error": error.to_dict() if isinstance(error, NlpipeError) else error}


def count_by_status(store: Store) -> dict[str, int]:
    """How many jobs are in each status (every status listed, 0 when none)."""
    with store.session() as s:
        found = {status: n for status, n in s.execute(select(Job.status, func.count()).group_by(Job.status)).all()}
    return {status: int(found.get(status, 0)) for status in STATUSES}
