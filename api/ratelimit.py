"""Per-key rate limits: ``NLPIPE_RATE_LIMIT`` requests per second with bursts of ``NLPIPE_RATE_LIMIT_BURST``, off
by default (0).

Counted by the ``limits`` library (a moving window, so a client cannot double its rate at a window's edge): a key
may send ``burst`` requests at once and then ``rate`` per second on average -- at most ``burst`` in any window of
``burst / rate`` seconds (rounded up to whole seconds). Each key has its own allowance (callers without a key share
one per client address). Past it the answer is 429 E616 with ``Retry-After``: the seconds until a request is
allowed again. Counts are kept in ``NLPIPE_RATE_LIMIT_STORAGE`` (a ``limits`` storage URI): ``memory://`` counts
per server process, so with several workers or replicas each counts alone; ``redis://HOST:6379`` shares the counts.
The health routes are never limited.
"""

from __future__ import annotations

import math
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from api.errors import error_response
from nlpipe.config import Settings
from nlpipe.errors import ConfigError, NlpipeError


class RateLimited(NlpipeError):
    """The key sent more requests than its allowance (HTTP 429 with Retry-After)."""


def window(rate: float, burst: int) -> RateLimitItem:
    """``burst`` requests per ``ceil(burst / rate)`` seconds."""
    return RateLimitItemPerSecond(burst, max(1, math.ceil(burst / rate)))


class RateLimits:
    """The allowance of each key (see the module docstring); :meth:`check` raises :class:`RateLimited`."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit > 0
        self.rate = settings.rate_limit
        self.burst = max(1, settings.rate_limit_burst or math.ceil(settings.rate_limit))
        if not self.enabled:
            return
        try:
            storage = storage_from_string(settings.rate_limit_storage)
        except Exception as exc:  # limits raises ConfigurationError or ValueError for a bad or unsupported URI
            raise ConfigError("E617", f"NLPIPE_RATE_LIMIT_STORAGE={settings.rate_limit_storage!r} cannot be used "
                              f"({exc}); use memory:// or a limits storage URI such as redis://HOST:6379.",
                              field="rate_limit_storage") from exc  # fmt: skip
        self.limiter = MovingWindowRateLimiter(storage)
        self.item = window(self.rate, self.burst)

    def check(self, who: str) -> None:
        """Count a request of ``who`` (``key:NAME`` or ``client:ADDRESS``); E616 when it is over its allowance."""
        if not self.enabled or self.limiter.hit(self.item, who):
            return
        reset, _ = self.limiter.get_window_stats(self.item, who)
        wait = max(1, math.ceil(reset - time.time()))
        raise RateLimited(
            "E616",
            f"Too many requests: this key may send {self.rate:g} per second with bursts of {self.burst} "
            f"(NLPIPE_RATE_LIMIT, NLPIPE_RATE_LIMIT_BURST). Retry in {wait} seconds.",
            retry_after=wait,
        )


def caller(request: Request, key_name: str | None) -> str:
    """Whose allowance a request counts against: its key's, else its client address's."""
    if key_name is not None:
        return f"key:{key_name}"
    client = request.client
    return f"client:{client.host if client else '-'}"


async def _limited(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RateLimited)
    wait = str(exc.details.get("retry_after", 1))
    return error_response(429, exc.code, exc.message, exc.details, {"Retry-After": wait})


def install(app: FastAPI, settings: Settings) -> None:
    app.state.rate_limits = RateLimits(settings)
    app.add_exception_handler(RateLimited, _limited)
