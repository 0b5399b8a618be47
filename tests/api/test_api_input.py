"""Request input at the API's edge: ids bounded to what the database stores (D5), who may act as which
annotator and read their work (D6)."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from nlpipe.store.datasets import load_dataset
from nlpipe.store.db import open_store
from nlpipe.store.importing import import_records
from nlpipe.types import Record
from tests.api.test_api import assert_error
from tests.conftest import make_settings

ALICE = {"X-API-Key": "ka"}  # a key that carries the name alice
PLAIN = {"X-API-Key": "plain"}
TOO_BIG = [2**63, 2**64, 10**30]


@pytest.fixture
def app_settings(tmp_path):
    settings = make_settings(tmp_path, api_keys=["alice:ka", "plain"])
    st = open_store(settings)
    import_records(st, "d", [Record(text=t, labels=[]) for t in ("One text here", "Another text")], create=True)
    st.close()
    return settings


@pytest.fixture
def client(app_settings):
    with TestClient(create_app(app_settings)) as c:
        yield c


def first_doc(settings) -> int:
    st = open_store(settings)
    with st.session() as s:
        ids = load_dataset(s, "d", labeled_only=False).doc_ids
    st.close()
    return ids[0]


def id_requests(big: int) -> list[tuple[str, str, dict | None]]:
    return [
        ("GET", f"/v1/datasets/d/documents/{big}", None),
        ("POST", f"/v1/datasets/d/documents/{big}/annotations", {"labels": ["x"]}),
        ("POST", f"/v1/datasets/d/documents/{big}/reviews", {"decision": "reject", "label": "x", "source": "rule"}),
        ("DELETE", f"/v1/datasets/d/annotations/{big}", None),
        ("DELETE", f"/v1/datasets/d/reviews/{big}", None),
        ("GET", f"/v1/jobs/{big}", None),
    ]


@pytest.mark.parametrize("big", TOO_BIG)
def test_ids_beyond_64_bits_are_a_422_in_the_error_shape_not_a_crash(client, caplog, big):
    caplog.set_level(logging.ERROR, logger="nlpipe.api")
    for method, url, body in id_requests(big):
        r = client.request(method, url, json=body, headers={**PLAIN, "X-Annotator": "bob"})
        err = assert_error(r, 422, "E606")
        assert "9223372036854775807" in err["message"], (url, err)
    r = client.get("/v1/datasets/d/queue", params={"strategy": "random", "seed": big}, headers=PLAIN)
    assert_error(r, 422, "E606")
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]


def test_ids_below_one_are_refused_and_the_largest_id_is_a_plain_404(client):
    for method, url, body in id_requests(0) + id_requests(-1):
        assert_error(client.request(method, url, json=body, headers={**PLAIN, "X-Annotator": "bob"}), 422, "E606")
    largest = 2**63 - 1
    assert_error(client.get(f"/v1/datasets/d/documents/{largest}", headers=PLAIN), 404, "E240")
    assert_error(client.get(f"/v1/jobs/{largest}", headers=PLAIN), 404, "E230")
    assert_error(client.delete(f"/v1/datasets/d/annotations/{largest}", headers=ALICE), 404, "E244")
    assert client.get("/v1/datasets/d/queue", params={"strategy": "random", "seed": largest}, headers=PLAIN).is_success


def test_every_integer_path_and_query_parameter_is_bounded(client):
    """Keeps the class closed: a new integer parameter must declare its range in the OpenAPI document."""
    unbounded = []
    for path, ops in client.get("/openapi.json").json()["paths"].items():
        for method, op in ops.items():
            for p in op.get("parameters", []):
                schemas = [p["schema"], *p["schema"].get("anyOf", [])]
                ints = [s for s in schemas if s.get("type") == "integer"]
                if ints and not all("maximum" in s and "minimum" in s for s in ints):
                    unbounded.append(f"{method.upper()} {path} {p['name']}")
    assert unbounded == []


def test_a_key_named_for_an_annotator_acts_only_as_them(client, app_settings):
    doc = first_doc(app_settings)
    made = client.post(f"/v1/datasets/d/documents/{doc}/annotations", json={"labels": ["x"]}, headers=ALICE)
    assert made.status_code == 201, made.text
    mine = made.json()["annotations"][0]["id"]
    # A plain key cannot act as alice (she has a key of her own), in any spelling ...
    for name in ("alice", " alice", "Alice", "ALICE"):
        as_alice = {**PLAIN, "X-Annotator": name}
        assert_error(client.delete(f"/v1/datasets/d/annotations/{mine}", headers=as_alice), 403, "E650")
        r = client.post(f"/v1/datasets/d/documents/{doc}/annotations", json={"labels": ["y"]}, headers=as_alice)
        assert_error(r, 403, "E650")
        assert_error(client.get("/v1/labeling/annotator", headers=as_alice), 403, "E650")
    # ... nor can it delete alice's annotation as someone else (only its annotator can).
    assert_error(
        client.delete(f"/v1/datasets/d/annotations/{mine}", headers={**PLAIN, "X-Annotator": "mallory"}), 404, "E244"
    )
    got = client.get(f"/v1/datasets/d/documents/{doc}", params={"annotator": "alice"}, headers=PLAIN).json()
    assert [(a["label"], a["author"]) for a in got["annotations"]] == [("x", "alice")]
    # alice's own key still deletes it; a plain key still acts for annotators without a key.
    assert client.delete(f"/v1/datasets/d/annotations/{mine}", headers=ALICE).json()["deleted"]["id"] == mine
    bob = {**PLAIN, "X-Annotator": "bob"}
    assert client.post(f"/v1/datasets/d/documents/{doc}/annotations", json={"labels": ["x"]}, headers=bob).is_success


def test_reading_annotators_work_needs_a_key_once_keys_are_set(client, app_settings):
    doc = first_doc(app_settings)
    client.post(f"/v1/datasets/d/documents/{doc}/annotations", json={"labels": ["secret-label"]}, headers=ALICE)
    reads = [
        (f"/v1/datasets/d/documents/{doc}", {"annotator": "alice"}),
        ("/v1/datasets/d/queue", {"annotator": "alice", "strategy": "random"}),
        ("/v1/datasets/d/progress", {"annotator": "alice"}),
        ("/v1/datasets/d/labels", {}),
    ]
    for url, params in reads:
        err = assert_error(client.get(url, params=params), 401, "E601")
        assert "secret-label" not in str(err)
        assert_error(client.get(url, params=params, headers={"X-API-Key": "wrong"}), 401, "E601")
        assert client.get(url, params=params, headers=PLAIN).status_code == 200, url
        assert client.get(url, params=params, headers=ALICE).status_code == 200, url
    assert_error(client.get("/v1/datasets"), 401, "E601")  # datasets are data too: the read scope
    assert client.get("/v1/datasets", headers=PLAIN).status_code == 200


def test_without_configured_keys_the_labeling_reads_stay_open(tmp_path):
    settings = make_settings(tmp_path)
    st = open_store(settings)
    import_records(st, "d", [Record(text="A text", labels=[])], create=True)
    st.close()
    with TestClient(create_app(settings)) as c:
        assert c.get("/v1/datasets/d/progress").status_code == 200
        assert c.get("/v1/datasets/d/labels").status_code == 200
