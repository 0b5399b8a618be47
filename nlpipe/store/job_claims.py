"""Claims: which process runs a job that runs in a process of its own (a batch job), decided by the database.

A process claims a job before it runs it, with one conditional UPDATE (:func:`claim_job`): ``pending`` ->
``running`` with its claim, or -- taking over from a process that died -- ``running`` with the dead claim ->
``running`` with its own. Two processes that try at once (two servers sharing one database) cannot both succeed:
the second UPDATE matches no row. A claim names the process (``host:pid:token``, :func:`new_claim`); the token
tells two claims of one pid apart (pids are reused after a restart).

Every later write of the claiming process is conditional on its claim and on the job still ``running``
(:func:`report_progress`, :func:`finish_claimed`, :func:`release_job`): a job cancelled meanwhile
(:func:`~nlpipe.store.jobs.cancel_job`) or claimed by another process is left as it is, and the write says so
(False), which is how the process learns it should stop. How a claim is known to be dead is the caller's
business (:mod:`nlpipe.batch.jobs` holds a lock file beside the job's files while it runs).
"""

from __future__ import annotations

import os
import secrets
import socket
from typing import Any

from sqlalchemy import select, update

from nlpipe.errors import NlpipeError
from nlpipe.store.db import Store
from nlpipe.store.jobs import _json_safe, _rowcount
from nlpipe.store.schema import Job, utcnow

__all__ = [
    "new_claim",
    "claim_host",
    "claim_job",
    "is_claimed",
    "claim_state",
    "report_progress",
    "release_job",
    "finish_claimed",
]


def new_claim() -> str:
    """A claim naming this process: ``host:pid:token``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def claim_host(claim: str | None) -> str | None:
    """The host part of a claim (None for no claim)."""
    return None if claim is None else claim.rsplit(":", 2)[0]


def claim_job(store: Store, job_id: int, claim: str, *, status: str, previous: str | None) -> bool:
    """Claim job ``job_id`` for ``claim`` if it is still as it was seen: ``status`` (``pending`` or ``running``)
    with the claim ``previous``. True when this call claimed it (the job is then ``running``)."""
    if status not in ("pending", "running"):
        return False
    same_claim = Job.claim.is_(None) if previous is None else Job.claim == previous
    with store.session() as s:
        changed = s.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == status, same_claim)
            .values(status="running", claim=claim, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return _rowcount(changed) == 1


def claim_state(store: Store, job_id: int) -> tuple[str, str | None] | None:
    """Job ``job_id``'s status and claim (None: no such job)."""
    with store.session() as s:
        row = s.execute(select(Job.status, Job.claim).where(Job.id == job_id)).first()
    return None if row is None else (str(row.status), row.claim)


def is_claimed(store: Store, job_id: int, claim: str) -> bool:
    """Whether job ``job_id`` is ``running`` under ``claim`` (False once it is cancelled or claimed by another)."""
    return claim_state(store, job_id) == ("running", claim)


def _claimed(job_id: int, claim: str) -> Any:
    return update(Job).where(Job.id == job_id, Job.status == "running", Job.claim == claim)


def report_progress(
    store: Store, job_id: int, claim: str, *, done: int, total: int | None, progress: dict[str, Any]
) -> bool:
    """Record a claimed job's counts (``total`` raised to ``done`` when it is smaller); False when the job is no
    longer running under ``claim``."""
    if total is not None and total < done:
        total = done
    with store.session() as s:
        changed = s.execute(
            _claimed(job_id, claim)
            .values(done=max(0, done), total=total, progress=_json_safe(progress), updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return _rowcount(changed) == 1


def release_job(store: Store, job_id: int, claim: str) -> bool:
    """Give a claimed job back: ``running`` -> ``pending`` without a claim, for another process (or this server
    when it starts again) to continue; False when it was not running under ``claim``."""
    with store.session() as s:
        changed = s.execute(
            _claimed(job_id, claim)
            .values(status="pending", claim=None, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        return _rowcount(changed) == 1


def finish_claimed(
    store: Store,
    job_id: int,
    claim: str,
    *,
    result: dict[str, Any] | None = None,
    error: NlpipeError | dict[str, Any] | None = None,
    done: int | None = None,
    progress: dict[str, Any] | None = None,
) -> bool:
    """End a claimed job: ``failed`` with ``error`` when one is given, else ``succeeded`` with ``result`` and
    ``done`` = ``total`` = ``done`` (the final count); ``progress``, when given, replaces the last one written.
    False when it was not running under ``claim`` (it was cancelled meanwhile, or claimed by another process):
    nothing is changed then."""
    if isinstance(error, NlpipeError):
        error = error.to_dict()
    values: dict[str, Any] = {"updated_at": utcnow()}
    if progress is not None:
        values["progress"] = _json_safe(progress)
    if error is not None:
        values.update(status="failed", error=_json_safe(error))
    else:
        values.update(status="succeeded", result=_json_safe(result or {}))
        if done is not None:
            values.update(done=done, total=done)
    with store.session() as s:
        changed = s.execute(_claimed(job_id, claim).values(**values).execution_options(synchronize_session=False))
        return _rowcount(changed) == 1
