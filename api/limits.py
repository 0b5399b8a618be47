"""What keeps the service responsive: request bodies over ``max_bytes`` refused before the app reads them whole
and stalled bodies cut off (:class:`BodyLimits`, 413 E605 -- E873 for ``POST /v1/batch``, whose uploads have a
limit of their own -- and 408 E615), Host headers checked
(:class:`TrustedHosts`, 400 E614), HEAD answered on GET routes (:class:`HeadAsGet`), and heavy work run off the
event loop (:class:`WorkGate`).

The gate runs each heavy request's work (``:predict``, ``:predictFile``, ``/v1/sentiment:predict``, an upload with
``wait=true``) in a worker thread, at most ``NLPIPE_MAX_CONCURRENT_REQUESTS`` at once; up to
``NLPIPE_MAX_QUEUED_REQUESTS`` more wait for a slot, and a request beyond those is answered at once with 503 E610
and ``Retry-After``. Each request has ``NLPIPE_REQUEST_TIMEOUT`` seconds, waiting included: past it the answer is
504 E611 and the work's :class:`~nlpipe.readers.budget.WorkBudget` is cancelled, so it stops at its next step
(between OCR pages, documents, prediction batches). The budget also caps the pages OCR'd for the request
(``NLPIPE_MAX_OCR_PAGES``, 413 E612). ``/health`` and the other light routes are answered meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from api.errors import error_body, error_response
from nlpipe.config import Settings
from nlpipe.errors import NlpipeError
from nlpipe.readers.budget import WorkBudget, WorkTimeout, active_budget

Scope = dict[str, Any]
T = TypeVar("T")

#: Seconds a client told 503 E610 (all slots and the queue full) should wait before trying again.
RETRY_AFTER = 5


class ServerBusy(NlpipeError):
    """Every work slot and queue place is taken (HTTP 503 with Retry-After)."""


class WorkGate:
    """Runs heavy work in worker threads: a bounded number at once, a bounded queue, a deadline each."""

    def __init__(self, settings: Settings) -> None:
        self.slots = settings.max_concurrent_requests
        self.queue = settings.max_queued_requests
        self.timeout = settings.request_timeout
        self.max_ocr_pages = settings.max_ocr_pages
        self.pending = 0  # requests running or waiting for a slot (changed on the event loop only)
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:  # made on first use, inside the event loop
            self._limiter = anyio.CapacityLimiter(self.slots)
        return self._limiter

    async def run(self, work: Callable[[], T], what: str | None = None) -> T:
        """``work()`` in a worker thread under this request's budget; E610 when the queue is full, E611 past the
        deadline (``what`` names the file or input being worked on in that message)."""
        if self.pending >= self.slots + self.queue:
            raise ServerBusy(
                "E610",
                f"The server is busy: {self.slots} requests are being worked on and {self.queue} are waiting "
                f"(NLPIPE_MAX_CONCURRENT_REQUESTS, NLPIPE_MAX_QUEUED_REQUESTS). Retry in {RETRY_AFTER} seconds.",
                retry_after=RETRY_AFTER,
            )
        budget = WorkBudget(timeout=self.timeout, max_ocr_pages=self.max_ocr_pages)

        def call() -> T:
            with active_budget(budget):
                budget.check(what)  # it may have waited for its slot past the deadline
                return work()

        self.pending += 1
        try:
            with anyio.move_on_after(self.timeout):
                return await anyio.to_thread.run_sync(call, limiter=self.limiter, abandon_on_cancel=True)
            budget.cancel()  # the thread stops at its next checkpoint; the client is answered now
            budget.check(what)
            raise AssertionError("a cancelled budget raises E611")  # pragma: no cover
        finally:
            self.pending -= 1


async def get_gate(request: Request) -> WorkGate:
    return request.app.state.work


GateDep = Annotated[WorkGate, Depends(get_gate)]


async def _busy(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServerBusy)
    return error_response(503, exc.code, exc.message, exc.details, {"Retry-After": str(RETRY_AFTER)})


async def _timeout(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WorkTimeout)
    return error_response(504, exc.code, exc.message, exc.details)


def install(app: FastAPI, settings: Settings) -> None:
    """The work gate, its two error statuses, the Host check and the body size limit."""
    app.state.work = WorkGate(settings)
    app.add_exception_handler(ServerBusy, _busy)
    app.add_exception_handler(WorkTimeout, _timeout)
    batch_limit = RouteLimit(
        settings.max_batch_upload_bytes + FORM_SLACK,
        "E873",
        f"The upload is larger than the {settings.max_batch_upload_bytes} byte limit (NLPIPE_MAX_BATCH_UPLOAD_BYTES). "
        "Put the input under NLPIPE_BATCH_ROOT and give its `path`, or split it.",
    )
    app.add_middleware(
        BodyLimits,
        max_bytes=settings.max_request_bytes,
        timeout=settings.body_timeout,
        routes={("POST", "/v1/batch"): batch_limit},
    )
    app.add_middleware(TrustedHosts, allowed=settings.trusted_hosts)
    app.add_middleware(HeadAsGet)


def _json_error(status: int, code: str, message: str, details: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    body = json.dumps(error_body(code, message, details)).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    return start, body


def host_name(header: str) -> str:
    """The host of a Host header, without its port: ``example.com:8000`` -> ``example.com``, ``[::1]:80`` ->
    ``::1``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.rpartition(":")[0] if header.count(":") == 1 else header


