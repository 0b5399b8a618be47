"""`nlpipe serve`: the HTTP API under uvicorn, with connection limits.

uvicorn (h11) closes an idle keep-alive connection after ``timeout_keep_alive`` seconds, but it has no timeout
for a new connection that never sends its request headers: such half-open connections are held for ever. The
protocol class made by :func:`protocol_with_header_timeout` closes a connection whose first request head has not
arrived within ``NLPIPE_HEADER_TIMEOUT`` seconds (a slow sender too: the clock is not reset by each byte). Other
limits: ``NLPIPE_KEEP_ALIVE_TIMEOUT`` (idle keep-alive connections), ``NLPIPE_MAX_CONNECTIONS`` (uvicorn's
``limit_concurrency``: more connections and requests get 503) and :data:`MAX_HEADER_BYTES` (h11's limit on a
request head; larger ones get 400).
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated, Any

import typer

from nlpipe.cli.common import settings

#: The largest request line and headers accepted (h11's ``max_incomplete_event_size``; uvicorn's default too).
MAX_HEADER_BYTES = 16 * 1024


def protocol_with_header_timeout(header_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol, closing a connection whose first request head takes over ``header_timeout`` s."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)  # type: ignore[arg-type]
            self._head_timer = self.loop.call_later(header_timeout, self._head_timed_out)

        def handle_events(self) -> None:
            super().handle_events()
            if self.cycle is not None:  # the first request head arrived; keep-alive timing takes over
                self._cancel_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_head_timer()
            super().connection_lost(exc)

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.cycle is None and not self.transport.is_closing():
                self.transport.close()

    return HeaderTimeoutProtocol


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: NLPIPE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: NLPIPE_PORT).")] = None,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    from nlpipe.config import get_settings
    from nlpipe.logs import log_config

    cfg = settings()
    bind = host or cfg.host
    # The app reads its settings itself (it is named by import string so that nlpipe never imports the api
    # package); it learns the bound address through NLPIPE_HOST, which decides the default allowed Host headers.
    os.environ["NLPIPE_HOST"] = bind
    get_settings.cache_clear()
    options: dict[str, Any] = {
        "log_config": log_config(cfg.log_format),  # one format for nlpipe's and uvicorn's lines, with request ids
        "access_log": False,  # the API writes its own (nlpipe.access: route, model, key name)
        "http": protocol_with_header_timeout(cfg.header_timeout),
        "timeout_keep_alive": cfg.keep_alive_timeout,
        "limit_concurrency": cfg.max_connections,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
    }
    uvicorn.run("api.main:create_app", factory=True, host=bind, port=port or cfg.port, **options)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
