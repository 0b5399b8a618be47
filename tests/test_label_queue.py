"""The active-learning queue: uncertainty, random and diversity orders over the documents that need a person."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy.sparse import csr_matrix

from nlpipe.errors import InputError
from nlpipe.label.queue import build_queue, farthest_first, margin_uncertainty, threshold_uncertainty
from nlpipe.predict import load_predictor
from nlpipe.store import annotations as A
from nlpipe.store.datasets import import_records, load_dataset
from nlpipe.store.db import open_store
from nlpipe.types import Record
from tests.conftest import DATA, make_settings

UNLABELED = [
    "The striker scored twice and the home team won the cup final",
    "Shares slid after the bank missed its quarterly profit forecast",
    "Parliament passed the budget after a long debate among senators",
    "Astronomers found water on a planet orbiting a distant star",
    "The match ended in a draw after extra time",
    "Interest rates rose again as inflation stayed high",
]


def ids_by_text(st, name: str = "d") -> dict[str, int]:
    with st.session() as s:
        data = load_dataset(s, name, labeled_only=False)
    return dict(zip(data.texts, data.doc_ids, strict=True))


@pytest.fixture
def pool_store(store):
    import_records(store, "d", [Record(text=t, labels=[]) for t in UNLABELED], create=True)
    import_records(store, "d", [Record(text="Imported and labeled already", labels=["business"])])
    return store


def test_label_queue_margin_uncertainty_by_hand():
    proba = np.array([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25], [0.5, 0.5, 0.0]])
    # 1 - (top - second): 1 - 0.85, 1 - 0.05, 1 - 0
    assert margin_uncertainty(proba) == pytest.approx([0.15, 0.95, 1.0])


def test_label_queue_threshold_uncertainty_is_multi_label_aware():
    thresholds = np.array([0.5, 0.2])
    proba = np.array([[0.95, 0.9], [0.55, 0.0], [0.0, 0.21]])
    # closest label to its threshold, scaled by the largest distance possible (0.5 and 0.8)
    expected = [1 - min(0.45 / 0.5, 0.7 / 0.8), 1 - min(0.05 / 0.5, 0.2 / 0.8), 1 - min(0.5 / 0.5, 0.01 / 0.8)]
    assert threshold_uncertainty(proba, thresholds) == pytest.approx(expected)


def test_label_queue_farthest_first_by_hand():
    x = csr_matrix(np.array([[1.0, 0, 0], [0.8, 0.6, 0], [0, 0, 1.0], [0, 1.0, 0]]))
    # One center along the first axis: row 2 and 3 are orthogonal to it (distance 1); row 2 wins the tie.
    picks, dists = farthest_first(x, csr_matrix(np.array([[1.0, 0, 0]])), 3)
    assert picks == [2, 3, 1] and dists == pytest.approx([1.0, 1.0, 1 - 0.8])
    # Without centers the first pick is the most typical row (closest to the mean direction).
    picks, _ = farthest_first(x, None, 2)
    assert picks[0] == 1 and picks[1] == 2


def test_label_queue_pool_skips_imported_and_human_labeled(pool_store):
    ids = ids_by_text(pool_store)
    with pool_store.session() as s:
        A.add_annotations(s, "d", ids[UNLABELED[0]], "alice", labels=["sports"])
        A.add_annotations(s, "d", ids[UNLABELED[1]], "bob", labels=["business"])
        anyone = build_queue(s, "d", strategy="random", limit=None)
        alice = build_queue(s, "d", strategy="random", limit=None, annotator="alice")
    assert anyone["pool"] == 4 and {i["document_id"] for i in anyone["items"]} == {ids[t] for t in UNLABELED[2:]}
    # For alice, bob's document still waits (several annotators can label it); hers does not.
    assert {i["document_id"] for i in alice["items"]} == {ids[t] for t in UNLABELED[1:]}
    assert all(i["preview"] for i in alice["items"]) and alice["annotator"] == "alice"


def test_label_queue_random_is_seeded(pool_store):
    with pool_store.session() as s:
        a = [i["document_id"] for i in build_queue(s, "d", strategy="random", limit=None, seed=3)["items"]]
        b = [i["document_id"] for i in build_queue(s, "d", strategy="random", limit=None, seed=3)["items"]]
        c = [
            [i["document_id"] for i in build_queue(s, "d", strategy="random", limit=None, seed=k)["items"]]
            for k in range(5)
        ]
        two = build_queue(s, "d", strategy="random", limit=2, seed=3)["items"]
    assert a == b and sorted(a) == sorted(ids_by_text(pool_store).values())[:6]
    assert len({tuple(o) for o in c}) > 1
    assert [i["document_id"] for i in two] == a[:2] and [i["rank"] for i in two] == [1, 2]


def test_label_queue_diversity_starts_far_from_labeled_documents(store):
    labeled = [
        "The striker scored in the football match",
        "The football team won the match with a late goal",
    ]
    pool = [
        "A football match with a goal from the striker",
        "Astronomers observed a galaxy through the new telescope",
        "The team won the football match",
        "Bakers sell fresh bread and croissants every morning",
    ]
    import_records(store, "d", [Record(text=t, labels=["sports"]) for t in labeled], create=True)
    import_records(store, "d", [Record(text=t, labels=[]) for t in pool])
    ids = ids_by_text(store)
    with store.session() as s:
        q = build_queue(s, "d", strategy="diversity", limit=None)
    order = [i["document_id"] for i in q["items"]]
    assert set(order[:2]) == {ids[pool[1]], ids[pool[3]]}  # the two unlike anything labeled come first
    assert set(order[2:]) == {ids[pool[0]], ids[pool[2]]}
    assert q["items"][0]["score"] == pytest.approx(1.0) and q["items"][-1]["score"] < 0.8
    with store.session() as s:
        assert build_queue(s, "d")["strategy"] == "diversity"  # the default without a model


def test_label_queue_errors(pool_store):
    with pool_store.session() as s:
        for kwargs, code in (
            (dict(strategy="smart"), "E720"),
            (dict(strategy="uncertainty"), "E721"),
            (dict(limit=0), "E723"),
            (dict(annotator="bad/name"), "E241"),
        ):
            with pytest.raises(InputError) as exc:
                build_queue(s, "d", **kwargs)
            assert exc.value.code == code, kwargs
        assert "--model" in pytest.raises(InputError, build_queue, s, "d", strategy="uncertainty").value.message


def test_label_queue_uncertainty_single_label_least_confident_first(store, trained):
    import_records(store, "d", [Record(text=t, labels=[]) for t in UNLABELED], create=True)
    predictor = load_predictor(trained.models_dir, "news")
    with store.session() as s:
        q = build_queue(s, "d", predictor=predictor, limit=None)
    assert q["strategy"] == "uncertainty" and q["model"] == {"name": "news", "version": "v1"}
    scores = [i["score"] for i in q["items"]]
    assert scores == sorted(scores, reverse=True)
    ids = ids_by_text(store)
    texts = {v: k for k, v in ids.items()}
    for item in q["items"]:
        [pred] = predictor.predict([texts[item["document_id"]]], top_k=4)
        top = sorted((ls.score for ls in pred.labels), reverse=True)
        assert item["score"] == pytest.approx(1 - (top[0] - top[1]), abs=1e-6)
        assert item["predicted"] == pred.predicted and item["labels"][0]["label"] == pred.predicted[0]


@pytest.fixture(scope="module")
def feedback_model(tmp_path_factory):
    """A multi-label model trained on data/feedback.csv with a small time budget."""
    from nlpipe.train import train

    cfg = make_settings(tmp_path_factory.mktemp("feedback"))
    st = open_store(cfg)
    rows = list(csv.DictReader((DATA / "feedback.csv").read_text().splitlines()))
    import_records(st, "fb", [Record(text=r["text"], labels=r["labels"].split("|")) for r in rows], create=True)
    train(st, cfg, "fb", "fb", time_budget=1)
    st.close()
    return load_predictor(cfg.models_dir, "fb")


def test_label_queue_uncertainty_multi_label_uses_thresholds(store, feedback_model):
    texts = [
        "I was charged twice and the parcel still has not arrived",
        "The app crashes every time I open my invoices",
        "Great service, thanks",
        "Where is my order? It is a week late",
    ]
    import_records(store, "d", [Record(text=t, labels=[]) for t in texts], create=True)
    assert feedback_model.multi_label
    with store.session() as s:
        q = build_queue(s, "d", predictor=feedback_model, limit=None)
    ids = ids_by_text(store)
    by_id = {v: k for k, v in ids.items()}
    proba = feedback_model.model.predict_proba([by_id[i["document_id"]] for i in q["items"]])
    t = np.asarray(feedback_model.thresholds)
    closest = (np.abs(proba - t) / np.maximum(t, 1 - t)).min(axis=1)
    assert [i["score"] for i in q["items"]] == pytest.approx(list(1 - closest), abs=1e-6)
    assert list(closest) == sorted(closest)
