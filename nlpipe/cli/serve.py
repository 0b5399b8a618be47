"""`nlpipe serve`: the HTTP API under uvicorn, in one process or ``--workers N``, with connection limits.

uvicorn (h11) closes an idle keep-alive connection after ``timeout_keep_alive`` seconds, but it has no timeout
for a new connection that never sends its request headers: such half-open connections are held for ever. The
protocol class :class:`~nlpipe.cli.serve_http.HeaderTimeoutProtocol` closes a connection whose first request head
has not arrived within ``NLPIPE_HEADER_TIMEOUT`` seconds (a slow sender too: the clock is not reset by each byte).
On SIGTERM or Ctrl-C the server stops taking connections and lets the requests in flight finish, for at most
``NLPIPE_SHUTDOWN_TIMEOUT`` seconds; batch jobs are handed back to be continued (see ``api.batch_workers``). With
several workers, each is a process of its own that loads the serving models; /metrics adds up every worker's
counts (prometheus-client's multiprocess mode, in a temporary folder). Other limits: ``NLPIPE_KEEP_ALIVE_TIMEOUT``
(idle keep-alive connections), ``NLPIPE_MAX_CONNECTIONS`` (uvicorn's ``limit_concurrency``: more connections and
requests get 503) and :data:`MAX_HEADER_BYTES` (h11's limit on a request head; larger ones get 400).
"""

from __future__ import annotations

import os
import tempfile
from typing import Annotated, Any

import typer

from nlpipe.cli.common import settings

#: The largest request line and headers accepted (h11's ``max_incomplete_event_size``; uvicorn's default too).
MAX_HEADER_BYTES = 16 * 1024


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: NLPIPE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: NLPIPE_PORT).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Server processes sharing the port, each with the serving models loaded (default: NLPIPE_WORKERS).",
        ),  # fmt: skip
    ] = None,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    from nlpipe.config import get_settings
    from nlpipe.logs import log_config

    cfg = settings()
    bind = host or cfg.host
    n = workers or cfg.workers
    # The app reads its settings itself (it is named by import string so that nlpipe never imports the api
    # package); it learns the bound address through NLPIPE_HOST, which decides the default allowed Host headers.
    os.environ["NLPIPE_HOST"] = bind
    get_settings.cache_clear()
    options: dict[str, Any] = {
        "log_config": log_config(cfg.log_format),  # one format for nlpipe's and uvicorn's lines, with request ids
        "access_log": False,  # the API writes its own (nlpipe.access: route, model, key name)
        "http": "nlpipe.cli.serve_http:HeaderTimeoutProtocol",  # by name: worker processes import it
        "timeout_keep_alive": cfg.keep_alive_timeout,
        "limit_concurrency": cfg.max_connections,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "timeout_graceful_shutdown": cfg.shutdown_timeout,
    }
    from nlpipe.store.db import open_store

    open_store(cfg).close()  # the database made or migrated once, here, not by every worker at the same time
    if n == 1:
        uvicorn.run("api.main:create_app", factory=True, host=bind, port=port or cfg.port, **options)
        return
    with tempfile.TemporaryDirectory(prefix="nlpipe-metrics-") as metrics_dir:
        # Each worker counts into files here, and /metrics (whichever worker answers) adds them up.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        uvicorn.run("api.main:create_app", factory=True, host=bind, port=port or cfg.port, workers=n, **options)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
