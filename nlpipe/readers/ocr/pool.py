"""The worker pool of OCR: pages or frames in new (spawned) worker processes, results in order; a worker that dies
is E166.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from nlpipe.readers.errors import fail

__all__ = ["pool_map"]


def pool_map(
    source: str,
    workers: int,
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
    fn: Callable[[Any], Any],
    items: Iterable[Any],
) -> Generator[Any, None, None]:
    """``fn`` over ``items`` in ``workers`` new worker processes (``initializer(*initargs)`` in each), results in
    order. A worker that dies is E166. Close the generator when stopping early (an error): the items not yet
    started are then cancelled and the workers shut down."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # fork is unsafe in threaded servers
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=initializer, initargs=initargs)
    try:
        yield from pool.map(fn, items)
    except BrokenProcessPool:
        raise fail(
            "E166", "an OCR worker process died (out of memory?); lower --ocr-dpi or the worker count", source
        ) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
