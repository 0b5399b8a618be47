"""Entity models through the HTTP API (FastAPI's TestClient): spans in predict and predictFile responses."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from nlpipe.predict import load_predictor
from tests.api.test_api import assert_error

TEXT = "Maria Okafor joined Alder Telecom in Dublin."


@pytest.fixture
def client(trained_entities):
    with TestClient(create_app(trained_entities)) as c:
        yield c


def test_api_entities_predict_returns_spans(client, trained_entities):
    r = client.post("/v1/models/ents:predict", json={"texts": [TEXT, "Rain is expected on the weekend."]})
    assert r.status_code == 200, r.text
    first, second = r.json()["predictions"]
    assert [(s["text"], s["label"], s["start"], s["end"]) for s in first["spans"]] == [
        ("Maria Okafor", "PER", 0, 12),
        ("Alder Telecom", "ORG", 20, 33),
        ("Dublin", "LOC", 37, 43),
    ]
    assert all(s["source"] == "model" and 0 < s["score"] <= 1 and "page" not in s for s in first["spans"])
    assert first["predicted"] == ["LOC", "ORG", "PER"] and first["labels"] == []
    assert "spans" not in second or second["spans"] == []
    expected = load_predictor(trained_entities.models_dir, "ents").predict([TEXT])[0]
    assert [s["score"] for s in first["spans"]] == pytest.approx([s.score for s in expected.spans])


def test_api_entities_model_detail_and_threshold(client):
    detail = client.get("/v1/models/ents").json()
    assert detail["task"] == "entities" and "ORG" in detail["labels"] and detail["metrics"]["micro_f1"] > 0.9
    r = client.post("/v1/models/ents:predict", json={"text": TEXT, "threshold": 1.0})
    assert r.status_code == 200 and not r.json()["predictions"][0].get("spans")
    assert_error(client.post("/v1/models/ents:predict", json={"text": TEXT, "top_k": 2, "strict": True}), 422, "E415")
    r = client.post("/v1/models/ents:predict", json={"text": TEXT, "top_k": 2})  # ignored, with a warning
    assert r.status_code == 200 and r.json()["warnings"][0]["field"] == "top_k" and r.json()["predictions"][0]["spans"]


def test_api_entities_predict_file_pdf_gives_page_and_box(client):
    from tests.pdfgen import Placed, text_pdf

    pdf = text_pdf([[Placed("Cover page", 72, 72)], [Placed(TEXT, 100, 300)]])
    r = client.post("/v1/models/ents:predictFile", files={"file": ("letter.pdf", pdf)})
    assert r.status_code == 200, r.text
    [pred] = r.json()["predictions"]
    org = next(s for s in pred["spans"] if s["label"] == "ORG")
    assert org["text"] == "Alder Telecom" and org["page"] == 2
    x0, y0, x1, y1 = org["bbox"]
    assert 150 < x0 < x1 < 320 and 285 <= y0 < y1 <= 303
