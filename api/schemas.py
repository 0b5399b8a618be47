"""Request and response shapes of the HTTP API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nlpipe.errors import LimitError


class Health(BaseModel):
    status: str
    version: str
    models_loaded: int


class Check(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: str = Field(description="ready, or not-ready (with status 503).")
    checks: dict[str, Check] = Field(description="store: the database answers; models: the serving models loaded.")


class ModelError(BaseModel):
    code: str
    message: str


class ModelSummary(BaseModel):
    name: str
    version: str
    task: str | None
    aliases: list[str]
    labels: int
    accuracy: float | None
    macro_f1: float | None
    created_at: str | None
    error: ModelError | None = Field(
        default=None, description="Why this version cannot be served (listed, not loaded), when it cannot."
    )


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
OPTION_FIELDS = ("top_k", "threshold", "explain", "sentences")


# The text/texts rule as JSON Schema: exactly one of the two is given (not null).
ONE_OF_TEXT_TEXTS: dict[str, Any] = {
    "oneOf": [
        {"required": ["text"], "properties": {"text": {"type": "string"}, "texts": {"type": "null"}}},
        {"required": ["texts"], "properties": {"texts": {"type": "array"}, "text": {"type": "null"}}},
    ]
}


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable error code (see the README's error code table).", pattern=r"^E[0-9]{3}$")
    message: str = Field(description="What went wrong and how to fix it.")
    details: dict[str, Any] = Field(description="Machine-readable context: field, file, limit, ...")
    request_id: str | None = Field(description="The request's id, as in the X-Request-ID header and the server log.")


class ErrorOut(BaseModel):
    """The one shape of every error response."""

    error: ErrorDetail


class RequestBody(BaseModel):
    """A request body: a field it does not have is refused (422 E606 naming it), never ignored -- a misspelt
    option (``topk``) would otherwise be dropped without a word."""

    model_config = ConfigDict(extra="forbid")


class TextsIn(RequestBody):
    """A request body that carries exactly one of ``text`` or ``texts``."""

    model_config = ConfigDict(json_schema_extra=ONE_OF_TEXT_TEXTS, extra="forbid")

    text: str | None = Field(None, description="One text. Give exactly one of text or texts.")
    texts: list[str] | None = Field(
        None, description="Several texts, at most NLPIPE_MAX_BATCH_TEXTS (default 1000; more: E607, HTTP 413)."
    )

    @model_validator(mode="after")
    def _one_of(self) -> TextsIn:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' or 'texts'")
        return self

    @property
    def all_texts(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])

    def texts_within(self, limit: int) -> list[str]:
        """The texts, or E607 when there are more than ``limit`` (``NLPIPE_MAX_BATCH_TEXTS``)."""
        texts = self.all_texts
        if len(texts) > limit:
            raise LimitError(
                "E607",
                f"{len(texts)} texts in one request; the limit is {limit} (NLPIPE_MAX_BATCH_TEXTS). Split the request.",
                field="texts",
            )
        return texts


class PredictRequest(TextsIn):
    version: str | None = Field(None, description="Version or alias; default production, else newest.")
    top_k: int | None = Field(None, ge=1, description="How many labels to list per text.")
    threshold: float | None = Field(None, ge=0.0, le=1.0, description="Predict every label scoring at least this.")
    explain: bool = Field(False, description="List the terms that pushed each predicted label up.")
    sentences: bool = Field(False, description="Sentiment models: add each sentence's sentiment with its offsets.")
    strict: bool = Field(
        False,
        description="Refuse options the model's task does not take (422 E415) instead of ignoring them with a "
        "W415 entry in `warnings`.",
    )

    def options(self) -> dict[str, Any]:
        """The task options set in the request (see ``strict`` for the ones a task does not take)."""
        return {k: getattr(self, k) for k in OPTION_FIELDS}


class Term(BaseModel):
    term: str
    weight: float


class LabelScoreOut(BaseModel):
    label: str
    score: float
    terms: list[Term] | None = None


class SpanOut(BaseModel):
    start: int = Field(description="First character of the entity (0-based).")
    end: int = Field(description="Character after the entity (end exclusive).")
    label: str = Field(description="Entity type (layout models: the field).")
    source: str = Field(description="model (the statistical recogniser) or rule (an entity list).")
    score: float | None = Field(None, description="Mean marginal probability of the entity's tags (rules: 1).")
    text: str | None = Field(None, description="The entity's text.")
    page: int | None = Field(None, description="PDF/image uploads: 1-based page of the entity.")
    bbox: list[float] | None = Field(None, description="PDF/image uploads: [x0, top, x1, bottom] in PDF points.")


class SentenceSentimentOut(BaseModel):
    start: int = Field(description="First character of the sentence (0-based).")
    end: int = Field(description="Character after the sentence (end exclusive).")
    label: str = Field(description="Predicted label; on a scale the score as a string.")
    score: int | float | None = Field(None, description="Scale: the score 0..N; polarity labels and lexicon: -1..1.")
    confidence: float = Field(description="Probability of the label (lexicon: strength within the label's range).")
    magnitude: float = Field(description="0..1: how opinionated, regardless of direction (VADER neg + pos).")


class SentimentOut(BaseModel):
    kind: Literal["categorical", "scale", "lexicon"]
    label: str = Field(description="Predicted label; on a scale the score as a string.")
    score: int | float | None = Field(
        None,
        description="Scale: the score 0..N. Labels negative/neutral/positive: P(positive) - P(negative). Lexicon: "
        "VADER's compound score. Absent for other label sets.",
    )
    confidence: float = Field(description="Probability of the label (lexicon: strength within the label's range).")
    magnitude: float = Field(description="0..1: how opinionated, regardless of direction (VADER neg + pos).")
    scale: int | None = Field(None, description="Scale models: N (scores run 0..N).")
    aggregated: bool = Field(description="True when the document's sentiment is the mean over its sentences.")
    sentences: list[SentenceSentimentOut] | None = Field(None, description="With sentences=true.")


class PredictionOut(BaseModel):
    source: str | None = Field(None, description="The document's source (file uploads only).")
    predicted: list[str]
    labels: list[LabelScoreOut]
    spans: list[SpanOut] | None = Field(
        None, description="Entity models: the entities found; layout models: the fields found; in text order."
    )
    sentiment: SentimentOut | None = Field(None, description="Sentiment models: the document's sentiment.")


class FailureOut(BaseModel):
    source: str
    code: str
    message: str


class WarningOut(BaseModel):
    code: str = Field(description="W415: an option the model's task does not take, ignored.")
    field: str
    message: str


class PredictResponse(BaseModel):
    model: str
    version: str
    predictions: list[PredictionOut]
    warnings: list[WarningOut] | None = Field(None, description="What was ignored in the request, and why.")
    failures: list[FailureOut] | None = Field(None, description="Files in an uploaded archive that could not be read.")
    skipped: list[FailureOut] | None = Field(
        None,
        description="predictFile: files in an uploaded archive left out on purpose (links, unsafe paths, hidden "
        "files, images with OCR off), each with its code and why.",
    )


class PromoteRequest(RequestBody):
    version: str
    alias: str = "production"


class RollbackRequest(RequestBody):
    alias: str = Field("production", description="The alias to move back to its version before its latest promote.")


class AliasesOut(BaseModel):
    name: str
    aliases: dict[str, str]


class SpanIn(RequestBody):
    start: int = Field(description="First character of the span (0-based).")
    end: int = Field(description="Character after the span (end exclusive).")
    label: str = Field(description="Entity type.")


class AnnotationsIn(RequestBody):
    labels: list[str] = Field(default_factory=list, description="Document labels to add.")
    spans: list[SpanIn] = Field(default_factory=list, description="Entity spans to add.")


class ReviewIn(RequestBody):
    decision: Literal["accept", "reject"]
    kind: Literal["label", "span"] = "label"
    label: str
    source: Literal["rule", "model", "import"] = Field(description="Who made the pre-annotation.")
    start: int | None = Field(None, description="Spans only.")
    end: int | None = Field(None, description="Spans only.")


class LexiconRequest(TextsIn):
    """``POST /v1/sentiment:predict``: sentiment from the VADER lexicon, no trained model needed."""

    sentences: bool = Field(False, description="Add each sentence's sentiment with its offsets.")


class BatchIn(RequestBody):
    """``POST /v1/batch``'s fields (the multipart form's text fields, or the JSON object)."""

    path: str | None = Field(
        None,
        description="A file or folder on the server, relative to NLPIPE_BATCH_ROOT (it must stay inside once "
        "resolved, symlinks included). Give this or upload `file`, not both.",
    )
    models: list[str] = Field(
        min_length=1,
        max_length=20,
        description="NAME or NAME@VERSION (or NAME@alias); several for one pass. Pinned to versions when the job is "
        "created.",
    )
    format: Literal["jsonl", "csv", "parquet"] = Field("jsonl", description="The results file's format.")
    split_on: str | None = Field(None, description="Regular expression cutting plain-text inputs into items.")
    text_cols: list[str] = Field(
        default_factory=list, description="CSV/JSONL: the text column(s), joined (default: text)."
    )
    id_col: str | None = Field(None, description="CSV/JSONL: the id column (default: id, else the line).")
    no_header: bool = Field(False, description="CSV: no header row; columns are named by position (1, 2, ...).")
    ocr: Literal["auto", "always", "never"] = Field("auto", description="OCR of scanned pages and images.")
    top_k: int | None = Field(None, ge=1, le=1000, description="Labels listed per document (classification).")
