"""Sentiment over HTTP (TestClient): trained models at /v1/models/{name}:predict, the lexicon at
/v1/sentiment:predict with no model at all."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from nlpipe.predict import load_predictor
from tests.api.test_api import assert_error
from tests.conftest import make_settings

MIXED = "The courier was rude and the box was crushed. Support fixed it fast, thank you!"


@pytest.fixture
def client(trained_sentiment):
    with TestClient(create_app(trained_sentiment.model_copy(update={"max_batch_texts": 3}))) as c:
        yield c


@pytest.fixture
def bare_client(tmp_path):
    """An API with no models at all."""
    with TestClient(create_app(make_settings(tmp_path, max_batch_texts=3))) as c:
        yield c


def test_api_sentiment_model_predicts_the_documented_shape(client, trained_sentiment):
    r = client.post("/v1/models/feedback-sentiment:predict", json={"texts": [MIXED, "Love it, brilliant app!"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "feedback-sentiment" and body["version"] == "v1"
    first, second = body["predictions"]
    assert set(first["sentiment"]) == {"kind", "label", "score", "confidence", "magnitude", "aggregated"}
    assert first["predicted"] == [first["sentiment"]["label"]] and second["sentiment"]["label"] == "positive"
    expected = load_predictor(trained_sentiment.models_dir, "feedback-sentiment").predict([MIXED])[0].sentiment
    assert first["sentiment"] == pytest.approx(expected)
    assert {x["label"] for x in first["labels"]} == {"negative", "neutral", "positive"}


def test_api_sentiment_sentences_with_offsets(client):
    r = client.post("/v1/models/feedback-sentiment:predict", json={"text": MIXED, "sentences": True})
    assert r.status_code == 200, r.text
    sents = r.json()["predictions"][0]["sentiment"]["sentences"]
    assert [MIXED[s["start"] : s["end"]] for s in sents] == [
        "The courier was rude and the box was crushed.",
        "Support fixed it fast, thank you!",
    ]
    assert [s["label"] for s in sents] == ["negative", "positive"]


def test_api_sentiment_scale_model_gives_integer_scores(client):
    r = client.post("/v1/models/ratings:predict", json={"text": "Fantastic quality, I love it!"})
    s = r.json()["predictions"][0]["sentiment"]
    assert s["kind"] == "scale" and s["scale"] == 4 and s["score"] == int(s["label"]) and isinstance(s["score"], int)
    detail = client.get("/v1/models/ratings").json()
    assert detail["task"] == "sentiment" and detail["labels"] == ["0", "1", "2", "3", "4"]
    assert "kappa_quadratic" in detail["metrics"]


def test_api_sentiment_option_of_another_task_is_refused_when_strict(client):
    r = client.post("/v1/models/feedback-sentiment:predict", json={"text": "fine", "top_k": 1, "strict": True})
    error = assert_error(r, 422, "E415")
    assert error["details"]["field"] == "top_k"


def test_api_sentiment_predict_file_with_sentences(client):
    r = client.post(
        "/v1/models/feedback-sentiment:predictFile",
        files={"file": ("note.txt", MIXED.encode())},
        data={"sentences": "true"},
    )
    assert r.status_code == 200, r.text
    [pred] = r.json()["predictions"]
    assert pred["source"] == "note.txt" and len(pred["sentiment"]["sentences"]) == 2


def test_api_lexicon_works_with_no_model(bare_client):
    assert bare_client.get("/v1/models").json() == []
    r = bare_client.post("/v1/sentiment:predict", json={"texts": ["I love it!", "Awful.", "The train leaves at 5"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "lexicon" and body["version"].startswith("vader-")
    sentiments = [p["sentiment"] for p in body["predictions"]]
    assert [s["label"] for s in sentiments] == ["positive", "negative", "neutral"]
    assert all(s["kind"] == "lexicon" and -1 <= s["score"] <= 1 for s in sentiments)
    r = bare_client.post("/v1/sentiment:predict", json={"text": MIXED, "sentences": True})
    sents = r.json()["predictions"][0]["sentiment"]["sentences"]
    assert [(s["start"], s["end"]) for s in sents] == [(0, 45), (46, len(MIXED))]


def test_api_lexicon_request_errors(bare_client):
    assert_error(bare_client.post("/v1/sentiment:predict", json={"text": "x", "top_k": 2}), 422, "E606")
    assert_error(bare_client.post("/v1/sentiment:predict", json={"text": "x", "texts": ["y"]}), 422, "E606")
    assert_error(bare_client.post("/v1/sentiment:predict", json={"texts": ["a", "b", "c", "d"]}), 413, "E607")
