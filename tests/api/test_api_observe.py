"""Issue 15 parts 1-3: request ids, the access log, /metrics, /health/live and /health/ready, rate limits, CORS,
and what a predict request may carry (unknown fields, empty texts, options a task does not take)."""

from __future__ import annotations

import json
import logging
import logging.config
import re

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from nlpipe.keys import create_key
from nlpipe.logs import JsonFormatter, RequestIdFilter, TextFormatter, log_config, use_json
from nlpipe.store.db import open_store

KEY = {"X-API-Key": "k1"}


def error(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert body["code"] == code, body
    return body


# ---------------------------------------------------------------------------------------------- request ids


def test_request_id_taken_or_made_and_in_every_error_body(client_for):
    c = client_for()
    r = c.get("/health", headers={"X-Request-ID": "trace-42.a:b"})
    assert r.headers["x-request-id"] == "trace-42.a:b"
    made = c.get("/health")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    assert c.get("/health").headers["x-request-id"] != made.headers["x-request-id"]
    for bad in ("has space", "x" * 129, "é"):  # not a plain token: replaced, never echoed
        r = c.get("/health", headers={"X-Request-ID": bad.encode()})
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])
    r = c.get("/v1/models/nosuch", headers={"X-Request-ID": "req-404"})
    assert error(r, 404, r.json()["error"]["code"])["request_id"] == "req-404" == r.headers["x-request-id"]
    r = c.post("/v1/models/news:predict", json={"texts": "not a list"}, headers={"X-Request-ID": "req-422"})
    assert error(r, 422, "E606")["request_id"] == "req-422"
    r = c.post("/v1/models/news:promote", json={"version": "v1"}, headers={"X-API-Key": "wrong", "X-Request-ID": "r1"})
    assert error(r, 401, "E601")["request_id"] == "r1" == r.headers["x-request-id"]


def test_a_host_refused_by_the_middleware_has_the_request_id_too(client_for):
    c = client_for(host="127.0.0.1")
    r = c.get("/health", headers={"Host": "evil.example", "X-Request-ID": "rid-host"})
    assert error(r, 400, "E614")["request_id"] == "rid-host" == r.headers["x-request-id"]


# ---------------------------------------------------------------------------------------------- access log


def test_access_log_names_route_status_model_and_key_but_never_the_key_or_text(client_for, caplog):
    c = client_for()
    secret_text = "Quarterly shares of the harbour company rose sharply"
    with caplog.at_level(logging.INFO, logger="nlpipe"):
        r = c.post("/v1/models/news:predict", json={"text": secret_text}, headers={"X-Request-ID": "acc-1"})
        assert r.status_code == 200, r.text
        c.get("/v1/models/nosuch", headers={"X-Request-ID": "acc-2"})
    access = [rec for rec in caplog.records if rec.name == "nlpipe.access"]
    first = next(rec for rec in access if getattr(rec, "request_id", None) == "acc-1")
    assert (first.method, first.route, first.status) == ("POST", "/v1/models/{name}:predict", 200)
    assert first.model == f"news@{r.json()['version']}" and first.key == "NLPIPE_API_KEYS" and first.latency_ms > 0
    missing = next(rec for rec in access if getattr(rec, "request_id", None) == "acc-2")
    assert missing.status == 404 and re.fullmatch(r"E\d{3}", missing.code)
    line = JsonFormatter().format(first)
    fields = json.loads(line)
    assert fields["request_id"] == "acc-1" and fields["route"] == "/v1/models/{name}:predict"
    assert fields["model"].startswith("news@") and fields["level"] == "info" and fields["time"].endswith("Z")
    everything = "\n".join(JsonFormatter().format(rec) for rec in caplog.records)
    assert '"k1"' not in everything  # the key is no field's value
    assert secret_text not in everything and "harbour" not in everything


def test_key_names_in_the_access_log_are_the_stored_keys_names(trained, tmp_path, caplog):
    cfg = trained.model_copy(update={"home": tmp_path / "h"})
    store = open_store(cfg)
    key = create_key(store, "reporting-app", "predict")
    store.close()
    with TestClient(create_app(cfg)) as c, caplog.at_level(logging.INFO, logger="nlpipe.access"):
        assert (
            c.post("/v1/models/news:predict", json={"text": "Shares fell"}, headers={"X-API-Key": key}).status_code
            == 200
        )
    [rec] = [r for r in caplog.records if r.name == "nlpipe.access" and r.route.endswith(":predict")]
    assert rec.key == "reporting-app"
    assert key not in "\n".join(JsonFormatter().format(r) for r in caplog.records)


