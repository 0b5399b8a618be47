"""Model listing, details, promotion and prediction."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile

from api.deps import AdminAuth, ModelsDep, PredictAuth, SettingsDep
from api.limits import GateDep
from api.observe import answered
from api.params import ModelName, ModelSpec, model_spec
from api.schemas import (
    AliasesOut,
    ModelDetail,
    ModelSummary,
    PredictRequest,
    PredictResponse,
    PromoteRequest,
    RollbackRequest,
)
from nlpipe import artifacts
from nlpipe.predict import applicable_options, predict_inputs

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=list[ModelSummary])
def list_models(settings: SettingsDep, _auth: PredictAuth) -> list[dict]:
    return artifacts.list_models(settings.models_dir)


@router.get("/{name:model}", response_model=ModelDetail)  # no ":": x:predict is not a model name
def get_model(
    name: ModelName, settings: SettingsDep, models: ModelsDep, _auth: PredictAuth, version: str | None = None
) -> dict:
    predictor = models.get(name, version)
    return {
        **predictor.describe(),
        "versions": artifacts.versions(settings.models_dir, name),
        "aliases": artifacts.read_aliases(settings.models_dir, name),
    }


@router.post("/{name}:predict", response_model=PredictResponse, response_model_exclude_none=True)
async def predict(
    request: Request,
    name: ModelSpec,
    body: PredictRequest,
    settings: SettingsDep,
    models: ModelsDep,
    _auth: PredictAuth,
    gate: GateDep,
) -> dict:
    """Predict on ``text`` or ``texts`` (each at most NLPIPE_MAX_DOCUMENT_BYTES: E613), in a worker thread."""
    texts = body.texts_within(settings.max_batch_texts)
    name, version = model_spec(name, body.version)

    def work() -> dict:
        predictor = models.get(name, version)
        options, warnings = applicable_options(predictor, body.options(), strict=body.strict)
        run = predict_inputs(predictor, texts=texts, settings=settings, options=options)
        return {
            "model": run.model,
            "version": run.version,
            "predictions": list(run.rows()),
            "warnings": warnings or None,
        }

    return answered(request, await gate.run(work))


@router.post("/{name}:predictFile", response_model=PredictResponse, response_model_exclude_none=True)
async def predict_file(
    request: Request,
    name: ModelSpec,
    settings: SettingsDep,
    models: ModelsDep,
    _auth: PredictAuth,
    gate: GateDep,
    file: Annotated[UploadFile, File(description="A document (text, HTML, DOCX, e-mail, PDF, image) or archive.")],
    version: Annotated[str | None, Form()] = None,
    top_k: Annotated[int | None, Form(ge=1)] = None,
    threshold: Annotated[float | None, Form(ge=0.0, le=1.0)] = None,
    explain: Annotated[bool, Form()] = False,
    sentences: Annotated[bool, Form(description="Sentiment models: each sentence's sentiment too.")] = False,
    ocr: Annotated[str | None, Form(description="auto, always or never.")] = None,
    password: Annotated[str | None, Form()] = None,
    strict: Annotated[bool, Form(description="Refuse options the task does not take (E415), not ignore them.")] = False,
) -> dict:
    """Predict on an uploaded document; an archive gives one prediction per document inside, and lists the members
    that could not be read (``failures``) or were left out (``skipped``). Reading, OCR and prediction run in a
    worker thread, bounded by NLPIPE_REQUEST_TIMEOUT (504 E611) and NLPIPE_MAX_OCR_PAGES (413 E612)."""
    filename = file.filename or "upload"
    name, version = model_spec(name, version)

    def work() -> dict:
        predictor = models.get(name, version)
        given = {"top_k": top_k, "threshold": threshold, "explain": explain, "sentences": sentences}
        options, warnings = applicable_options(predictor, given, strict=strict)
        run = predict_inputs(
            predictor,
            file=file.file.read(),
            settings=settings,
            name=filename,
            password=password,
            ocr=ocr,
            max_documents=settings.max_batch_texts,
            options=options,
        )
        return {
            "model": run.model,
            "version": run.version,
            "predictions": list(run.rows()),
            "warnings": warnings or None,
            "failures": [f.__dict__ for f in run.failures],
            "skipped": [f.__dict__ for f in run.skipped],
        }

    return answered(request, await gate.run(work, filename))


@router.post("/{name}:promote", response_model=AliasesOut)
def promote(name: ModelName, body: PromoteRequest, settings: SettingsDep, _auth: AdminAuth) -> dict:
    aliases = artifacts.promote(settings.models_dir, name, body.version, body.alias)
    return {"name": name, "aliases": aliases}


@router.post(
    "/{name}:rollback",
    response_model=AliasesOut,
    responses={409: {"description": "E462: no promote of the alias to undo; E459: the aliases are locked."}},
)
def rollback(name: ModelName, body: RollbackRequest, settings: SettingsDep, _auth: AdminAuth) -> dict:
    """Point the alias back at its version before its latest promote (409 E462 when there is none to undo)."""
    _, _, aliases = artifacts.rollback(settings.models_dir, name, body.alias)
    return {"name": name, "aliases": aliases}
