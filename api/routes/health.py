from __future__ import annotations

from fastapi import APIRouter

import nlpipe
from api.deps import ModelsDep
from api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(models: ModelsDep) -> Health:
    return Health(status="ok", version=nlpipe.__version__, models_loaded=len(models))
