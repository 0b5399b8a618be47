"""Document uploads and prediction on uploaded files through the real app."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.test_api import assert_error
from tests.conftest import SHARED, make_zip

KEY = {"X-API-Key": "k1"}
PDFS = SHARED / "pdfplumber_test_pdfs" / "pdfs"


@pytest.fixture
def client(trained, tmp_path):
    settings = trained.model_copy(update={"api_keys": ["k1"], "home": tmp_path / "home", "max_request_bytes": 200_000})
    with TestClient(create_app(settings), headers=KEY) as c:
        yield c


def test_api_upload_needs_a_key(client):
    r = client.post("/v1/datasets/up/documents", files={"files": ("a.txt", b"hello there")}, headers={"X-API-Key": ""})
    assert_error(r, 401, "E601")


def test_api_upload_files_and_archive(client):
    archive = make_zip({"a/one.txt": b"The match ended in a draw.", "a/empty.txt": b"", "../up.txt": b"x"})
    r = client.post(
        "/v1/datasets/up/documents",
        files=[("files", ("news.zip", archive)), ("files", ("two.html", b"<p>Second <b>document</b></p>"))],
        headers=KEY,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["added"] == 2 and body["documents"] == 2
    assert [(f["source"], f["code"]) for f in body["failures"]] == [("news.zip!a/empty.txt", "E176")]
    assert [f["code"] for f in body["skipped"]] == ["E188"]
    assert body["files"]["news.zip"] == {"documents": 1, "failures": 1}
    stats = client.get("/v1/datasets/up").json()
    assert stats["documents"] == 2
    assert [d["name"] for d in client.get("/v1/datasets").json()] == ["up"]
    again = client.post("/v1/datasets/up/documents", files={"files": ("news.zip", archive)}, headers=KEY).json()
    assert again["added"] == 0 and again["already_present"] == 1


def test_api_upload_bad_dataset_name_and_too_large(client):
    assert_error(client.post("/v1/datasets/bad name/documents", files={"files": ("a.txt", b"x")}, headers=KEY),
                 422, "E201")  # fmt: skip
    big = client.post("/v1/datasets/up/documents", files={"files": ("a.txt", b"x" * 300_000)}, headers=KEY)
    assert_error(big, 413, "E605")


def test_api_predict_file_text_and_archive(client):
    r = client.post("/v1/models/news:predictFile", files={"file": ("a.txt", b"The striker scored a late winner")},
                    data={"top_k": "1"})  # fmt: skip
    assert r.status_code == 200, r.text
    [pred] = r.json()["predictions"]
    assert pred["source"] == "a.txt" and pred["predicted"] == ["sports"] and len(pred["labels"]) == 1
    archive = make_zip({"x.txt": b"Parliament votes on the new budget", "y.txt": b""})
    body = client.post("/v1/models/news:predictFile", files={"file": ("b.zip", archive)}).json()
    assert [p["source"] for p in body["predictions"]] == ["b.zip!x.txt"]
    assert [f["code"] for f in body["failures"]] == ["E176"]


@pytest.mark.skipif(not PDFS.is_dir(), reason="shared PDFs not present")
def test_api_predict_file_pdf_and_errors(client):
    pdf = (PDFS / "cupertino_usd_4-6-16.pdf").read_bytes()
    r = client.post("/v1/models/news:predictFile", files={"file": ("report.pdf", pdf)})
    assert r.status_code == 200 and r.json()["predictions"][0]["source"] == "report.pdf"
    assert_error(client.post("/v1/models/news:predictFile", files={"file": ("e.pdf", b"")}), 422, "E176")
    locked = (PDFS / "password-example.pdf").read_bytes()
    assert_error(client.post("/v1/models/news:predictFile", files={"file": ("l.pdf", locked)}), 422, "E154")
    ok = client.post("/v1/models/news:predictFile", files={"file": ("l.pdf", locked)}, data={"password": "test"})
    assert ok.status_code == 200
