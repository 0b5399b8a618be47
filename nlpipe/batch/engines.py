"""Where chunks are predicted: in this process (one worker), a local process pool, or a Dask cluster.

Every engine takes the chunks in input order and yields, for each, the number of units it held and their rows (a
range of zip members gives a row per member), in the same order, with a bounded number of chunks in flight
(:data:`IN_FLIGHT` per worker), so memory does not grow with the input and the output does not depend on the engine
or the number of workers: each chunk is predicted the same way wherever it runs.
"""

from __future__ import annotations

import multiprocessing
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from nlpipe.batch.units import Unit
from nlpipe.batch.work import Job, Packed, packed_chunk
from nlpipe.errors import ConfigError, LimitError, NlpipeError

#: Chunks queued or running per worker: enough to keep every worker busy while the next chunk is read.
IN_FLIGHT = 2
#: How long to wait for a Dask scheduler given by address.
CONNECT_TIMEOUT = "20s"

#: A chunk done: how many units it held, and their rows packed.
Done = tuple[int, Packed]

_JOB: Job | None = None


def _init_worker(job: Job) -> None:
    global _JOB
    _JOB = job


def _run_chunk(chunk: list[Unit]) -> Packed:
    assert _JOB is not None, "worker not initialised"
    return packed_chunk(_JOB, chunk)


def _ordered(submit: Callable[[list[Unit]], Any], chunks: Iterable[list[Unit]], window: int) -> Iterator[Done]:
    """(units, rows) of ``submit`` (a concurrent or a Dask future) for each chunk, in the chunks' order, at most
    ``window`` submitted and not yet yielded."""
    pending: deque[tuple[int, Any]] = deque()
    try:
        for chunk in chunks:
            pending.append((len(chunk), submit(chunk)))
            if len(pending) >= window:
                n, future = pending.popleft()
                yield n, future.result()
        while pending:
            n, future = pending.popleft()
            yield n, future.result()
    finally:
        for _, future in pending:
            future.cancel()


def local_chunks(job: Job, chunks: Iterable[list[Unit]], workers: int) -> Iterator[Done]:
    """One worker: in this process (no copying of units or rows). More: a pool of processes started from a fork
    server, each loading the models once."""
    if workers <= 1:
        for chunk in chunks:
            yield len(chunk), packed_chunk(job, chunk)
        return
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["nlpipe.batch.work"])
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(job,)) as pool:
        try:
            yield from _ordered(lambda chunk: pool.submit(_run_chunk, chunk), chunks, IN_FLIGHT * workers)
        except BrokenProcessPool as exc:
            raise _worker_died() from exc


def _same(job: Job) -> Job:
    return job


def _worker_died() -> NlpipeError:
    return LimitError("E852", "A worker process died while predicting (out of memory, or a crash in native code on "
                      "one document). The documents before it are checkpointed: run the same command again to "
                      "continue; --workers 1 shows the document it stops at.")  # fmt: skip


def dask_chunks(job: Job, chunks: Iterable[list[Unit]], workers: int, scheduler: str | None) -> Iterator[Done]:
    """The chunks on a Dask cluster: ``scheduler`` is its address (``tcp://host:8786``), or ``local`` / None for a
    ``LocalCluster`` of ``workers`` processes on this machine. The job (models as paths, or as bytes with
    ``--ship-model``) is a task of its own, copied to each worker once; a chunk whose worker dies is run again
    elsewhere (Dask retries it up to twice)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - distributed is a dependency
        raise ConfigError("E848", "The Dask engine needs the 'distributed' package: pip install distributed.") from exc
    cluster = None
    if scheduler in (None, "local"):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            raise ConfigError("E849", f"Cannot reach the Dask scheduler at {scheduler} ({exc}); start one with "
                              "`dask scheduler` and workers with `dask worker ADDRESS`.") from exc  # fmt: skip
    try:
        with warnings.catch_warnings():  # "large object in the task graph": shipped models are, and that is meant
            warnings.simplefilter("ignore", UserWarning)
            # a task, not scatter(): a scattered value is lost with the last worker holding it (dask/distributed#3149)
            # and every chunk then fails as cancelled; a task's result is computed again on another worker
            remote_job = client.submit(_same, job, pure=False)
        n = max(1, len(client.scheduler_info().get("workers", {})) or workers)

        def submit(chunk: list[Unit]) -> Any:
            return client.submit(packed_chunk, remote_job, chunk, pure=False, retries=2)

        try:
            yield from _ordered(submit, chunks, IN_FLIGHT * n)
        except Exception as exc:
            if type(exc).__name__ == "KilledWorker":  # distributed.KilledWorker: the chunk killed worker after worker
                raise _worker_died() from exc
            raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
