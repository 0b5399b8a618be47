"""The floor for benchmarks/serve.py: a bare FastAPI app on uvicorn that calls the same loaded scikit-learn model.

    NLPIPE_MODELS_DIR=DIR python -m uvicorn benchmarks.serve_bare:app --workers 2 --port PORT

``POST /predict`` takes ``{"text": ...}`` or ``{"texts": [...]}`` and answers each text's labels and scores,
as nlpipe's ``:predict`` does, but with nothing around it: no keys, no limits, no logs, no metrics, no checks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

from nlpipe.predict import load_predictor

MODEL = os.environ.get("BENCH_MODEL", "agnews")
predictor: Any = load_predictor(Path(os.environ["NLPIPE_MODELS_DIR"]), MODEL)
model = predictor.model  # the scikit-learn pipeline itself
labels = list(predictor.labels)
app = FastAPI()


class Body(BaseModel):
    text: str | None = None
    texts: list[str] | None = None


@app.post("/predict")
def predict(body: Body) -> dict[str, Any]:
    texts = [body.text] if body.text is not None else list(body.texts or [])
    proba = model.predict_proba(texts)
    out = []
    for row in proba:
        order = np.argsort(-row)[:5]
        out.append({"predicted": [labels[order[0]]],
                    "labels": [{"label": labels[i], "score": round(float(row[i]), 6)} for i in order]})  # fmt: skip
    return {"predictions": out}
