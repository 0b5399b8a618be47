"""The API served by a real uvicorn process (`nlpipe serve`) on a loopback port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture
def server(trained):
    port = _free_port()
    env = {**os.environ, "NLPIPE_HOME": str(trained.home), "NLPIPE_MODELS_DIR": str(trained.models_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "nlpipe.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if _call(base + "/health")[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        output = proc.stdout.read().decode()[-2000:]
        proc.stdout.close()
        pytest.fail("uvicorn did not start: " + output)
    yield base
    proc.terminate()
    proc.wait(timeout=10)
    proc.stdout.close()


def test_uvicorn_serves_predictions(server):
    status, body = _call(server + "/health")
    assert status == 200 and body["models_loaded"] == 1
    status, body = _call(
        server + "/v1/models/news:predict",
        {"texts": ["Shares fell after the company missed its quarterly profit forecast"]},
    )
    assert status == 200 and body["predictions"][0]["predicted"] == ["business"]
    status, body = _call(server + "/v1/models/missing:predict", {"text": "x"})
    assert status == 404 and body["error"]["code"] == "E403"
