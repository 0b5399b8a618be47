"""The API served by a real uvicorn process (`nlpipe serve`) on a loopback port."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import pytest

from tests.conftest import nlpipe_serve


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
    env = {**os.environ, "NLPIPE_HOME": str(trained.home), "NLPIPE_MODELS_DIR": str(trained.models_dir)}
    with nlpipe_serve(env) as base:
        yield base


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


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def test_uvicorn_holds_fifty_concurrent_clients(server):
    """50 clients sending back to back: every answer is 200 (a prediction no longer copies the weight matrix;
    with a large model that copy made concurrent requests fail with MemoryError, HTTP 500), and memory is flat:
    a second round of 300 requests leaves the server's RSS where the first left it."""
    from concurrent.futures import ThreadPoolExecutor

    text = "Shares fell after the company missed its quarterly profit forecast. " * 15  # about 1 KB

    def client(i: int) -> list[int]:
        return [_call(server + "/v1/models/news:predict", {"text": f"{i} {text}"})[0] for _ in range(6)]

    client(0)  # warm up
    rss = []
    for _ in range(2):  # the first round grows the worker threads' memory once; the second must not add to it
        with ThreadPoolExecutor(50) as pool:
            statuses = [s for batch in pool.map(client, range(50)) for s in batch]
        assert statuses == [200] * 300
        rss.append(_rss_mb(server.pid))
    assert rss[1] - rss[0] < 25, f"server RSS grew from {rss[0]:.0f} to {rss[1]:.0f} MB over 300 more requests"
    status, body = _call(server + "/health")
    assert status == 200


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as f:
                ppid = next(int(line.split()[1]) for line in f if line.startswith("PPid:"))
        except (OSError, StopIteration):
            continue
        if ppid == pid:
            found.append(int(entry))
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_two_workers_serve_one_port_and_add_up_their_metrics(trained, tmp_path):
    """`nlpipe serve --workers 2`: two server processes behind one port, each with the model loaded before it
    answers, and /metrics (whichever worker answers) counting every worker's requests."""
    import re
    import time

    env = {**os.environ, "NLPIPE_HOME": str(tmp_path / "home"), "NLPIPE_MODELS_DIR": str(trained.models_dir),
           "NLPIPE_METRICS_PUBLIC": "true", "NLPIPE_LOG_FORMAT": "json"}  # fmt: skip
    with nlpipe_serve(env, "--workers", "2") as base:
        deadline = time.monotonic() + 30
        while len([p for p in _children(base.pid) if "spawn_main" in _cmdline(p)]) < 2:  # uvicorn's workers
            assert time.monotonic() < deadline, "uvicorn did not start two workers"
            time.sleep(0.2)
        for _ in range(10):  # every worker preloads the model before it answers
            assert _call(base + "/health")[1]["models_loaded"] == 1
        for i in range(20):
            status, body = _call(base + "/v1/models/news:predict", {"text": f"Shares fell again, day {i}"})
            assert status == 200 and body["predictions"][0]["predicted"], body
        with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
            text = r.read().decode()
        found = re.search(r'nlpipe_http_request_duration_seconds_count\{method="POST",route="/v1/models/\{name\}'
                          r':predict",status="200"\} (\S+)', text)  # fmt: skip
        assert found and float(found.group(1)) == 20.0, text[:3000]
        assert re.search(r'nlpipe_predicted_texts_total\{model="news",version="v\d+"\} 20\.0', text)
