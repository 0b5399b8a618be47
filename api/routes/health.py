"""Health for load balancers and orchestrators, and the Prometheus metrics.

``/health`` (and ``/health/live``): the process answers. ``/health/ready``: it can serve -- the store answers a
query and every serving model that was preloaded at start-up loaded -- else 503 with the checks that failed, so a
load balancer sends no traffic to a replica whose database is unreachable. ``/metrics``: the Prometheus text format
(:mod:`api.observe`); it needs a key with the ``read`` scope (in ``X-API-Key``, or ``Authorization: Bearer KEY`` as
Prometheus sends it) unless ``NLPIPE_METRICS_PUBLIC`` is set (a scraper on a private network).
"""

from __future__ import annotations

from typing import Annotated

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, Request, Security
from fastapi.responses import JSONResponse, Response
from fastapi.security import SecurityScopes
from prometheus_client import CONTENT_TYPE_LATEST

import nlpipe
from api.deps import ModelsDep, Principal, SettingsDep, StoreDep, api_key_header, authorize
from api.schemas import Check, Health, Readiness

router = APIRouter(tags=["health"])

#: Seconds /health/ready waits for the store before it calls it unreachable.
STORE_TIMEOUT = 5.0


@router.get("/health", response_model=Health)
@router.get("/health/live", response_model=Health)
def live(models: ModelsDep) -> Health:
    """The process is up and answering (what a liveness probe asks)."""
    return Health(status="ok", version=nlpipe.__version__, models_loaded=len(models))


@router.get("/health/ready", response_model=Readiness, responses={503: {"model": Readiness}})
async def ready(store: StoreDep, models: ModelsDep) -> JSONResponse:
    """The server can serve: the store answers and the serving models are loaded (what a readiness probe asks)."""
    checks: dict[str, Check] = {}
    try:
        with anyio.fail_after(STORE_TIMEOUT):
            await anyio.to_thread.run_sync(store.ping, abandon_on_cancel=True)
        checks["store"] = Check(ok=True, detail="the database answers")
    except TimeoutError:
        checks["store"] = Check(ok=False, detail=f"the database did not answer within {STORE_TIMEOUT:g} s")
    except Exception as exc:  # the driver's error (connection refused, file gone): named, without the URL
        checks["store"] = Check(ok=False, detail=f"the database cannot be reached ({type(exc).__name__})")
    failed = sorted(models.failed)
    loaded = ", ".join(f"{n}@{v}" for n, v in models.loaded()) or "none"
    checks["models"] = (
        Check(ok=False, detail=f"not loaded: {', '.join(failed)} (see the server log)")
        if failed
        else Check(ok=True, detail=f"loaded: {loaded}")
    )
    ok = all(c.ok for c in checks.values())
    body = Readiness(status="ready" if ok else "not-ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


def metrics_auth(
    security_scopes: SecurityScopes,
    request: Request,
    settings: SettingsDep,
    key: Annotated[str | None, Depends(api_key_header)],
) -> Principal | None:
    """``read``, as :func:`~api.deps.authorize` checks it, unless NLPIPE_METRICS_PUBLIC opens /metrics. The key may
    also come as ``Authorization: Bearer KEY``, what Prometheus sends for ``authorization: {credentials: KEY}``."""
    if settings.metrics_public:
        return None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if key is None and scheme.lower() == "bearer" and token.strip():
        key = token.strip()
    return authorize(security_scopes, request, settings, key)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}, "description": "Prometheus text format."}},
)
def metrics(request: Request, _auth: Annotated[Principal | None, Security(metrics_auth, scopes=["read"])]) -> Response:
    """Prometheus metrics: request latency by route and status, errors by code, predictions by model, version and
    label, loaded models' load time and memory, jobs by status."""
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
