"""The worker process of a batch job: ``python -m nlpipe.batch.job_worker JOB_ID``, the settings as JSON on stdin.

The API server starts one per job (:func:`start_worker`), in a session of its own, and hands it its settings on
stdin (so no secret is in the command line, the environment or a file). The worker:

1. takes the lock of the job's folder (:mod:`.job_files`); when another live process holds it, it exits: that
   process runs the job;
2. claims the job in the database (:func:`~nlpipe.store.job_claims.claim_job`): ``pending`` -> ``running``, or a
   ``running`` job whose claim is dead (nobody held the lock) -> its own claim; when another process was quicker,
   it exits;
3. runs :func:`~nlpipe.batch.runner.run_batch` from the job's input folder (one worker: predictions in this
   process), writing progress to the job every :data:`~nlpipe.store.jobs.PROGRESS_INTERVAL` seconds (done,
   total, errors, docs/s) and asking after each chunk whether the job is still its own -- a cancelled job
   (``DELETE /v1/jobs/{id}``) stops there, and its files are removed;
4. records the summary as the job's result (the upload is removed, the results kept), or the error (E880 for an
   unexpected one; the job's files are removed).

SIGTERM or SIGINT (the server stopping) stop the run after its current chunk: the job goes back to ``pending``
with its checkpoint, and the next server to start continues it. A worker killed outright leaves the job
``running`` under a claim nobody holds the lock of: the next server start continues it the same way. The run's
summary is also kept in the folder after each chunk (``summary.json``), for the one case the runner's checkpoint
cannot tell: a worker killed after the results were written but before the job was marked succeeded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from nlpipe.batch.job_files import JobFolder, folder_path, try_lock
from nlpipe.batch.jobs import KIND, request_for
from nlpipe.batch.output import Summary
from nlpipe.batch.runner import BatchRequest, run_batch, state_dir
from nlpipe.config import Settings
from nlpipe.errors import NlpipeError
from nlpipe.store import jobs as job_store
from nlpipe.store.db import Store, open_store
from nlpipe.store.job_claims import (
    claim_job,
    claim_state,
    finish_claimed,
    is_claimed,
    new_claim,
    release_job,
    report_progress,
)

__all__ = ["settings_payload", "load_settings", "start_worker", "run_worker", "main"]

log = logging.getLogger("nlpipe.jobs")

_PATH_SETTINGS = ("home", "models_dir", "batch_root")


def _absolute(data: dict[str, Any]) -> dict[str, Any]:
    """Settings data with its folders and a SQLite database file made absolute: the worker changes its working
    folder to the job's inputs."""
    from sqlalchemy.engine import make_url

    data = dict(data)
    for key in _PATH_SETTINGS:
        if data.get(key) is not None:
            data[key] = os.path.abspath(data[key])
    url = data.get("database_url")
    if url:
        parsed = make_url(url)
        name = parsed.database or ""
        if parsed.get_backend_name() == "sqlite" and name and name != ":memory:" and not name.startswith("file:"):
            data["database_url"] = parsed.set(database=os.path.abspath(name)).render_as_string(hide_password=False)
    return data


def settings_payload(settings: Settings) -> bytes:
    """What :func:`start_worker` writes to the worker's stdin: the settings as JSON, paths made absolute."""
    return json.dumps(_absolute(settings.model_dump(mode="json"))).encode()


def load_settings(payload: bytes) -> Settings:
    """The settings :func:`settings_payload` wrote (every field given, so the environment changes none)."""
    return Settings(**_absolute(json.loads(payload)))


def start_worker(settings: Settings, job_id: int) -> subprocess.Popen[bytes]:
    """Start the worker process of job ``job_id`` (in a new session: a Ctrl-C meant for the server does not reach
    it; the server stops it with SIGTERM). Its output goes where the server's goes. OSError when it cannot start."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nlpipe.batch.job_worker", str(job_id)],
        stdin=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    assert proc.stdin is not None
    try:
        proc.stdin.write(settings_payload(settings))
        proc.stdin.close()
    except BrokenPipeError:  # the worker died at once; it logged why, and the job stays as it was
        pass
    return proc


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _counts(summary: Summary) -> dict[str, Any]:
    """A job's ``progress``: rows written, error rows, inputs skipped, documents per second."""
    return {"rows": summary.rows, "errors": summary.failed, "skipped": sum(summary.skipped.values()),
            "docs_per_second": round(summary.docs_per_second, 1)}  # fmt: skip


