"""Model suggestions for the labeling page, called directly on a real SQLite store."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from nlpipe.errors import NotFoundError
from nlpipe.label.suggest import document_for_review, model_suggestions
from nlpipe.predict import load_predictor
from nlpipe.store.datasets import load_dataset
from nlpipe.store.importing import import_records
from nlpipe.types import LabelScore, Prediction, Record, Span

TEXT = "Apple opened a new office in Berlin"


class FakeModel:
    """A duck-typed predictor: one label predicted of two scored, and one span."""

    name, version = "fake", "v3"

    def __init__(self) -> None:
        self.texts: list[list[str]] = []

    def predict(self, texts: list[str]) -> list[Prediction]:
        self.texts.append(texts)
        labels = [LabelScore("business", 0.8), LabelScore("sports", 0.2)]
        return [Prediction(labels=labels, predicted=["business", "missing"], spans=[Span(0, 5, "ORG", score=0.9)])]


@pytest.fixture
def doc_id(store) -> int:
    import_records(store, "d", [Record(text=TEXT, labels=[]), Record(text="Other text", labels=[])], create=True)
    with store.session() as s:
        data = load_dataset(s, "d", labeled_only=False)
    return next(i for i, t in zip(data.doc_ids, data.texts, strict=True) if t == TEXT)


def test_label_suggest_model_suggestions_shape():
    model = FakeModel()
    assert model_suggestions(model, TEXT) == [
        {"kind": "label", "label": "business", "score": 0.8, "by": ["fake@v3"]},  # "missing" has no score: left out
        {"kind": "span", "label": "ORG", "start": 0, "end": 5, "score": 0.9, "by": ["fake@v3"]},
    ]
    assert model.texts == [[TEXT]]


def test_label_suggest_document_for_review(store, doc_id):
    plain = document_for_review(store, "d", doc_id, annotator="bob")
    assert plain["text"] == TEXT and plain["pre_annotations"] == []
    got = document_for_review(store, "d", doc_id, annotator="bob", model=FakeModel)
    assert [(p["kind"], p["label"], p["source"], p["by"]) for p in got["pre_annotations"]] == [
        ("label", "business", "model", ["fake@v3"]),
        ("span", "ORG", "model", ["fake@v3"]),
    ]
    assert {k: v for k, v in got.items() if k != "pre_annotations"} == {
        k: v for k, v in plain.items() if k != "pre_annotations"
    }


def test_label_suggest_unknown_document_before_the_model(store, doc_id):
    loads = []
    with pytest.raises(NotFoundError):
        document_for_review(store, "d", doc_id + 100, model=lambda: loads.append(1) or SimpleNamespace())
    assert loads == []  # the model is not loaded for a document that does not exist


def test_label_suggest_with_a_trained_model(store, doc_id, trained):
    predictor = load_predictor(trained.models_dir, "news")
    got = document_for_review(store, "d", doc_id, model=lambda: predictor)
    assert got["pre_annotations"] and all(p["by"] == ["news@v1"] for p in got["pre_annotations"])
    assert {p["label"] for p in got["pre_annotations"]} <= set(predictor.labels)
