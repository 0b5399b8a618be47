"""Layout models through the HTTP API (FastAPI's TestClient): invoice fields with page and box from uploaded PDFs."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from nlpipe.ingest import documents_for_prediction
from nlpipe.predict import load_predictor
from tests.api.test_api import assert_error
from tests.conftest import make_zip
from tests.invoicegen import FIELDS, make_invoice


@pytest.fixture
def client(trained_layout):
    with TestClient(create_app(trained_layout)) as c:
        yield c


def test_api_layout_predict_file_returns_fields_with_page_and_box(client, trained_layout):
    inv = make_invoice("F", 50)
    r = client.post("/v1/models/invoices:predictFile", files={"file": ("invoice.pdf", inv.pdf)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "invoices" and body["failures"] == []
    [pred] = body["predictions"]
    assert pred["source"] == "invoice.pdf" and pred["labels"] == []
    assert pred["predicted"] == sorted(s["label"] for s in pred["spans"])
    for s in pred["spans"]:
        assert set(s) == {"start", "end", "label", "source", "score", "text", "page", "bbox"}
        assert s["page"] == 1 and len(s["bbox"]) == 4 and s["bbox"][0] < s["bbox"][2] and s["bbox"][1] < s["bbox"][3]
    # the same fields, scores and boxes as the library gives for the same file
    docs, _ = documents_for_prediction(inv.pdf, trained_layout, name="invoice.pdf")
    [expected] = load_predictor(trained_layout.models_dir, "invoices").predict_documents(docs)
    assert [(s["label"], s["text"], s["bbox"]) for s in pred["spans"]] == [
        (s.label, s.text, list(s.bbox)) for s in expected.spans
    ]
    assert [s["score"] for s in pred["spans"]] == pytest.approx([s.score for s in expected.spans])
    found = {s["label"]: s["text"] for s in pred["spans"]}
    assert sum(found.get(f) == inv.fields[f].text for f in FIELDS) >= 3, found


def test_api_layout_predict_file_reads_every_invoice_of_an_archive(client):
    first, second = make_invoice("A", 51), make_invoice("E", 52)
    archive = make_zip({"march/a.pdf": first.pdf, "march/b.pdf": second.pdf})
    r = client.post("/v1/models/invoices:predictFile", files={"file": ("invoices.zip", archive)})
    assert r.status_code == 200, r.text
    preds = {p["source"].rsplit("/", 1)[-1]: p for p in r.json()["predictions"]}
    assert set(preds) == {"a.pdf", "b.pdf"}
    totals = {k: next(s["text"] for s in p["spans"] if s["label"] == "total") for k, p in preds.items()}
    assert totals == {"a.pdf": first.fields["total"].text, "b.pdf": second.fields["total"].text}


def test_api_layout_model_detail(client):
    detail = client.get("/v1/models/invoices").json()
    assert detail["task"] == "layout" and sorted(detail["labels"]) == sorted(FIELDS)
    assert 0 < detail["metrics"]["micro_f1"] <= 1


def test_api_layout_refuses_texts_and_files_without_word_boxes(client):
    err = assert_error(client.post("/v1/models/invoices:predict", json={"text": "Invoice No 12"}), 422, "E440")
    assert "predictFile" in err["message"]
    r = client.post("/v1/models/invoices:predictFile", files={"file": ("note.txt", b"Invoice No 12\nTotal 5.00\n")})
    assert_error(r, 422, "E441")
    r = client.post("/v1/models/invoices:predictFile", files={"file": ("i.pdf", make_invoice("B", 53).pdf)},
                    data={"top_k": "2", "strict": "true"})  # fmt: skip
    assert_error(r, 422, "E415")
