"""A document for review on the labeling page: its text and annotations, with a model's predictions suggested.

A suggestion is a pre-annotation the annotator can accept or reject: ``{"kind": "label", "label", "score",
"by"}`` for each label the model predicts (a classification model), ``{"kind": "span", "label", "start",
"end", "score", "by"}`` for each entity span (an entity model); ``by`` is ``["<model>@<version>"]``. The model
is passed in as a loaded predictor (duck-typed: ``name``, ``version``, and ``predict(texts)`` giving objects
with ``labels`` (each with ``label`` and ``score``), ``predicted`` and ``spans``), so this module does not
depend on the predict layer, like :mod:`nlpipe.label.queue`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nlpipe.store import annotations as store_annotations
from nlpipe.store.db import Store

__all__ = ["model_suggestions", "document_for_review"]


def model_suggestions(predictor: Any, text: str) -> list[dict[str, Any]]:
    """The predictor's labels and spans for ``text``, as suggestions."""
    [pred] = predictor.predict([text])
    by = [f"{predictor.name}@{predictor.version}"]
    scores = {ls.label: ls.score for ls in pred.labels}  # document labels (an entity model has none)
    suggestions = [
        {"kind": "label", "label": lab, "score": scores[lab], "by": by} for lab in pred.predicted if lab in scores
    ]
    suggestions += [
        {"kind": "span", "label": sp.label, "start": sp.start, "end": sp.end, "score": sp.score, "by": by}
        for sp in pred.spans
    ]
    return suggestions


def document_for_review(
    store: Store,
    dataset: str,
    document_id: int,
    *,
    annotator: str | None = None,
    model: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """The document as :func:`nlpipe.store.annotations.get_document` gives it (text, the ``annotator``'s own
    annotations, the pre-annotations to review), with the suggestions of the predictor ``model()`` returns.

    ``model`` is called only once the document is found, so an unknown dataset or document is reported before a
    model that cannot be loaded.
    """
    suggestions: list[dict[str, Any]] = []
    with store.session() as s:
        text = store_annotations.get_document(s, dataset, document_id)["text"]
    if model is not None:
        suggestions = model_suggestions(model(), text)
    with store.session() as s:
        return store_annotations.get_document(s, dataset, document_id, annotator=annotator, suggestions=suggestions)
