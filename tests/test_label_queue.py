"""The active-learning queue: uncertainty, random and diversity orders over the documents that need a person."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from sqlalchemy import delete, func, select, text

from nlpipe.errors import ConflictError, InputError
from nlpipe.label.queue import build_queue
from nlpipe.label.queue_scoring import farthest_first, margin_uncertainty, threshold_uncertainty
from nlpipe.predict import load_predictor
from nlpipe.store import annotations as A
from nlpipe.store.datasets import load_dataset
from nlpipe.store.db import open_store
from nlpipe.store.importing import import_records
from nlpipe.store.schema import QueueCache, QueueScore
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


# ----------------------------------------------------------------------------------------------- the cache


class CountingPredictor:
    """A duck-typed two-label classifier that counts the texts it scores (the score depends on the text only)."""

    task = "classify"
    multi_label = False
    labels = ["a", "b"]
    thresholds = np.array([0.5, 0.5])

    def __init__(self, version: str = "v1", created_at: str = "2026-01-01T00:00:00+00:00") -> None:
        self.name, self.version = "counting", version
        self.meta = {"created_at": created_at}
        self.scored: list[str] = []

    def predict(self, texts, top_k=None):
        from nlpipe.types import LabelScore, Prediction

        self.scored += list(texts)
        out = []
        for t in texts:
            p = (sum(map(ord, t)) % 97) / 97 if self.version == "v1" else (len(t) % 13) / 13
            scores = sorted([LabelScore("a", p), LabelScore("b", 1 - p)], key=lambda ls: -ls.score)
            out.append(Prediction(labels=scores, predicted=[scores[0].label]))
        return out


@pytest.fixture
def backend_store(backend_settings):
    st = open_store(backend_settings)
    yield st
    st.close()


def _texts(n: int, start: int = 0) -> list[str]:
    return [f"document {i} " + "word " * (i % 7) for i in range(start, start + n)]


def test_label_queue_uncertainty_is_cached_and_refreshed_incrementally(backend_store):
    st = backend_store
    import_records(st, "d", [Record(text=t, labels=[]) for t in _texts(30)], create=True)
    import_records(st, "d", [Record(text="imported with a label", labels=["a"])])
    model = CountingPredictor()
    first = build_queue(st, "d", predictor=model, limit=5)
    assert len(model.scored) == 30 and "imported with a label" not in model.scored  # never in the pool
    model.scored.clear()
    second = build_queue(st, "d", predictor=model, limit=5)
    assert model.scored == [] and second == first  # answered from the cache: nothing scored
    # The same order and scores as scoring the whole pool now, without a cache (a session on a fresh model).
    fresh = CountingPredictor()
    with st.session() as s:
        s.execute(delete(QueueCache))
        assert build_queue(s, "d", predictor=fresh, limit=5) == first and len(fresh.scored) == 30
    # Labeling takes a document out of the pool without scoring anything.
    top = first["items"][0]["document_id"]
    with st.session() as s:
        A.add_annotations(s, "d", top, "alice", labels=["a"])
    model.scored.clear()
    after = build_queue(st, "d", predictor=model, limit=5)
    assert (
        model.scored == []
        and after["pool"] == 29
        and [i["document_id"] for i in after["items"]]
        == [i["document_id"] for i in build_queue(st, "d", predictor=model, limit=6)["items"][:5]]
    )
    assert top not in {i["document_id"] for i in after["items"]}
    # Documents added since are the only ones scored.
    import_records(st, "d", [Record(text=t, labels=[]) for t in _texts(5, start=100)])
    model.scored.clear()
    grown = build_queue(st, "d", predictor=model, limit=None)
    assert sorted(model.scored) == sorted(_texts(5, start=100)) and grown["pool"] == 34
    # A new version of the model scores everything again (and its scores differ): every document but the
    # imported one, also the one alice labeled (her label can be undone, other annotators still see it).
    v2 = CountingPredictor(version="v2")
    again = build_queue(st, "d", predictor=v2, limit=None)
    assert len(v2.scored) == 35 and again["model"]["version"] == "v2"
    assert [i["score"] for i in again["items"]] != [i["score"] for i in grown["items"]]
    # The same version trained again (a new creation time) is not taken for the old one either.
    retrained = CountingPredictor(version="v2", created_at="2026-02-01T00:00:00+00:00")
    build_queue(st, "d", predictor=retrained, limit=3)
    assert len(retrained.scored) == 35
    with st.session() as s:  # one cache per model: the new version replaced the old one's
        assert s.scalar(select(func.count()).select_from(QueueCache)) == 1


def test_label_queue_cache_with_annotators(backend_store):
    """Scores are shared; what each annotator already labeled is filtered out when the queue is read."""
    st = backend_store
    import_records(st, "d", [Record(text=t, labels=[]) for t in _texts(10)], create=True)
    model = CountingPredictor()
    everyone = [i["document_id"] for i in build_queue(st, "d", predictor=model, limit=None)["items"]]
    with st.session() as s:
        A.add_annotations(s, "d", everyone[0], "alice", labels=["a"])
    model.scored.clear()
    alice = build_queue(st, "d", predictor=model, limit=None, annotator="alice")
    bob = build_queue(st, "d", predictor=model, limit=None, annotator="bob")
    anyone = build_queue(st, "d", predictor=model, limit=None)
    assert model.scored == []
    assert [i["document_id"] for i in alice["items"]] == everyone[1:] and alice["pool"] == 9
    assert [i["document_id"] for i in bob["items"]] == everyone and bob["pool"] == 10
    assert anyone["pool"] == 9


def test_label_queue_random_is_cached_stable_and_seeded(backend_store):
    st = backend_store
    import_records(st, "d", [Record(text=t, labels=[]) for t in _texts(40)], create=True)
    a = [i["document_id"] for i in build_queue(st, "d", strategy="random", limit=None, seed=1)["items"]]
    assert a == [i["document_id"] for i in build_queue(st, "d", strategy="random", limit=None, seed=1)["items"]]
    b = [i["document_id"] for i in build_queue(st, "d", strategy="random", limit=None, seed=2)["items"]]
    assert sorted(a) == sorted(b) and a != b
    assert a == [i["document_id"] for i in build_queue(st, "d", strategy="random", limit=None, seed=1)["items"]]
    # Labeling one document or adding others does not reshuffle the rest.
    with st.session() as s:
        A.add_annotations(s, "d", a[3], "alice", labels=["x"])
    import_records(st, "d", [Record(text=t, labels=[]) for t in _texts(10, start=500)])
    after = [i["document_id"] for i in build_queue(st, "d", strategy="random", limit=None, seed=1)["items"]]
    assert len(after) == 49 and [d for d in after if d in set(a)] == [d for d in a if d != a[3]]


def test_label_queue_diversity_cache_holds_while_its_picks_are_labeled(backend_store, monkeypatch):
    import nlpipe.label.queue_diversity as Q

    st = backend_store
    texts = [
        "football match goal striker", "football team won the match", "galaxy telescope astronomers star",
        "bread bakery croissants morning", "election parliament vote senators", "stock shares market profit",
        "football striker scored a goal", "telescope observed a distant galaxy",
    ]  # fmt: skip
    import_records(st, "d", [Record(text="football match with a goal", labels=["sports"])], create=True)
    import_records(st, "d", [Record(text=t, labels=[]) for t in texts])
    runs = []
    farthest = Q._farthest
    monkeypatch.setattr(Q, "_farthest", lambda *a: runs.append(1) or farthest(*a))
    first = build_queue(st, "d", strategy="diversity", limit=None)
    assert build_queue(st, "d", strategy="diversity", limit=None) == first and len(runs) == 1
    order = [i["document_id"] for i in first["items"]]
    # Labeling the first pick keeps the order (farthest-first already counted it as a center) ...
    with st.session() as s:
        A.add_annotations(s, "d", order[0], "alice", labels=["x"])
    kept = build_queue(st, "d", strategy="diversity", limit=None)
    assert len(runs) == 1 and [i["document_id"] for i in kept["items"]] == order[1:]
    with st.session() as s:  # ... and is what computing it afresh gives
        s.execute(delete(QueueCache))
    assert build_queue(st, "d", strategy="diversity", limit=None)["items"] == kept["items"] and len(runs) == 2
    # Labeling a document out of turn (here the last pick), or adding documents, computes the order again.
    with st.session() as s:
        A.add_annotations(s, "d", order[-1], "alice", labels=["x"])
    build_queue(st, "d", strategy="diversity", limit=None)
    assert len(runs) == 3
    import_records(st, "d", [Record(text="a recipe for soup with onions", labels=[])])
    grown = build_queue(st, "d", strategy="diversity", limit=None)
    assert len(runs) == 4 and grown["pool"] == 7


def test_label_queue_diversity_is_bounded_by_a_seeded_sample(store, monkeypatch):
    import nlpipe.label.queue_diversity as Q

    monkeypatch.setattr(Q, "DIVERSITY_CANDIDATES", 5)
    monkeypatch.setattr(Q, "DIVERSITY_PICKS", 2)
    import_records(store, "d", [Record(text=t, labels=[]) for t in _texts(12)], create=True)
    q = build_queue(store, "d", strategy="diversity", limit=None, seed=3)
    again = build_queue(store, "d", strategy="diversity", limit=None, seed=3)
    assert q["pool"] == 12 and len(q["items"]) == 5 and again == q  # five candidates ordered, from a seeded sample
    with store.session() as s:
        s.execute(delete(QueueCache))
    assert build_queue(store, "d", strategy="diversity", limit=None, seed=3) == q
    assert build_queue(store, "d", strategy="diversity", limit=None, seed=4)["items"] != q["items"]


def test_label_queue_cache_replaced_midway_stops_with_e724(store, monkeypatch):
    """A request filling a cache that another request replaced (a newer model version) stops instead of
    writing stale scores."""
    import nlpipe.label.queue_scoring as Q

    monkeypatch.setattr(Q.UncertaintyScorer, "chunk", 4)
    import_records(store, "d", [Record(text=t, labels=[]) for t in _texts(10)], create=True)
    v1 = CountingPredictor()
    predict = v1.predict

    def newer_version_meanwhile(texts, top_k=None):
        if len(v1.scored) == 4:  # after the first chunk: another request opens the queue with version v2
            build_queue(store, "d", predictor=CountingPredictor(version="v2"), limit=1)
        return predict(texts, top_k=top_k)

    v1.predict = newer_version_meanwhile
    with pytest.raises(ConflictError) as exc:
        build_queue(store, "d", predictor=v1, limit=1)
    assert exc.value.code == "E724"
    with store.session() as s:
        assert s.scalars(select(QueueCache.version)).all() == ["v2"]
        assert s.scalar(select(func.count()).select_from(QueueScore)) == 10


def test_label_queue_large_fill_renews_planner_statistics(backend_store, monkeypatch):
    """After a refresh that wrote many scores, PostgreSQL's statistics of queue_scores are renewed (ANALYZE):
    stale ones (an empty table) made the next refresh of a million-row cache 5x slower. SQLite: nothing to do."""
    import nlpipe.label.queue_cache as Q
    from nlpipe.store.bulk import BulkWriter

    st = backend_store
    analyzed = []
    analyze = BulkWriter.analyze
    monkeypatch.setattr(BulkWriter, "analyze", lambda self, table: analyzed.append(table.name) or analyze(self, table))
    monkeypatch.setattr(Q, "ANALYZE_AFTER", 30)
    import_records(st, "d", [Record(text=t, labels=[]) for t in _texts(40)], create=True)
    build_queue(st, "d", strategy="random", limit=5, seed=1)
    assert analyzed == ["queue_scores"]
    import_records(st, "d", [Record(text=t, labels=[]) for t in _texts(10, start=500)])
    build_queue(st, "d", strategy="random", limit=5, seed=1)  # 10 new scores: below the threshold
    assert analyzed == ["queue_scores"]
    if st.engine.dialect.name == "postgresql":  # ANALYZE ran: the planner knows the rows (-1 = never analyzed)
        with st.session() as s:
            rows = s.execute(text("SELECT reltuples FROM pg_class WHERE relname = 'queue_scores'")).scalar()
        assert rows == 40
