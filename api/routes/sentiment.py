"""Sentiment from the VADER lexicon, with no trained model: ``POST /v1/sentiment:predict``.

Trained sentiment models answer at ``POST /v1/models/{name}:predict`` like every other model; both return the
same ``sentiment`` shape (README "Sentiment").
"""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import SettingsDep
from api.schemas import LexiconRequest, PredictResponse

router = APIRouter(prefix="/v1", tags=["sentiment"])


@router.post("/sentiment:predict", response_model=PredictResponse, response_model_exclude_none=True)
def predict_lexicon(body: LexiconRequest, settings: SettingsDep) -> dict:
    """Sentiment of each text from the VADER lexicon (model ``lexicon``, version ``vader-<release>``)."""
    from nlpipe.tasks.sentiment.predictor import lexicon_predictor

    texts = body.texts_within(settings.max_batch_texts)
    predictor = lexicon_predictor()
    preds = predictor.predict(texts, **predictor.check_options({"sentences": body.sentences}))
    return {"model": predictor.name, "version": predictor.version, "predictions": [p.to_dict() for p in preds]}
