"""Issue 15 part 4: two `nlpipe serve` processes on different ports, sharing one PostgreSQL database and one models
folder, behave as one service: a key made once works on both, a promote made through one is served by the other
without a restart, and an upload job started on one is run once and read from the other."""

from __future__ import annotations

import io
import json
import os
import time
import urllib.error
import urllib.request
import zipfile

from nlpipe.keys import create_key
from nlpipe.store.db import open_store
from tests.api.conftest import news_with_two_versions
from tests.conftest import fresh_postgres, make_settings, nlpipe_serve


def _request(url: str, key: str, body: dict | None = None, *, data: bytes | None = None, ctype: str = "") -> tuple:
    headers = {"X-API-Key": key}
    if body is not None:
        data, ctype = json.dumps(body).encode(), "application/json"
    if ctype:
        headers["content-type"] = ctype
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _multipart(name: str, content: bytes) -> tuple[bytes, str]:
    boundary = "nlpipe-test-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n")  # fmt: skip
    body = head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_two_replicas_on_postgres_are_one_service(trained, tmp_path):
    url = fresh_postgres()
    models = tmp_path / "models"
    first = news_with_two_versions(trained.models_dir, models)
    store = open_store(make_settings(tmp_path / "setup", database_url=url, models_dir=models))
    key = create_key(store, "ops", "predict,ingest,admin,read")
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NLPIPE_")}
    env |= {"NLPIPE_DATABASE_URL": url, "NLPIPE_MODELS_DIR": str(models), "NLPIPE_MODEL_REFRESH_SECONDS": "0.2"}
    with (
        nlpipe_serve({**env, "NLPIPE_HOME": str(tmp_path / "home-a")}) as a,
        nlpipe_serve({**env, "NLPIPE_HOME": str(tmp_path / "home-b")}) as b,
    ):
        for base in (a, b):  # the key made once, in the shared database, works on both
            status, body = _request(base + "/v1/models/news:predict", key, {"text": "Shares fell"})
            assert status == 200 and body["version"] == first, body
        status, body = _request(a + "/v1/models/news:promote", key, {"version": "v99"})
        assert status == 200, body
        deadline = time.monotonic() + 15
        while _request(b + "/v1/models/news:predict", key, {"text": "Shares fell"})[1]["version"] != "v99":
            assert time.monotonic() < deadline, "replica b did not serve the promote made through replica a"
            time.sleep(0.1)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for i in range(5):
                zf.writestr(f"news/{i}.txt", f"Item {i}: the council approved the harbour budget, vote {i}.")
        data, ctype = _multipart("news.zip", buf.getvalue())
        status, body = _request(a + "/v1/datasets/up/documents?wait=false", key, data=data, ctype=ctype)
        assert status == 202, body
        job_id = body["job"]["id"]
        deadline = time.monotonic() + 60
        while (job := _request(b + f"/v1/jobs/{job_id}", key)[1]["job"])["status"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        assert job["status"] == "succeeded" and job["result"]["added"] == 5, job
        for base in (a, b):
            status, body = _request(base + "/v1/datasets/up", key)
            assert status == 200 and body["documents"] == 5, body  # stored once, seen by both
        for base in (a, b):
            status, body = _request(base + "/health/ready", key)
            assert status == 200 and body["status"] == "ready", body
