"""What the service tells the people who run it: a request id on every request, one access-log line per request,
and Prometheus metrics (``GET /metrics``).

:class:`Observe` is the outermost middleware. It takes the caller's ``X-Request-ID`` (letters, digits and
``._:/+=@-``, at most 128 characters; anything else is replaced) or makes one, puts it in
:data:`~nlpipe.logs.REQUEST_ID` -- so every log line written for the request carries it -- and in the response's
``X-Request-ID`` header and every error body (:func:`api.errors.error_response`). When the response is sent it
writes the access-log line (logger ``nlpipe.access``: method, route template, status, error code, latency, the
model and version that answered, the key's name -- never the key, never a text) and observes the metrics.

:class:`Metrics` holds one registry per app (tests make many apps): request latency by method, route and status;
error responses by code; texts and predicted labels by model, version and label; and, read when scraped, the
loaded models' load time and memory and the jobs by status.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric

from nlpipe.logs import REQUEST_ID
from nlpipe.store.jobs import count_by_status

Scope = dict[str, Any]

access_log = logging.getLogger("nlpipe.access")
log = logging.getLogger("nlpipe.api")

#: Where a request's notes (the key's name, the model that answered) are kept in its ASGI scope.
NOTES = "nlpipe.notes"
_VALID_ID = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")
#: Latency buckets (seconds): fine below 100 ms, where single predictions are.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
#: Most bytes of an error body read for its code.
_ERROR_BODY_BYTES = 64 * 1024


def request_id_of(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The caller's ``X-Request-ID`` when it is a plain token, else a new one (32 hex digits)."""
    for name, value in headers:
        if name.lower() == b"x-request-id":
            given = value.decode("latin-1").strip()
            if _VALID_ID.fullmatch(given):
                return given
            break
    return uuid.uuid4().hex


def note(request: Request, **values: str | None) -> None:
    """Record what the access log should say about this request (``key=``, ``model=``)."""
    notes = request.scope.get(NOTES)
    if notes is not None:
        notes.update(values)


def answered(request: Request, result: dict[str, Any]) -> dict[str, Any]:
    """A prediction route's ``result`` (``model``, ``version``, ``predictions``), noted for the access log and
    counted in the metrics."""
    model, version = str(result["model"]), str(result["version"])
    note(request, model=f"{model}@{version}")
    request.app.state.metrics.predicted(model, version, result["predictions"])
    return result


class Metrics:
    """The app's Prometheus metrics (see the module docstring); :meth:`watch` adds the ones read when scraped."""

    def __init__(self) -> None:
        self.state: _StateCollector | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.latency = Histogram(
            "nlpipe_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route (its template) and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "nlpipe_http_errors",
            "Error responses by error code and status.",
            ["code", "status"],
            registry=self.registry,
        )
        self.texts = Counter(
            "nlpipe_predicted_texts", "Texts predicted, by model and version.", ["model", "version"],
            registry=self.registry,
        )  # fmt: skip
        self.labels = Counter(
            "nlpipe_predicted_labels",
            "Labels predicted, by model, version and label ('' for a text with no label predicted).",
            ["model", "version", "label"],
            registry=self.registry,
        )

    def watch(self, state: Any) -> None:
        """Read the loaded models and the jobs from the app's ``state`` when scraped."""
        self.state = _StateCollector(state)
        self.registry.register(self.state)

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format. Under ``nlpipe serve --workers N`` (PROMETHEUS_MULTIPROC_DIR
        set) the counts are every worker's added up; the loaded models are the answering worker's."""
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            return generate_latest(self.registry)
        registry = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(registry)
        if self.state is not None:
            registry.register(self.state)
        return generate_latest(registry)

    def predicted(self, model: str, version: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Count a response's texts and predicted labels: one update per distinct label, not per text (a counter's
        update costs as much as a cheap prediction)."""
        counts: collections.Counter[str] = collections.Counter()
        n = 0
        for row in rows:
            n += 1
            counts.update(row.get("predicted") or [""])
        for label, times in counts.items():
            self.labels.labels(model, version, label).inc(times)
        self.texts.labels(model, version).inc(n)


class _StateCollector:
    """Gauges read from the app when scraped: the loaded model versions (load seconds, memory) and jobs by status."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        load = GaugeMetricFamily(
            "nlpipe_model_load_seconds", "Seconds the loaded model version took to load.", labels=["model", "version"]
        )
        memory = GaugeMetricFamily(
            "nlpipe_model_memory_bytes",
            "Resident memory the server grew by while loading the model version (an estimate).",
            labels=["model", "version"],
        )
        models = getattr(self.state, "models", None)
        for (name, version), stats in (models.stats() if models is not None else {}).items():
            load.add_metric([name, version], stats.load_seconds)
            memory.add_metric([name, version], stats.memory_bytes)
        yield load
        yield memory
        jobs = GaugeMetricFamily("nlpipe_jobs", "Jobs by status.", labels=["status"])
        store = getattr(self.state, "store", None)
        if store is not None:
            try:
                for status, n in count_by_status(store).items():
                    jobs.add_metric([status], n)
            except Exception as exc:  # the database is down: the scrape still answers (and /health/ready says so)
                log.warning("jobs not counted for /metrics: %s", exc)
        yield jobs


def _route(scope: Scope) -> str:
    """The matched route's template (``/v1/models/{name}:predict``), so metrics stay few; "unmatched" otherwise."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


def _error_code(body: bytes) -> str | None:
    try:
        error = json.loads(body)["error"]
        code = error["code"]
    except (ValueError, KeyError, TypeError):
        return None
    return code if isinstance(code, str) else None


class Observe:
    """The outermost middleware: request id, access log, request metrics (see the module docstring)."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope.get("headers") or [])
        REQUEST_ID.set(request_id)  # this request's task only (each request runs in a task of its own)
        notes: dict[str, str | None] = {}
        scope[NOTES] = notes
        started = time.perf_counter()
        status = 0
        error_body = bytearray()

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", request_id.encode())]}
            elif message["type"] == "http.response.body" and status >= 400 and len(error_body) < _ERROR_BODY_BYTES:
                error_body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            status = status or 500  # the error handler outside this middleware answers
            raise
        finally:
            self._done(scope, request_id, status or 500, time.perf_counter() - started, notes, error_body)

    def _done(
        self, scope: Scope, request_id: str, status: int, seconds: float, notes: dict[str, str | None], body: bytearray
    ) -> None:
        route, method = _route(scope), scope["method"]
        self.metrics.latency.labels(method, route, str(status)).observe(seconds)
        code = _error_code(bytes(body)) if status >= 400 else None
        if status >= 400:
            self.metrics.errors.labels(code or f"http-{status}", str(status)).inc()
        client = scope.get("client")
        access_log.info(
            "%s %s %d %.1f ms", method, scope.get("path", ""), status, seconds * 1000,
            extra={"request_id": request_id, "method": method, "route": route, "path": scope.get("path", ""),
                   "status": status, "code": code, "latency_ms": round(seconds * 1000, 3), "model": notes.get("model"),
                   "key": notes.get("key"), "client": client[0] if client else None},
        )  # fmt: skip
