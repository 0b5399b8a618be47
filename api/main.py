"""The FastAPI application: ``create_app(settings)`` builds it; ``nlpipe serve`` runs it with uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline

import nlpipe
from api import errors, limits, openapi, ratelimit
from api.batch_workers import BatchWorkers
from api.deps import KeyRing
from api.model_cache import ModelCache
from api.observe import Metrics, Observe
from api.routes import batch, datasets, health, jobs, labeling, models, sentiment
from nlpipe.batch.jobs import resumable_jobs
from nlpipe.config import Settings, get_settings
from nlpipe.store.db import open_store
from nlpipe.store.staging import sweep_staging
from nlpipe.train import reconcile_models


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.store = open_store(settings)
        app.state.keys = KeyRing(app.state.store, settings)
        sweep_staging(app.state.store, settings.home)  # jobs of a server that stopped: failed (E235), files removed
        reconcile_models(app.state.store, settings, fix=True, prune=False)  # rows for folders; stale saves swept
        app.state.models.preload()  # a model that fails to load is logged; the others serve
        app.state.models.watch(settings.model_refresh_seconds)  # promotes and rollbacks served within seconds
        app.state.batch = BatchWorkers(app.state.store, settings)
        for job_id in resumable_jobs(app.state.store, settings):  # batch jobs of a server that stopped: continued
            app.state.batch.submit(job_id)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(app.state.batch.stop)  # workers give their jobs back, to be continued
            await anyio.to_thread.run_sync(app.state.models.stop)
            app.state.store.close()

    app = FastAPIOffline(  # /docs and /redoc with their scripts served from the installed package, not a CDN
        static_url="/docs-assets",
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from validator.swagger.io
        title="nlpipe",
        version=nlpipe.__version__,
        description="Text classification: datasets, document uploads, models and predictions. Routes need an "
        "X-API-Key with their scope (predict, read, label, ingest, train, admin) once any key exists.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.models = ModelCache(
        settings.models_dir,
        max_loaded=settings.max_loaded_models,
        max_bytes=settings.max_model_bytes,
        max_memory=settings.max_loaded_model_bytes,
    )
    errors.install(app)
    ratelimit.install(app, settings)
    app.include_router(health.router)
    app.include_router(models.router)
    app.include_router(sentiment.router)
    app.include_router(datasets.router)
    app.include_router(jobs.router)
    app.include_router(batch.router)
    app.include_router(labeling.router)
    limits.install(app, settings)  # work off the event loop, bounded; body size and Host checks
    app.state.metrics = Metrics()
    app.state.metrics.watch(app.state)
    if settings.cors_origins:  # browsers' preflight OPTIONS answered, and answers readable by those origins
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["X-API-Key", "X-Annotator", "X-Request-ID", "Content-Type"],
            expose_headers=["X-Request-ID", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(Observe, metrics=app.state.metrics)  # added last: outermost (request id, access log)
    openapi.install(app)
    return app
