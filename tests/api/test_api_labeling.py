"""The labeling API through the real app: annotators, queue, documents, annotations, reviews, progress, /ui."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.main import create_app
from nlpipe.store.datasets import load_dataset
from nlpipe.store.db import open_store
from nlpipe.store.importing import import_records
from nlpipe.store.schema import Annotation
from nlpipe.types import Record, Span
from tests.api.test_api import assert_error
from tests.conftest import make_settings

ALICE = {"X-API-Key": "ka"}  # a key that carries the name alice
BOB = {"X-API-Key": "plain", "X-Annotator": "bob"}  # a plain key plus a name
READ = {"X-API-Key": "plain"}  # reading annotators' work needs a key once keys are configured
TEXTS = [
    "Apple opened a new office in Berlin",
    "The striker scored twice in the final",
    "Parliament passed the budget",
    "Shares slid after the results",
]


@pytest.fixture
def app_settings(tmp_path, trained):
    settings = make_settings(tmp_path, api_keys=["alice:ka", "plain"], models_dir=trained.models_dir)
    st = open_store(settings)
    import_records(st, "d", [Record(text=t, labels=[]) for t in TEXTS], create=True)
    import_records(st, "d", [Record(text=TEXTS[0], labels=["business"], spans=[Span(0, 5, "ORG")])], source="rule")
    import_records(st, "d", [Record(text="Imported text", labels=["politics"])])
    st.close()
    return settings


@pytest.fixture
def client(app_settings):
    with TestClient(create_app(app_settings)) as c:
        yield c


def doc_ids(settings) -> dict[str, int]:
    st = open_store(settings)
    with st.session() as s:
        data = load_dataset(s, "d", labeled_only=False)
    st.close()
    return dict(zip(data.texts, data.doc_ids, strict=True))


def test_api_labeling_annotator_from_key_or_header(client):
    assert client.get("/v1/labeling/annotator", headers=ALICE).json() == {"annotator": "alice", "from": "key"}
    assert client.get("/v1/labeling/annotator", headers=BOB).json() == {"annotator": "bob", "from": "header"}
    assert_error(client.get("/v1/labeling/annotator", headers={"X-API-Key": "plain"}), 422, "E630")
    assert_error(client.get("/v1/labeling/annotator", headers={**ALICE, "X-Annotator": "mallory"}), 401, "E631")
    assert_error(client.get("/v1/labeling/annotator", headers={"X-API-Key": "alice:ka"}), 401, "E601")
    assert_error(
        client.get("/v1/labeling/annotator", headers={"X-API-Key": "plain", "X-Annotator": "b/b"}), 422, "E241"
    )


def test_api_labeling_annotate_read_and_undo(client, app_settings):
    doc = doc_ids(app_settings)[TEXTS[1]]
    r = client.post(
        f"/v1/datasets/d/documents/{doc}/annotations",
        json={"labels": ["sports"], "spans": [{"start": 4, "end": 11, "label": "ROLE"}]},
        headers=ALICE,
    )
    assert r.status_code == 201, r.text
    made = r.json()["annotations"]
    assert [(a["kind"], a["label"], a["author"], a["created"]) for a in made] == [
        ("label", "sports", "alice", True),
        ("span", "ROLE", "alice", True),
    ]
    assert (
        client.post(f"/v1/datasets/d/documents/{doc}/annotations", json={"labels": ["sports"]}, headers=BOB).status_code
        == 201
    )
    mine = client.get(f"/v1/datasets/d/documents/{doc}", params={"annotator": "alice"}, headers=READ).json()
    assert mine["text"] == TEXTS[1] and {a["label"] for a in mine["annotations"]} == {"sports", "ROLE"}
    bobs = client.get(f"/v1/datasets/d/documents/{doc}", params={"annotator": "bob"}, headers=READ).json()
    assert [(a["label"], a["author"]) for a in bobs["annotations"]] == [("sports", "bob")]
    # bob cannot delete alice's annotation; alice can (undo).
    assert_error(client.delete(f"/v1/datasets/d/annotations/{made[0]['id']}", headers=BOB), 404, "E244")
    assert_error(client.delete(f"/v1/datasets/d/annotations/{made[0]['id']}"), 401, "E601")
    r = client.delete(f"/v1/datasets/d/annotations/{made[0]['id']}", headers=ALICE)
    assert r.status_code == 200 and r.json()["deleted"]["label"] == "sports"
    mine = client.get(f"/v1/datasets/d/documents/{doc}", params={"annotator": "alice"}, headers=READ).json()
    assert [a["label"] for a in mine["annotations"]] == ["ROLE"]


def test_api_labeling_bad_requests(client, app_settings):
    doc = doc_ids(app_settings)[TEXTS[2]]
    url = f"/v1/datasets/d/documents/{doc}/annotations"
    err = assert_error(
        client.post(url, json={"spans": [{"start": 5, "end": 500, "label": "X"}]}, headers=ALICE), 422, "E242"
    )
    assert "28 characters" in err["message"]
    assert_error(client.post(url, json={}, headers=ALICE), 422, "E248")
    assert_error(client.post(url, json={"labels": [""]}, headers=ALICE), 422, "E243")
    assert_error(client.post(url, json={"labels": "sports"}, headers=ALICE), 422, "E606")
    assert_error(client.post(url, json={"labels": ["x"]}), 401, "E601")
    assert_error(client.post("/v1/datasets/d/documents/99999/annotations", json={"labels": ["x"]}, headers=ALICE),
                 404, "E240")  # fmt: skip
    assert_error(client.get("/v1/datasets/nope/documents/1", headers=READ), 404, "E203")
    assert_error(client.get("/v1/datasets/d/queue", params={"strategy": "smart"}, headers=READ), 422, "E720")
    assert_error(client.get("/v1/datasets/d/queue", params={"strategy": "uncertainty"}, headers=READ), 422, "E721")
    assert_error(client.get("/v1/datasets/d/queue", params={"model": "missing"}, headers=READ), 404, "E403")
    assert_error(client.get("/v1/datasets/d/queue", params={"limit": 0}, headers=READ), 422, "E606")


def test_api_labeling_queue_skips_what_the_annotator_did(client, app_settings):
    ids = doc_ids(app_settings)
    client.post(f"/v1/datasets/d/documents/{ids[TEXTS[0]]}/annotations", json={"labels": ["business"]}, headers=ALICE)
    q = client.get(
        "/v1/datasets/d/queue", params={"strategy": "random", "annotator": "alice", "limit": 10}, headers=READ
    ).json()
    assert q["pool"] == 3 and {i["document_id"] for i in q["items"]} == {ids[t] for t in TEXTS[1:]}
    q_bob = client.get("/v1/datasets/d/queue", params={"strategy": "random", "annotator": "bob"}, headers=READ).json()
    assert q_bob["pool"] == 4  # alice's work does not take documents from bob; the imported one is never queued
    q_any = client.get("/v1/datasets/d/queue", params={"strategy": "diversity"}, headers=READ).json()
    assert q_any["pool"] == 3 and q_any["strategy"] == "diversity"


def test_api_labeling_queue_by_model_uncertainty(client, app_settings, trained):
    from nlpipe.label.queue import build_queue
    from nlpipe.predict import load_predictor

    q = client.get("/v1/datasets/d/queue", params={"model": "news", "limit": 3}, headers=READ).json()
    assert q["strategy"] == "uncertainty" and q["model"] == {"name": "news", "version": "v1"}
    st = open_store(app_settings)
    with st.session() as s:
        expected = build_queue(s, "d", predictor=load_predictor(trained.models_dir, "news"), limit=3)
    st.close()
    assert q["items"] == expected["items"]


def test_api_labeling_accept_reject_and_model_suggestions(client, app_settings):
    doc = doc_ids(app_settings)[TEXTS[0]]
    url = f"/v1/datasets/d/documents/{doc}"
    pre = client.get(url, params={"annotator": "alice"}, headers=READ).json()["pre_annotations"]
    assert [(p["kind"], p["label"], p["source"]) for p in pre] == [
        ("label", "business", "rule"),
        ("span", "ORG", "rule"),
    ]
    acc = client.post(url + "/reviews", json={"decision": "accept", "kind": "span", "label": "ORG", "source": "rule",
                                              "start": 0, "end": 5}, headers=ALICE)  # fmt: skip
    assert acc.status_code == 201, acc.text
    assert acc.json()["annotation"]["author"] == "alice" and acc.json()["annotation"]["kind"] == "span"
    rej = client.post(
        url + "/reviews", json={"decision": "reject", "label": "business", "source": "rule"}, headers=ALICE
    )
    assert rej.status_code == 201
    alice = client.get(url, params={"annotator": "alice"}, headers=READ).json()
    assert alice["pre_annotations"] == [] and [a["label"] for a in alice["annotations"]] == ["ORG"]
    assert len(client.get(url, params={"annotator": "bob"}, headers=READ).json()["pre_annotations"]) == 2
    # Undo the reject: the rule label shows again for alice.
    assert client.delete(f"/v1/datasets/d/reviews/{rej.json()['review']['id']}", headers=ALICE).status_code == 200
    assert [
        p["label"] for p in client.get(url, params={"annotator": "alice"}, headers=READ).json()["pre_annotations"]
    ] == ["business"]
    assert_error(client.delete(f"/v1/datasets/d/reviews/{acc.json()['review']['id']}", headers=BOB), 404, "E247")
    assert_error(client.post(url + "/reviews", json={"decision": "maybe", "label": "x", "source": "rule"},
                             headers=ALICE), 422, "E606")  # fmt: skip
    # A model's predictions are offered as suggestions, and can be rejected like stored ones.
    sports = doc_ids(app_settings)[TEXTS[1]]
    got = client.get(
        f"/v1/datasets/d/documents/{sports}", params={"annotator": "bob", "model": "news"}, headers=READ
    ).json()
    [sugg] = got["pre_annotations"]
    assert (sugg["label"], sugg["source"], sugg["by"]) == ("sports", "model", ["news@v1"]) and sugg["score"] > 0.25
    client.post(f"/v1/datasets/d/documents/{sports}/reviews", json={"decision": "reject", "label": "sports",
                                                                    "source": "model"}, headers=BOB)  # fmt: skip
    got = client.get(
        f"/v1/datasets/d/documents/{sports}", params={"annotator": "bob", "model": "news"}, headers=READ
    ).json()
    assert got["pre_annotations"] == []


def test_api_labeling_progress_labels_and_stats_agreement(client, app_settings):
    ids = doc_ids(app_settings)
    alice = ["business", "sports", "politics", "business"]
    bob = ["business", "sports", "politics", "politics"]
    for t, a, b in zip(TEXTS, alice, bob, strict=True):
        client.post(f"/v1/datasets/d/documents/{ids[t]}/annotations", json={"labels": [a]}, headers=ALICE)
        if t != TEXTS[3]:
            client.post(f"/v1/datasets/d/documents/{ids[t]}/annotations", json={"labels": [b]}, headers=BOB)
    p = client.get("/v1/datasets/d/progress", params={"annotator": "bob"}, headers=READ).json()
    assert (p["done"], p["total"], p["remaining"]) == (3, 4, 1)
    assert client.get("/v1/datasets/d/progress", params={"annotator": "alice"}, headers=READ).json()["remaining"] == 0
    assert client.get("/v1/datasets/d/labels", headers=READ).json() == {
        "labels": ["business", "politics", "sports"],
        "entity_types": ["ORG"],
    }
    agr = client.get("/v1/datasets/d", headers=READ).json()["agreement"]
    assert agr["annotators"] == ["alice", "bob"] and agr["documents"] == 3
    assert agr["pairs"][0]["kappa"] == pytest.approx(1.0)


def test_api_labeling_concurrent_annotators_keep_their_annotations(client, app_settings):
    """Annotators posting to the same document at the same time through the app: every annotation is kept."""
    doc = doc_ids(app_settings)[TEXTS[2]]
    names = [f"ann{i}" for i in range(6)]
    barrier = threading.Barrier(len(names))
    statuses: list[int] = []

    def work(name: str) -> None:
        barrier.wait(timeout=10)
        for label in ("politics", name):
            r = client.post(
                f"/v1/datasets/d/documents/{doc}/annotations",
                json={"labels": [label], "spans": [{"start": 0, "end": 10, "label": "ORG"}]},
                headers={"X-API-Key": "plain", "X-Annotator": name},
            )
            statuses.append(r.status_code)

    threads = [threading.Thread(target=work, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert statuses == [201] * 12
    st = open_store(app_settings)
    with st.session() as s:
        rows = s.execute(
            select(Annotation.author, Annotation.kind, Annotation.label).where(
                Annotation.document_id == doc, Annotation.source == "human"
            )
        ).all()
    st.close()
    expected = {(n, "label", "politics") for n in names} | {(n, "label", n) for n in names}
    expected |= {(n, "span", "ORG") for n in names}
    assert sorted(rows) == sorted(expected)  # no duplicates, nothing lost
    for n in names:
        mine = client.get(f"/v1/datasets/d/documents/{doc}", params={"annotator": n}, headers=READ).json()[
            "annotations"
        ]
        assert {a["label"] for a in mine} == {"politics", n, "ORG"}


def test_api_labeling_page_is_served(client):
    page = client.get("/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/ui/app.js">' in page.text and 'id="doc-text"' in page.text
    js = client.get("/ui/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"] and "X-Annotator" in js.text
    assert client.get("/ui/style.css").headers["content-type"].startswith("text/css")
    assert "/ui" not in client.get("/openapi.json").json()["paths"]


def test_api_labeling_entity_model_suggests_spans_and_the_queue_falls_back(tmp_path, trained_entities):
    settings = make_settings(tmp_path, api_keys=["plain"], models_dir=trained_entities.models_dir)
    text = "Acme Corp hired Maria Lopez in Leeds"
    st = open_store(settings)
    import_records(st, "d", [Record(text=text, labels=[])], create=True)
    st.close()
    doc = doc_ids(settings)[text]
    with TestClient(create_app(settings)) as c:
        got = c.get(
            f"/v1/datasets/d/documents/{doc}", params={"annotator": "bob", "model": "ents"}, headers=READ
        ).json()
        suggested = got["pre_annotations"]
        assert suggested and all(p["kind"] == "span" and p["source"] == "model" for p in suggested)
        assert all(text[p["start"] : p["end"]].strip() and p["by"] == ["ents@v1"] for p in suggested)
        assert c.get("/v1/datasets/d/queue", params={"model": "ents"}, headers=READ).json()["strategy"] == "diversity"
        assert_error(
            c.get("/v1/datasets/d/queue", params={"model": "ents", "strategy": "uncertainty"}, headers=READ),
            422,
            "E722",
        )
