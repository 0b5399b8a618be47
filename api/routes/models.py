"""Model listing, details, promotion and prediction."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from api.deps import ApiKeyDep, ModelsDep, SettingsDep
from api.params import ModelName
from api.schemas import AliasesOut, ModelDetail, ModelSummary, PredictRequest, PredictResponse, PromoteRequest
from nlpipe import artifacts
from nlpipe.predict import predict_inputs

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=list[ModelSummary])
def list_models(settings: SettingsDep) -> list[dict]:
    return artifacts.list_models(settings.models_dir)


@router.get("/{name:model}", response_model=ModelDetail)  # no ":": x:predict is not a model name
def get_model(name: ModelName, settings: SettingsDep, models: ModelsDep, version: str | None = None) -> dict:
    predictor = models.get(name, version)
    return {
        **predictor.describe(),
        "versions": artifacts.versions(settings.models_dir, name),
        "aliases": artifacts.read_aliases(settings.models_dir, name),
    }


@router.post("/{name}:predict", response_model=PredictResponse, response_model_exclude_none=True)
def predict(name: ModelName, body: PredictRequest, settings: SettingsDep, models: ModelsDep) -> dict:
    texts = body.texts_within(settings.max_batch_texts)
    run = predict_inputs(models.get(name, body.version), texts=texts, options=body.options())
    return {"model": run.model, "version": run.version, "predictions": list(run.rows())}


@router.post("/{name}:predictFile", response_model=PredictResponse, response_model_exclude_none=True)
async def predict_file(
    name: ModelName,
    settings: SettingsDep,
    models: ModelsDep,
    file: Annotated[UploadFile, File(description="A document (text, HTML, DOCX, e-mail, PDF, image) or archive.")],
    version: Annotated[str | None, Form()] = None,
    top_k: Annotated[int | None, Form(ge=1)] = None,
    threshold: Annotated[float | None, Form(ge=0.0, le=1.0)] = None,
    explain: Annotated[bool, Form()] = False,
    sentences: Annotated[bool, Form(description="Sentiment models: each sentence's sentiment too.")] = False,
    ocr: Annotated[str | None, Form(description="auto, always or never.")] = None,
    password: Annotated[str | None, Form()] = None,
) -> dict:
    """Predict on an uploaded document; an archive gives one prediction per document inside."""
    predictor = models.get(name, version)
    data = await file.read()
    run = predict_inputs(
        predictor,
        file=data,
        settings=settings,
        name=file.filename or "upload",
        password=password,
        ocr=ocr,
        max_documents=settings.max_batch_texts,
        options={"top_k": top_k, "threshold": threshold, "explain": explain, "sentences": sentences},
    )
    return {
        "model": run.model,
        "version": run.version,
        "predictions": list(run.rows()),
        "failures": [f.__dict__ for f in run.failures],
    }


@router.post("/{name}:promote", response_model=AliasesOut)
def promote(name: ModelName, body: PromoteRequest, settings: SettingsDep, _key: ApiKeyDep) -> dict:
    aliases = artifacts.promote(settings.models_dir, name, body.version, body.alias)
    return {"name": name, "aliases": aliases}
