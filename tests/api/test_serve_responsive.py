"""A real `nlpipe serve` stays responsive: /health answers while a slow request works, half-open connections are
closed (issue 13: D3 and "no header-read timeout")."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.request
import uuid

from tests.api.test_api_serving import blank_pdf
from tests.conftest import nlpipe_serve


def _multipart(fields: dict[str, str], name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _post_file(url: str, name: str, data: bytes, fields: dict[str, str]) -> tuple[int, dict]:
    body, ctype = _multipart(fields, name, data)
    req = urllib.request.Request(url, data=body, headers={"content-type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=300) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _health_latency(base: str) -> float:
    start = time.monotonic()
    with urllib.request.urlopen(base + "/health", timeout=300) as r:
        assert r.status == 200
    return time.monotonic() - start


def test_health_answers_while_a_slow_predict_file_runs(trained):
    """12 blank pages OCR'd (ocr=always) take seconds; /health, polled all the while, answers each time at once
    (the OCR runs in a worker thread, not on the event loop where it used to hold every other request)."""
    env = {**os.environ, "NLPIPE_HOME": str(trained.home), "NLPIPE_MODELS_DIR": str(trained.models_dir),
           "NLPIPE_OCR_WORKERS": "1", "NLPIPE_MAX_OCR_PAGES": "1000"}  # fmt: skip
    with nlpipe_serve(env) as base:
        done = threading.Event()
        answer: list[tuple[int, dict]] = []

        def slow() -> None:
            answer.append(
                _post_file(base + "/v1/models/news:predictFile", "scan.pdf", blank_pdf(12), {"ocr": "always"})
            )
            done.set()

        started = time.monotonic()
        worker = threading.Thread(target=slow)
        worker.start()
        latencies = []
        while not done.wait(0.05):  # paced: the server logs each request to a pipe nobody reads until the end
            latencies.append(_health_latency(base))
        worker.join()
        total = time.monotonic() - started
    status, body = answer[0]
    assert status == 422 and body["error"]["code"] == "E177", body  # blank pages: OCR ran on all and found nothing
    assert len(latencies) >= 3 and max(latencies) < total / 4, (
        f"/health took up to {max(latencies):.2f}s while predictFile took {total:.2f}s"
    )


def test_serve_closes_connections_that_send_no_request_head(tmp_path):
    """A connection that sends nothing, or only part of its request head, is closed after NLPIPE_HEADER_TIMEOUT
    (uvicorn alone holds it open for ever); a normal request on a kept-alive connection still works."""
    env = {**os.environ, "NLPIPE_HEADER_TIMEOUT": "1"}
    with nlpipe_serve(env) as base:
        port = int(base.rsplit(":", 1)[1])
        silent = socket.create_connection(("127.0.0.1", port), timeout=30)
        partial = socket.create_connection(("127.0.0.1", port), timeout=30)
        partial.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # the blank line never comes
        for conn in (silent, partial):
            with conn:
                assert conn.recv(1024) == b""  # closed by the server (a TimeoutError after 30 s before the fix)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as ok:
            ok.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert ok.recv(1024).startswith(b"HTTP/1.1 200")


def test_serve_answers_a_stalled_body_with_408_and_closes(tmp_path):
    """A client that sends its request head and part of its body, then stalls, held a connection and a handler for
    ever (uvicorn has no body timeout): after NLPIPE_BODY_TIMEOUT it gets 408 E615 and the connection is closed.
    A body that arrives in parts, each within the timeout, is read as before."""
    env = {**os.environ, "NLPIPE_BODY_TIMEOUT": "1"}
    with nlpipe_serve(env) as base:
        port = int(base.rsplit(":", 1)[1])
        head = (b"POST /v1/models/none:predict HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
                b"content-length: 40\r\n\r\n")  # fmt: skip
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(head + b'{"text": "')  # 30 bytes never come
            answer = b""
            while chunk := conn.recv(4096):  # read to the close (a TimeoutError after 30 s before the fix)
                answer += chunk
        status, _, rest = answer.partition(b"\r\n")
        assert status == b"HTTP/1.1 408 Request Timeout", answer
        assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"]["code"] == "E615"
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            body = b'{"text": "Shares fell sharply today."}'
            conn.sendall(head.replace(b"40", str(len(body)).encode()) + body[:10])
            time.sleep(0.5)
            conn.sendall(body[10:])
            assert conn.recv(1024).split(b"\r\n", 1)[0] == b"HTTP/1.1 404 Not Found"  # the body was read: no model
