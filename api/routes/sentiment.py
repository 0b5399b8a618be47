"""Sentiment from the VADER lexicon, with no trained model: ``POST /v1/sentiment:predict``.

Trained sentiment models answer at ``POST /v1/models/{name}:predict`` like every other model; both return the
same ``sentiment`` shape (README "Sentiment").
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.deps import PredictAuth, SettingsDep
from api.limits import GateDep
from api.observe import answered
from api.schemas import LexiconRequest, PredictResponse
from nlpipe.predict import predict_inputs

router = APIRouter(prefix="/v1", tags=["sentiment"])


@router.post("/sentiment:predict", response_model=PredictResponse, response_model_exclude_none=True)
async def predict_lexicon(
    request: Request, body: LexiconRequest, settings: SettingsDep, _auth: PredictAuth, gate: GateDep
) -> dict:
    """Sentiment of each text from the VADER lexicon (model ``lexicon``, version ``vader-<release>``); each text at
    most NLPIPE_MAX_DOCUMENT_BYTES (E613)."""
    from nlpipe.tasks.sentiment.predictor import lexicon_predictor

    texts = body.texts_within(settings.max_batch_texts)

    def work() -> dict:
        run = predict_inputs(lexicon_predictor(), texts=texts, settings=settings, options={"sentences": body.sentences})
        return {"model": run.model, "version": run.version, "predictions": list(run.rows())}

    return answered(request, await gate.run(work))
