"""Predictors: one loaded model -> predictions for texts, in batches.

:func:`load_predictor` / :func:`predictor_for` build the predictor of a model's task (its ``predictor`` class in
:mod:`nlpipe.tasks.registry`: ``ClassifyPredictor``, ``SentimentPredictor``, ``EntityPredictor``,
``LayoutPredictor``, ...), all built on :class:`~nlpipe.tasks.base.BasePredictor`. Every predictor's
``predict(texts, **options)`` returns one :class:`~nlpipe.types.Prediction` per text and refuses an option its
task does not have (E415).
"""

from __future__ import annotations

from pathlib import Path

from nlpipe import artifacts
from nlpipe.tasks import registry
from nlpipe.tasks.base import BasePredictor, LoadedModel

__all__ = ["predictor_for", "load_predictor"]


def predictor_for(loaded: LoadedModel) -> BasePredictor:
    """The predictor for a loaded model, chosen by the task in its meta.json (E416 for a task not known here)."""
    return registry.for_model(loaded.meta, loaded.path).predictor(loaded)


def load_predictor(models_dir: Path, name: str, version: str | None = None) -> BasePredictor:
    return predictor_for(artifacts.load(artifacts.resolve(models_dir, name, version)))
