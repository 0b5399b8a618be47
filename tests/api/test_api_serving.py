"""The service stays responsive (issue 13: D3, D4, D10, the Host check, D17's E177 and skipped members).

Heavy requests run in worker threads behind a bounded gate (api/limits.py) with a deadline and an OCR page cap;
JSON texts obey the document size limit; oversized chunked bodies are 413; unknown Host headers are refused.
"""

from __future__ import annotations

import io
import threading

import anyio
import pytest
from fastapi.testclient import TestClient
from reportlab.pdfgen import canvas

from api.main import create_app
from tests.conftest import make_settings, make_zip

KEY = {"X-API-Key": "k1"}


def blank_pdf(pages: int) -> bytes:
    """A PDF of ``pages`` empty pages: no text layer, so every page is OCR'd with ocr=always (and finds nothing)."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    for _ in range(pages):
        c.showPage()
    c.save()
    return buf.getvalue()


# D10: an oversized chunked body (no Content-Length) is 413 E605, not 400 E600


def test_oversized_chunked_body_is_413_e605(client_for):
    client = client_for(max_request_bytes=1000)

    def chunks():
        yield b'{"texts": ["'
        for _ in range(40):
            yield b"x" * 100
        yield b'"]}'

    r = client.post("/v1/models/news:predict", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "E605"
    # a chunked body under the limit is read as before
    small = client.post("/v1/models/news:predict", content=iter([b'{"text": "Shares fell"}']),
                        headers={"content-type": "application/json"})  # fmt: skip
    assert small.status_code == 200, small.text


# D4: each JSON text obeys NLPIPE_MAX_DOCUMENT_BYTES


@pytest.mark.parametrize("path", ["/v1/models/news:predict", "/v1/sentiment:predict"])
def test_json_text_over_document_limit_is_413_e613(client_for, path):
    client = client_for(max_document_bytes=1000)
    fits = "é" * 500  # 1,000 bytes in UTF-8
    r = client.post(path, json={"texts": ["fine", fits]})
    assert r.status_code == 200, r.text
    r = client.post(path, json={"texts": ["fine", fits + "x"]})  # 1,001 bytes (501 characters)
    assert r.status_code == 413, r.text
    error = r.json()["error"]
    assert error["code"] == "E613" and error["details"]["field"] == "texts[1]"
    assert "1,001 bytes" in error["message"] and "NLPIPE_MAX_DOCUMENT_BYTES" in error["message"]


# D3: the work gate: bounded slots, a bounded queue (503 E610 + Retry-After beyond it), a deadline (504 E611)


def test_full_gate_answers_503_e610_with_retry_after(client_for):
    from api.limits import WorkGate

    client = client_for(max_concurrent_requests=1, max_queued_requests=0)
    gate: WorkGate = client.app.state.work  # type: ignore[attr-defined]
    started, release = threading.Event(), threading.Event()

    def hold() -> str:
        started.set()
        assert release.wait(60)
        return "done"

    held = client.portal.start_task_soon(gate.run, hold)  # a real request's work holding the only slot
    try:
        assert started.wait(30)
        r = client.post("/v1/models/news:predict", json={"text": "Shares fell"})
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "E610" and r.headers["Retry-After"] == "5"
        assert client.get("/health").status_code == 200  # light routes are not gated
    finally:
        release.set()
    assert held.result(30) == "done"
    assert client.post("/v1/models/news:predict", json={"text": "Shares fell"}).status_code == 200


def test_gate_queues_within_its_bound_and_runs_work_off_the_event_loop(tmp_path):
    from api.limits import ServerBusy, WorkGate
    from nlpipe.readers.budget import current_budget

    settings = make_settings(tmp_path, max_concurrent_requests=1, max_queued_requests=1)
    gate = WorkGate(settings)
    loop_thread = threading.get_ident()
    ran_in: list[int] = []
    release = threading.Event()

    def work() -> int:
        ran_in.append(threading.get_ident())
        assert current_budget() is not None  # the request's budget is active in the worker thread
        release.wait(30)
        return len(ran_in)

    async def main() -> list[object]:
        results: list[object] = []

        async def one() -> None:
            try:
                results.append(await gate.run(work))
            except ServerBusy as exc:
                results.append(exc.code)
                release.set()  # the third is refused at once; let the two others finish

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(one)
        return results

    results = anyio.run(main)
    assert sorted(map(str, results)) == ["1", "2", "E610"]  # one ran, one waited its turn, one was refused
    assert loop_thread not in ran_in


def test_request_over_its_deadline_is_504_e611(client_for):
    client = client_for(request_timeout=0.5, ocr_workers=1, max_ocr_pages=1000)
    r = client.post(
        "/v1/models/news:predictFile",
        files={"file": ("scan.pdf", blank_pdf(30), "application/pdf")},
        data={"ocr": "always"},
    )
    assert r.status_code == 504, r.text
    error = r.json()["error"]
    assert error["code"] == "E611" and "NLPIPE_REQUEST_TIMEOUT" in error["message"]
    assert client.get("/health").status_code == 200


def test_ocr_pages_over_the_request_cap_are_413_e612_naming_the_file(client_for):
    client = client_for(max_ocr_pages=2, ocr_workers=1)
    r = client.post(
        "/v1/models/news:predictFile",
        files={"file": ("three.pdf", blank_pdf(3), "application/pdf")},
        data={"ocr": "always"},
    )
    assert r.status_code == 413, r.text
    error = r.json()["error"]
    assert error["code"] == "E612" and error["details"]["file"] == "three.pdf"
    assert "three.pdf" in error["message"] and "NLPIPE_MAX_OCR_PAGES" in error["message"]
    # the cap is per request, across an archive's files too, and holds for uploads with wait=true
    both = make_zip({"a.pdf": blank_pdf(1), "b.pdf": blank_pdf(2)})
    r = client.post(
        "/v1/datasets/scans/documents", headers=KEY, files={"files": ("both.zip", both)}, data={"ocr": "always"}
    )
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "E612" and r.json()["error"]["details"]["file"] == "both.zip!b.pdf"
    # and for uploads read by a job (wait=false): the job fails with E612, nothing of the upload is stored
    r = client.post(
        "/v1/datasets/scans/documents?wait=false",
        headers=KEY,
        files={"files": ("both.zip", both)},
        data={"ocr": "always"},
    )
    assert r.status_code == 202, r.text
    job = client.get(r.headers["Location"], headers=KEY).json()["job"]
    assert job["status"] == "failed" and job["error"]["code"] == "E612", job


# D17 (part): the E177 hint fits the OCR mode that was used; skipped archive members are listed


def test_e177_after_ocr_always_does_not_ask_for_ocr_always(client_for):
    client = client_for(ocr_workers=1)
    r = client.post(
        "/v1/models/news:predictFile",
        files={"file": ("blank.pdf", blank_pdf(1), "application/pdf")},
        data={"ocr": "always"},
    )
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert r.json()["error"]["code"] == "E177" and "OCR read every page" in message
    assert "always" not in message


def test_predict_file_lists_skipped_archive_members(client_for):
    client = client_for()
    archive = make_zip({"a.txt": b"Shares fell after the bank raised rates", ".secret.txt": b"hidden", "b.exe": b"MZ"})
    r = client.post("/v1/models/news:predictFile", files={"file": ("batch.zip", archive)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["source"] for p in body["predictions"]] == ["batch.zip!a.txt"]
    assert [(s["source"], s["code"]) for s in body["skipped"]] == [("batch.zip!.secret.txt", "E191")]
    assert [f["source"] for f in body["failures"]] == ["batch.zip!b.exe"]
    schema = client.get("/openapi.json").json()["components"]["schemas"]["PredictResponse"]
    assert "skipped" in schema["properties"]


# The Host header: a loopback server answers only loopback names (no DNS rebinding)


def test_loopback_server_refuses_other_host_headers(trained, tmp_path):
    settings = trained.model_copy(update={"home": tmp_path / "home", "allowed_hosts": [], "host": "127.0.0.1"})
    assert settings.trusted_hosts[:3] == ["localhost", "127.0.0.1", "::1"]
    with TestClient(create_app(settings), base_url="http://localhost:8000") as client:
        assert client.get("/health").status_code == 200
        r = client.get("/health", headers={"host": "evil.example:8000"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "E614"
        assert client.get("/health", headers={"host": "[::1]:8000"}).status_code == 200
    public = settings.model_copy(update={"host": "0.0.0.0"})
    assert public.trusted_hosts == ["*"]
    named = settings.model_copy(update={"allowed_hosts": ["*.example.com"]})
    with TestClient(create_app(named), base_url="http://api.example.com") as client:
        assert client.get("/health").status_code == 200
        assert client.get("/health", headers={"host": "example.org"}).status_code == 400


def test_host_name_drops_the_port():
    from api.limits import host_name

    assert host_name("Example.com:8000") == "example.com"
    assert host_name("[::1]:8000") == "::1" and host_name("::1") == "::1" and host_name("localhost") == "localhost"
