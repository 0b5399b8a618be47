"""The HTTP API through FastAPI's TestClient, on a model trained for the session."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from nlpipe.predict import load_predictor

SPORTS = "The striker scored twice as the home team won the cup final in extra time"


@pytest.fixture
def client(trained):
    settings = trained.model_copy(
        update={"api_keys": ["secret-key"], "max_request_bytes": 20_000, "max_batch_texts": 5}
    )
    with TestClient(create_app(settings), headers={"X-API-Key": "secret-key"}) as c:
        yield c


NO_KEY = {"X-API-Key": ""}  # overrides the client's key: the request goes without one


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "request_id"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def test_api_health_reports_loaded_models(client):
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["models_loaded"] == 1


def test_api_lists_and_describes_models(client):
    listed = client.get("/v1/models").json()
    assert [(m["name"], m["version"]) for m in listed] == [("news", "v1")]
    detail = client.get("/v1/models/news").json()
    assert sorted(detail["labels"]) == ["business", "politics", "science", "sports"]
    assert detail["versions"] == ["v1"] and detail["multi_label"] is False
    assert 0.0 <= detail["metrics"]["accuracy"] <= 1.0


def test_api_predict_one_text_matches_the_library(client, trained):
    r = client.post("/v1/models/news:predict", json={"text": SPORTS})
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == "news" and body["version"] == "v1"
    [pred] = body["predictions"]
    assert pred["predicted"] == ["sports"]
    expected = load_predictor(trained.models_dir, "news").predict([SPORTS])[0]
    assert [x["score"] for x in pred["labels"]] == pytest.approx([ls.score for ls in expected.labels], abs=1e-6)


def test_api_predict_a_list_with_top_k_and_explain(client):
    texts = [SPORTS, "Parliament passed the budget bill after a long debate among the senators"]
    r = client.post("/v1/models/news:predict", json={"texts": texts, "top_k": 2, "explain": True})
    preds = r.json()["predictions"]
    assert [p["predicted"] for p in preds] == [["sports"], ["politics"]]
    assert all(len(p["labels"]) == 2 for p in preds)
    terms = [t["term"] for t in preds[0]["labels"][0]["terms"]]
    assert terms and all(any(w in SPORTS.lower() for w in term.split()) for term in terms)


def test_api_predict_threshold(client):
    r = client.post("/v1/models/news:predict", json={"text": SPORTS, "threshold": 0.0})
    assert len(r.json()["predictions"][0]["predicted"]) == 4


def test_api_unknown_model_and_version(client):
    assert_error(client.post("/v1/models/nope:predict", json={"text": "x"}), 404, "E403")
    assert_error(client.get("/v1/models/news", params={"version": "v9"}), 404, "E404")
    assert_error(client.get("/v1/nothing-here"), 404, "E603")


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, ""),
        ({"text": "a", "texts": ["b"]}, ""),
        ({"text": 3}, "text"),
        ({"text": "a", "top_k": 0}, "top_k"),
        ({"text": "a", "threshold": 1.5}, "threshold"),
    ],
)
def test_api_invalid_predict_body(client, body, field):
    err = assert_error(client.post("/v1/models/news:predict", json=body), 422, "E606")
    assert err["details"]["errors"][0]["field"] == field


def test_api_malformed_json(client):
    r = client.post("/v1/models/news:predict", content=b"{not json", headers={"content-type": "application/json"})
    assert_error(r, 422, "E606")


def test_api_unparsable_multipart_body(client):
    r = client.post("/v1/models/news:predictFile", content=b"x", headers={"content-type": "multipart/form-data"})
    assert_error(r, 400, "E600")


def test_api_oversized_body_is_refused(client):
    err = assert_error(client.post("/v1/models/news:predict", json={"text": "x" * 30_000}), 413, "E605")
    assert "NLPIPE_MAX_REQUEST_BYTES" in err["message"]


def test_api_too_many_texts(client):
    err = assert_error(client.post("/v1/models/news:predict", json={"texts": ["a"] * 6}), 413, "E607")
    assert "limit is 5" in err["message"]


def test_api_promote_needs_an_api_key(client):
    assert_error(client.post("/v1/models/news:promote", json={"version": "v1"}, headers=NO_KEY), 401, "E601")
    r = client.post("/v1/models/news:promote", json={"version": "v1"}, headers={"X-API-Key": "wrong"})
    assert_error(r, 401, "E601")
    r = client.post("/v1/models/news:promote", json={"version": "v1"}, headers={"X-API-Key": "secret-key"})
    assert r.status_code == 200 and r.json()["aliases"] == {"production": "v1"}
    r = client.post("/v1/models/news:promote", json={"version": "v7"}, headers={"X-API-Key": "secret-key"})
    assert_error(r, 404, "E404")


def test_api_openapi_docs(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/models/{name}:predict" in paths and "/health" in paths