def test_log_formats_and_config():
    record = logging.LogRecord("nlpipe.api", logging.WARNING, __file__, 1, "model %s not loaded", ("x",), None)
    RequestIdFilter().filter(record)
    assert record.request_id == "-"
    assert json.loads(JsonFormatter().format(record))["message"] == "model x not loaded"
    assert json.loads(JsonFormatter().format(record))["request_id"] is None  # outside a request: null, not "-"
    assert "[-] nlpipe.api: model x not loaded" in TextFormatter().format(record)

    class Tty:
        def isatty(self) -> bool:
            return True

    assert use_json("auto", Tty()) is False and use_json("auto", object()) is True
    assert use_json("json", Tty()) is True and use_json("text", object()) is False
    config = log_config("json")
    assert config["handlers"]["stderr"]["formatter"] == "json"
    logging.config.dictConfig(config)  # a valid configuration (what uvicorn is handed)
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False, "loggers": {
        "nlpipe": {"handlers": [], "propagate": True, "level": "NOTSET"},
        "uvicorn": {"handlers": [], "propagate": True, "level": "NOTSET"}}})  # fmt: skip


# ---------------------------------------------------------------------------------------------- metrics


def test_metrics_after_traffic(client_for):
    c = client_for()
    for text in ("Shares of the bank fell", "The team won the cup final"):
        assert c.post("/v1/models/news:predict", json={"text": text}).status_code == 200
    c.get("/v1/models/nosuch")
    c.post("/v1/models/news:predict", json={"text": ""})
    r = c.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    version = c.get("/v1/models/news").json()["version"]
    assert re.search(r'nlpipe_http_request_duration_seconds_count\{method="POST",route="/v1/models/\{name\}:predict",'
                     r'status="200"\} 2\.0', text), text  # fmt: skip
    assert 'route="unmatched"' not in text or 'status="404"' in text
    assert re.search(rf'nlpipe_predicted_texts_total\{{model="news",version="{version}"\}} 2\.0', text)
    labels = re.findall(rf'nlpipe_predicted_labels_total\{{label="([^"]*)",model="news",version="{version}"\}} (\S+)',
                        text)  # fmt: skip
    assert sum(float(n) for _, n in labels) == 2.0 and all(label for label, _ in labels)
    assert re.search(r'nlpipe_http_errors_total\{code="E418",status="422"\} 1\.0', text)
    assert re.search(rf'nlpipe_model_load_seconds\{{model="news",version="{version}"\}} \d', text)
    assert re.search(rf'nlpipe_model_memory_bytes\{{model="news",version="{version}"\}} \d', text)
    assert 'nlpipe_jobs{status="pending"} 0.0' in text and 'nlpipe_jobs{status="succeeded"}' in text


def test_metrics_need_the_read_scope_unless_public(trained, tmp_path):
    cfg = trained.model_copy(update={"home": tmp_path / "h"})
    store = open_store(cfg)
    reader, predictor = create_key(store, "scraper", "read"), create_key(store, "app", "predict")
    store.close()
    with TestClient(create_app(cfg)) as c:
        error(c.get("/metrics"), 401, "E601")
        error(c.get("/metrics", headers={"X-API-Key": predictor}), 403, "E640")
        assert c.get("/metrics", headers={"X-API-Key": reader}).status_code == 200
        assert c.get("/metrics", headers={"Authorization": f"Bearer {reader}"}).status_code == 200  # Prometheus
        error(c.get("/metrics", headers={"Authorization": f"Bearer {predictor}"}), 403, "E640")
    with TestClient(create_app(cfg.model_copy(update={"metrics_public": True}))) as c:
        assert c.get("/metrics").status_code == 200


# ---------------------------------------------------------------------------------------------- health


def test_health_live_and_ready(client_for, monkeypatch):
    c = client_for()
    assert c.get("/health/live").json()["status"] == "ok"
    r = c.get("/health/ready")
    assert r.status_code == 200 and r.json()["status"] == "ready", r.text
    assert r.json()["checks"]["store"]["ok"] and "news@" in r.json()["checks"]["models"]["detail"]

    def down() -> None:
        raise OSError("connection refused")

    monkeypatch.setattr(c.app.state.store, "ping", down)
    r = c.get("/health/ready")
    assert r.status_code == 503 and r.json()["status"] == "not-ready"
    assert r.json()["checks"]["store"] == {"ok": False, "detail": "the database cannot be reached (OSError)"}
    assert c.get("/health/live").status_code == 200  # alive all the same: a restart would not help
    monkeypatch.undo()
    c.app.state.models.failed["broken"] = {"code": "E410", "message": "damaged"}
    r = c.get("/health/ready")
    assert r.status_code == 503 and r.json()["checks"]["models"]["detail"].startswith("not loaded: broken")