class TrustedHosts:
    """Answers only requests whose Host header is one of ``allowed`` (``*.example.com`` matches subdomains, ``*``
    anything): a server on loopback is then not reachable through DNS rebinding. Others get 400 E614."""

    def __init__(self, app: Any, allowed: list[str]) -> None:
        self.app = app
        self.allowed = [a.lower() for a in allowed]
        self.any = "*" in self.allowed

    def allows(self, host: str) -> bool:
        return any(host == a or (a.startswith("*.") and host.endswith(a[1:])) for a in self.allowed)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if self.any or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        if self.allows(host_name(raw)):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        start, body = _json_error(
            400, "E614", f"Host {raw[:100]!r} is not one this server answers; add it to NLPIPE_ALLOWED_HOSTS.",
            {"host": raw[:100]},
        )  # fmt: skip
        await send(start)
        await send({"type": "http.response.body", "body": body})


class HeadAsGet:
    """HEAD on a GET route is answered as the GET, without its body (RFC 9110, 9.3.2): FastAPI routes only the
    methods a route declares, so ``HEAD /health`` (what load balancers and uptime checks send) was 405."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Any) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, without_body)


class BodyRefused(Exception):
    pass


#: Bytes a multipart upload to ``POST /v1/batch`` may carry besides its files (boundaries, part headers, fields);
#: the route counts the files' own bytes against NLPIPE_MAX_BATCH_UPLOAD_BYTES.
FORM_SLACK = 1024 * 1024


@dataclass(frozen=True)
class RouteLimit:
    """A route's own body limit (instead of NLPIPE_MAX_REQUEST_BYTES): the bytes, and the code and message of the
    413 past it."""

    max_bytes: int
    code: str
    message: str


class BodyLimits:
    """A request body larger than ``max_bytes`` gets 413 E605 (declared or, chunked, as it grows); one whose next part
    does not arrive within ``timeout`` seconds (a stalled or trickling client holding a connection and a handler)
    gets 408 E615 and the connection is closed. The app's own answer to a body it could not read whole is dropped.
    ``routes`` gives (method, path) pairs a limit of their own (:class:`RouteLimit`)."""

    def __init__(
        self, app: Any, max_bytes: int, timeout: float, routes: dict[tuple[str, str], RouteLimit] | None = None
    ) -> None:
        self.app = app
        self.default = RouteLimit(
            max_bytes, "E605", f"Request body is larger than the {max_bytes} byte limit (NLPIPE_MAX_REQUEST_BYTES). "
            "Send fewer or shorter texts per request.",
        )  # fmt: skip
        self.max_bytes = max_bytes
        self.routes = routes or {}
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.routes.get((scope["method"], scope["path"]), self.default)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit.max_bytes:
            await self._too_large(send, limit)
            return
        seen = 0
        started = complete = False
        refused: str | None = None

        async def limited_receive() -> Any:
            nonlocal seen, refused, complete
            if complete:  # after the body: the server's disconnect message, whenever it comes
                return await receive()
            try:
                with anyio.fail_after(self.timeout):
                    message = await receive()
            except TimeoutError:
                refused = "slow"
                raise BodyRefused from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if seen > limit.max_bytes:
                    refused = "large"
                    raise BodyRefused
            return message

        async def guarded_send(message: Any) -> None:
            nonlocal started
            if refused and not started:
                return  # the app's answer to a body it could not read whole (FastAPI makes it a 400): replaced below
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:
                raise
        if refused and not started:
            await (self._too_large(send, limit) if refused == "large" else self._too_slow(send))

    async def _too_large(self, send: Any, limit: RouteLimit) -> None:
        start, body = _json_error(413, limit.code, limit.message, {"max_bytes": limit.max_bytes})
        await send(start)
        await send({"type": "http.response.body", "body": body})

    async def _too_slow(self, send: Any) -> None:
        start, body = _json_error(
            408, "E615", f"The request body stalled for over {self.timeout:g} s (NLPIPE_BODY_TIMEOUT); send it "
            "again.", {"timeout_seconds": self.timeout},
        )  # fmt: skip
        start["headers"].append((b"connection", b"close"))
        await send(start)
        await send({"type": "http.response.body", "body": body})
