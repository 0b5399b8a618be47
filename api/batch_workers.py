"""The server's batch job workers: one process per job (:mod:`nlpipe.batch.job_worker`), at most
``NLPIPE_MAX_BATCH_JOBS`` at once; jobs beyond that wait, ``pending``, in the order they came.

:meth:`BatchWorkers.submit` is called for a new job (``POST /v1/batch``) and, when the server starts, for the jobs
the sweep found to run again (:func:`nlpipe.batch.jobs.resumable_jobs`). A thread per worker waits for it to end
(so no process is left a zombie) and starts the next job waiting. :meth:`BatchWorkers.stop`, when the server
stops, sends SIGTERM to the workers -- each stops after its current chunk and gives its job back, to be continued
at the next start -- and kills those still running after :data:`STOP_TIMEOUT` seconds (their jobs continue from
their checkpoint all the same).
"""

from __future__ import annotations

import logging
import subprocess
import threading
from collections import deque

from nlpipe.batch.job_worker import start_worker
from nlpipe.config import Settings
from nlpipe.errors import ConfigError
from nlpipe.store.db import Store
from nlpipe.store.jobs import finish_job

log = logging.getLogger("nlpipe.jobs")

#: Seconds a stopping server waits for its workers to reach the end of a chunk before it kills them.
STOP_TIMEOUT = 10.0


class BatchWorkers:
    """The worker processes of this server's batch jobs (see the module docstring)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.limit = settings.max_batch_jobs
        self.running: dict[int, subprocess.Popen[bytes]] = {}
        self.waiting: deque[int] = deque()
        self.closed = False
        self._lock = threading.Lock()

    def submit(self, job_id: int) -> None:
        """Run job ``job_id`` in a worker process now, or once a running one ends."""
        with self._lock:
            if self.closed or job_id in self.running or job_id in self.waiting:
                return
            self.waiting.append(job_id)
            self._fill()

    def _fill(self) -> None:
        """Start waiting jobs while there is room (called with the lock held)."""
        while self.waiting and len(self.running) < self.limit and not self.closed:
            job_id = self.waiting.popleft()
            try:
                proc = start_worker(self.settings, job_id)
            except OSError as exc:
                log.error("job %s: its worker process cannot be started: %s", job_id, exc)
                self._fail(job_id, exc)
                continue
            self.running[job_id] = proc
            threading.Thread(target=self._reap, args=(job_id, proc), name=f"batch-job-{job_id}", daemon=True).start()

    def _fail(self, job_id: int, exc: OSError) -> None:
        why = exc.strerror or exc
        error = ConfigError("E884", f"The worker process of batch job {job_id} cannot be started ({why}); check the "
                            "server's resources and start the job again.")  # fmt: skip
        try:
            finish_job(self.store, job_id, error=error)
        except Exception as store_exc:  # noqa: BLE001 -- logged; the next start tries the job again
            log.exception("job %s: could not record its failure", job_id, exc_info=store_exc)

    def _reap(self, job_id: int, proc: subprocess.Popen[bytes]) -> None:
        code = proc.wait()
        with self._lock:
            if code and not self.closed:
                log.warning("job %s: worker %s ended with status %s", job_id, proc.pid, code)
            if self.running.get(job_id) is proc:
                del self.running[job_id]
            self._fill()

    def pids(self) -> dict[int, int]:
        """Job id -> worker process id, for the jobs running now."""
        with self._lock:
            return {job_id: proc.pid for job_id, proc in self.running.items()}

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop every worker (SIGTERM, then SIGKILL after ``timeout`` seconds) and start no more."""
        with self._lock:
            self.closed = True
            self.waiting.clear()
            procs = list(self.running.values())
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.warning("batch worker %s did not stop within %s s; killing it", proc.pid, timeout)
                proc.kill()
                proc.wait()