# ---------------------------------------------------------------------------------------------- rate limits


def test_rate_limits_per_key_with_retry_after(trained, tmp_path):
    cfg = trained.model_copy(update={"home": tmp_path / "h", "rate_limit": 0.5, "rate_limit_burst": 3})
    store = open_store(cfg)
    first, second = create_key(store, "first", "predict"), create_key(store, "second", "predict")
    store.close()
    with TestClient(create_app(cfg)) as c:
        for _ in range(3):  # the burst
            assert c.get("/v1/models", headers={"X-API-Key": first}).status_code == 200
        r = c.get("/v1/models", headers={"X-API-Key": first})
        body = error(r, 429, "E616")
        assert 1 <= int(r.headers["retry-after"]) <= 6 and body["details"]["retry_after"] == int(
            r.headers["retry-after"]
        )
        assert c.get("/v1/models", headers={"X-API-Key": second}).status_code == 200  # each key its own allowance
        assert all(c.get("/health").status_code == 200 for _ in range(5))  # health is never limited


def test_rate_limits_off_by_default_and_a_bad_storage_refused(client_for, trained, tmp_path):
    c = client_for()
    assert all(c.get("/v1/models").status_code == 200 for _ in range(30))
    from nlpipe.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        create_app(trained.model_copy(update={"rate_limit": 1.0, "rate_limit_storage": "nosuch://x"}))
    assert err.value.code == "E617"


# ---------------------------------------------------------------------------------------------- CORS


def test_cors_only_for_the_origins_set(client_for):
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "X-API-Key, Content-Type"}  # fmt: skip
    closed = client_for()
    assert closed.options("/v1/models/news:predict", headers=preflight).status_code == 405
    assert (
        "access-control-allow-origin"
        not in closed.get("/health", headers={"Origin": "https://app.example.com"}).headers
    )
    c = client_for(cors_origins=["https://app.example.com"])
    r = c.options("/v1/models/news:predict", headers=preflight)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "x-api-key" in r.headers["access-control-allow-headers"].lower()
    r = c.post("/v1/models/news:predict", json={"text": "Shares fell"}, headers={"Origin": "https://app.example.com"})
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "x-request-id" in r.headers["access-control-expose-headers"].lower()
    other = c.options("/v1/models/news:predict", headers={**preflight, "Origin": "https://evil.example"})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers


# ---------------------------------------------------------------------------------------------- request bodies


@pytest.mark.parametrize("path", ["/v1/models/news:predict", "/v1/sentiment:predict"])
def test_unknown_fields_are_refused_naming_the_field(client_for, path):
    c = client_for()
    body = error(c.post(path, json={"text": "Shares fell", "topk": 3}), 422, "E606")
    assert "topk" in body["message"] and body["details"]["errors"][0]["field"] == "topk"


@pytest.mark.parametrize("texts", [{"text": ""}, {"text": "  \n\t"}, {"texts": ["fine", " "]}])
def test_empty_texts_are_422_e418(client_for, texts):
    c = client_for()
    body = error(c.post("/v1/models/news:predict", json=texts), 422, "E418")
    assert body["details"]["field"] in ("text", "texts[1]")


def test_options_a_task_does_not_take_are_ignored_with_a_warning_unless_strict(client_for, trained_sentiment):
    c = client_for(trained_sentiment)
    r = c.post("/v1/models/feedback-sentiment:predict", json={"text": "Great service", "top_k": 2, "explain": True})
    assert r.status_code == 200, r.text
    warnings = r.json()["warnings"]
    assert [(w["code"], w["field"]) for w in warnings] == [("W415", "top_k"), ("W415", "explain")]
    assert "strict=true" in warnings[0]["message"] and r.json()["predictions"][0]["sentiment"]
    plain = c.post("/v1/models/feedback-sentiment:predict", json={"text": "Great service"})
    assert "warnings" not in plain.json()
    error(c.post("/v1/models/feedback-sentiment:predict", json={"text": "Great", "top_k": 2, "strict": True}), 422,
          "E415")  # fmt: skip
    r = c.post("/v1/models/feedback-sentiment:predictFile", files={"file": ("a.txt", b"Great service")},
               data={"top_k": "2"})  # fmt: skip
    assert r.status_code == 200 and r.json()["warnings"][0]["field"] == "top_k"
