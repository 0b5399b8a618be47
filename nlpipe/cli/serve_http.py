"""The HTTP protocol ``nlpipe serve`` hands uvicorn (by name, so that worker processes import it themselves): h11,
closing a connection whose first request head takes over ``NLPIPE_HEADER_TIMEOUT`` seconds (see
:mod:`nlpipe.cli.serve`)."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol

from nlpipe.config import get_settings


class HeaderTimeoutProtocol(H11Protocol):
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._head_timer = self.loop.call_later(get_settings().header_timeout, self._head_timed_out)

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