@dataclass
class _Reporter:
    """The runner's progress and cancelled callbacks for one claimed job."""

    store: Store
    job_id: int
    claim: str
    folder: JobFolder
    stop: threading.Event
    done: int = 0
    written_at: float | None = None

    def progress(self, done: int, total: int | None, summary: Summary) -> None:
        self.done = done
        _write_json(self.folder.summary, {"done": done, "summary": summary.to_dict()})
        now = time.monotonic()
        if self.written_at is not None and now - self.written_at < job_store.PROGRESS_INTERVAL:
            return
        self.written_at = now
        try:
            report_progress(self.store, self.job_id, self.claim, done=done, total=total, progress=_counts(summary))
        except Exception as exc:  # noqa: BLE001 -- a progress write that fails does not stop the run
            log.warning("job %s: progress not recorded: %s", self.job_id, exc)

    def cancelled(self) -> bool:
        if self.stop.is_set():
            return True
        try:
            return not is_claimed(self.store, self.job_id, self.claim)
        except Exception as exc:  # noqa: BLE001 -- the database is away for a moment: go on, ask again next chunk
            log.warning("job %s: cannot read its state: %s", self.job_id, exc)
            return False

    def saved(self) -> tuple[int, Summary]:
        """The count and summary of the run's last chunk, as :meth:`progress` kept them (none: an empty run)."""
        try:
            data = json.loads(self.folder.summary.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return 0, Summary()
        return int(data["done"]), Summary.from_dict(data["summary"])


def _run(request: BatchRequest, base: Path, settings: Settings, reporter: _Reporter) -> tuple[int, Summary]:
    """Run (or continue) the job's batch; (documents done, summary)."""
    if request.out.exists() and not state_dir(request.out).exists():
        return reporter.saved()  # a worker finished the run and was killed before it could record it
    with contextlib.chdir(base):
        summary = run_batch(request, settings, progress=reporter.progress, cancelled=reporter.cancelled)
    return reporter.done, summary


def _failed(store: Store, job_id: int, claim: str, folder: JobFolder, error: NlpipeError | dict[str, Any]) -> str:
    if not finish_claimed(store, job_id, claim, error=error):
        log.info("job %s: cancelled while it failed", job_id)
    folder.remove()
    return "failed"


def _run_claimed(
    store: Store, settings: Settings, job: dict[str, Any], folder: JobFolder, claim: str, stop: threading.Event
) -> str:
    job_id = int(job["id"])
    reporter = _Reporter(store, job_id, claim, folder, stop)
    try:
        request, base = request_for(settings, job)
        done, summary = _run(request, base, settings, reporter)
    except NlpipeError as exc:
        if exc.code == "E847" and stop.is_set() and release_job(store, job_id, claim):
            log.info("job %s: stopped after %s documents; it continues when a server starts", job_id, reporter.done)
            return "released"
        if exc.code == "E847" or not is_claimed(store, job_id, claim):
            log.info("job %s: cancelled after %s documents; removing its files", job_id, reporter.done)
            folder.remove()
            return "cancelled"
        log.warning("job %s failed: %s", job_id, exc)
        return _failed(store, job_id, claim, folder, exc)
    except Exception as exc:
        log.exception("job %s stopped on an unexpected error", job_id, exc_info=exc)
        error = {"code": "E880", "message": f"The batch job stopped on an unexpected error ({type(exc).__name__}); "
                 "see the server log.", "details": {"job": job_id}}  # fmt: skip
        return _failed(store, job_id, claim, folder, error)
    result = {**summary.to_dict(), "format": request.fmt, "bytes": request.out.stat().st_size}
    if not finish_claimed(store, job_id, claim, result=result, done=done, progress=_counts(summary)):
        log.info("job %s: cancelled as it finished; removing its files", job_id)
        folder.remove()
        return "cancelled"
    folder.remove_work()
    return "succeeded"


def run_worker(store: Store, settings: Settings, job_id: int, stop: threading.Event) -> str:
    """Run job ``job_id`` if no live process does (see the module docstring); returns what happened: ``succeeded``,
    ``failed``, ``cancelled``, ``released`` (stopped by ``stop``, to be continued), ``busy`` (another process
    holds it, or its folder is not in this NLPIPE_HOME), ``taken`` (another process claimed it first), or the
    status of a job there was nothing to do for."""
    state = claim_state(store, job_id)
    if state is None:
        return "gone"
    job = job_store.get_job(store, job_id)
    if job["kind"] != KIND or job["status"] not in ("pending", "running"):
        return str(job["status"])
    try:
        path = folder_path(settings.home, str(job["params"].get("folder", "")))
    except NlpipeError as exc:  # a damaged record: nobody can run it
        claim = new_claim()
        if claim_job(store, job_id, claim, status=state[0], previous=state[1]):
            finish_claimed(store, job_id, claim, error=exc)
        return "failed"
    lock = try_lock(path)
    if lock is None:
        return "busy"
    folder = JobFolder(path.name, path, lock)
    try:
        state = claim_state(store, job_id)  # again, under the lock: a claim seen now belongs to a dead process
        claim = new_claim()
        if state is None or not claim_job(store, job_id, claim, status=state[0], previous=state[1]):
            return "taken"
        log.info("job %s: claimed as %s (was %s, %s)", job_id, claim, state[0], state[1] or "unclaimed")
        return _run_claimed(store, settings, job, folder, claim, stop)
    finally:
        folder.release()


def main(argv: list[str] | None = None) -> int:
    """The worker process's entry point; exit status 0 whatever became of the job (the job records it), 2 for a
    wrong command line or settings."""
    args = sys.argv[1:] if argv is None else argv
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s [batch worker "
                        "%(process)d] %(message)s")  # fmt: skip
    log.setLevel(logging.INFO)
    if len(args) != 1 or not args[0].isdigit():
        log.error("usage: python -m nlpipe.batch.job_worker JOB_ID (settings as JSON on stdin)")
        return 2
    try:
        settings = load_settings(sys.stdin.buffer.read())
    except (ValueError, TypeError) as exc:
        log.error("the settings on stdin cannot be used: %s", exc)
        return 2
    store = open_store(settings)
    try:
        outcome = run_worker(store, settings, int(args[0]), stop)
    finally:
        store.close()
    log.info("job %s: %s", args[0], outcome)
    return 0


if __name__ == "__main__":
    sys.exit(main())
