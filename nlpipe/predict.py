"""Predictors: one loaded model -> predictions for texts, in batches.

:func:`load_predictor` / :func:`predictor_for` pick the predictor class for a model's task: :class:`Predictor`
here for classification; sentiment and entity models bring their own (``Predictor`` in
``nlpipe.tasks.sentiment.predictor`` / ``nlpipe.tasks.entities.task``), built on :class:`BasePredictor`. Every
predictor's
``predict(texts, **options)`` returns one :class:`~nlpipe.types.Prediction` per text and refuses an option its
task does not have (E415).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlpipe import artifacts
from nlpipe.errors import ArtifactError, InputError
from nlpipe.types import Document, LabelScore, Prediction


class BasePredictor:
    """What every task's predictor shares: the loaded model, its name and version, option checks, describe().

    Subclasses set ``task`` and ``options`` (the keyword options their ``predict`` takes) and implement
    ``predict``. Thread-safe for concurrent ``predict`` calls as long as the model's state is read-only.
    """

    task = "classify"
    options: tuple[str, ...] = ()

    def __init__(self, loaded: artifacts.LoadedModel) -> None:
        self.loaded = loaded
        self.meta = loaded.meta
        self.model = loaded.model
        self.labels: list[str] = list(self.meta.get("labels") or [])

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def version(self) -> str:
        return self.loaded.version

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Drop unset options (None / False); refuse set ones this task does not take (E415)."""
        given = {k: v for k, v in options.items() if v is not None and v is not False}
        for key in given:
            if key not in self.options:
                takes = ", ".join(self.options) or "none"
                raise InputError(
                    "E415",
                    f"Model {self.name!r} is a {self.task} model; option {key!r} does not apply to it "
                    f"(its options: {takes}).",
                    field=key,
                )
        return given

    def predict(self, texts: Sequence[str], **options: Any) -> list[Prediction]:
        raise NotImplementedError

    def predict_documents(self, docs: Sequence[Document], **options: Any) -> list[Prediction]:
        """Predictions for read documents (``predict --file``, ``:predictFile``). Tasks that use the pages and
        word boxes (entities give each span its page and box) override it; the rest predict on the text."""
        return self.predict([d.text for d in docs], **options)

    def describe(self) -> dict[str, Any]:
        meta = self.meta
        return {
            "name": meta["name"],
            "version": meta["version"],
            "task": meta.get("task"),
            "labels": self.labels,
            "multi_label": bool(meta.get("multi_label", False)),
            "metrics": meta.get("metrics"),
            "created_at": meta.get("created_at"),
        }


def check_texts(texts: Sequence[object]) -> None:
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InputError("E413", f"Text {i} is {type(t).__name__}, not a string.", field=f"texts[{i}]")


def predictor_for(loaded: artifacts.LoadedModel) -> BasePredictor:
    """The predictor for a loaded model, chosen by the task in its meta.json."""
    task = str(loaded.meta.get("task") or "classify")
    if task == "classify":
        return Predictor(loaded)
    from nlpipe.train import TASK_MODULES

    if task not in TASK_MODULES:
        raise ArtifactError("E416", f"{loaded.path} is a model for task {task!r}, which this nlpipe does not know.")
    return importlib.import_module(TASK_MODULES[task]).Predictor(loaded)


def load_predictor(models_dir: Path, name: str, version: str | None = None) -> BasePredictor:
    return predictor_for(artifacts.load(artifacts.resolve(models_dir, name, version)))


class Predictor(BasePredictor):
    """Classification: label scores per text, with top-k, thresholds and word-level explanations."""

    task = "classify"
    options = ("top_k", "threshold", "explain", "explain_terms", "batch_size")

    def __init__(self, loaded: artifacts.LoadedModel) -> None:
        super().__init__(loaded)
        self.labels = list(self.meta["labels"])
        self.multi_label: bool = bool(self.meta.get("multi_label", False))
        self.thresholds = np.asarray(self.meta.get("thresholds") or [0.5] * len(self.labels), dtype=float)

    @classmethod
    def load(cls, models_dir: Path, name: str, version: str | None = None) -> Predictor:
        return cls(artifacts.load(artifacts.resolve(models_dir, name, version)))

    def predict(
        self,
        texts: Sequence[str],
        *,
        top_k: int | None = None,
        threshold: float | None = None,
        explain: bool = False,
        explain_terms: int = 10,
        batch_size: int = 256,
    ) -> list[Prediction]:
        """Score ``texts``.

        ``top_k`` limits the labels listed per text (default: all for up to 10 labels, else 10).
        ``threshold`` overrides the decision rule (argmax, or per-label thresholds for multi-label): every
        label scoring at least ``threshold`` is predicted, which may be none.
        """
        if top_k is not None and top_k < 1:
            raise InputError("E411", f"top_k must be a positive integer, got {top_k}.", field="top_k")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise InputError("E412", f"threshold must be between 0 and 1, got {threshold}.", field="threshold")
        check_texts(texts)
        k = top_k or (len(self.labels) if len(self.labels) <= 10 else 10)
        out: list[Prediction] = []
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            proba = self.model.predict_proba(batch) if batch else np.zeros((0, len(self.labels)))
            for text, row in zip(batch, proba, strict=True):
                out.append(self._one(text, row, k, threshold, explain, explain_terms))
        return out

    def _one(
        self, text: str, row: np.ndarray, k: int, threshold: float | None, explain: bool, n_terms: int
    ) -> Prediction:
        order = np.argsort(-row, kind="stable")
        if threshold is not None:
            predicted = [self.labels[i] for i in order if row[i] >= threshold]
        elif self.multi_label:
            predicted = [self.labels[i] for i in order if row[i] >= self.thresholds[i]]
        else:
            predicted = [self.labels[order[0]]]
        shown = [int(i) for i in order[:k]]
        for lab in predicted:  # a predicted label is always listed with its score
            j = self.labels.index(lab)
            if j not in shown:
                shown.append(j)
        scores = []
        for i in shown:
            terms = None
            if explain and self.labels[i] in predicted:
                terms = self.model.explain(text, self.labels[i], k=n_terms)
            scores.append(LabelScore(self.labels[i], float(row[i]), terms))
        return Prediction(labels=scores, predicted=predicted)
