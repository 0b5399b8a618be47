"""Request and response shapes of the HTTP API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, model_validator


class Health(BaseModel):
    status: str
    version: str
    models_loaded: int


class ModelSummary(BaseModel):
    name: str
    version: str
    task: str | None
    aliases: list[str]
    labels: int
    accuracy: float | None
    macro_f1: float | None
    created_at: str | None


class ModelDetail(BaseModel):
    name: str
    version: str
    task: str | None
    labels: list[str]
    multi_label: bool
    metrics: dict[str, Any] | None
    created_at: str | None
    versions: list[str]
    aliases: dict[str, str]


# PredictRequest fields that are task options, passed to the predictor as keywords.
OPTION_FIELDS = ("top_k", "threshold", "explain")


class PredictRequest(BaseModel):
    text: str | None = Field(None, description="One text to classify.")
    texts: list[str] | None = Field(None, description="Several texts to classify.")
    version: str | None = Field(None, description="Version or alias; default production, else newest.")
    top_k: int | None = Field(None, ge=1, description="How many labels to list per text.")
    threshold: float | None = Field(None, ge=0.0, le=1.0, description="Predict every label scoring at least this.")
    explain: bool = Field(False, description="List the terms that pushed each predicted label up.")

    @model_validator(mode="after")
    def _one_of(self) -> PredictRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' or 'texts'")
        return self

    @property
    def all_texts(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])

    def options(self) -> dict[str, Any]:
        """The task options set in the request (the predictor refuses ones its task does not take: E415)."""
        return {k: getattr(self, k) for k in OPTION_FIELDS}


class Term(BaseModel):
    term: str
    weight: float


class LabelScoreOut(BaseModel):
    label: str
    score: float
    terms: list[Term] | None = None


class PredictionOut(BaseModel):
    source: str | None = Field(None, description="The document's source (file uploads only).")
    predicted: list[str]
    labels: list[LabelScoreOut]


class FailureOut(BaseModel):
    source: str
    code: str
    message: str


class PredictResponse(BaseModel):
    model: str
    version: str
    predictions: list[PredictionOut]
    failures: list[FailureOut] | None = Field(None, description="Files in an uploaded archive that could not be read.")


class PromoteRequest(BaseModel):
    version: str
    alias: str = "production"


class AliasesOut(BaseModel):
    name: str
    aliases: dict[str, str]
