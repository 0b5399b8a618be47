"""Agreement between annotators: Cohen's kappa (by hand and against scikit-learn) and span F1 (by hand)."""

from __future__ import annotations

import pytest
from sklearn.metrics import cohen_kappa_score

from nlpipe.store import annotations as A
from nlpipe.store.agreement import agreement, cohen_kappa, span_agreement
from nlpipe.store.datasets import load_dataset
from nlpipe.store.importing import import_records
from nlpipe.store.stats import dataset_stats
from nlpipe.types import Record


def test_agreement_kappa_by_hand_two_categories():
    # 50 items: both yes 20, a yes / b no 5, a no / b yes 10, both no 15.
    a = ["yes"] * 20 + ["yes"] * 5 + ["no"] * 10 + ["no"] * 15
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    # p_o = 35/50 = 0.7; p_e = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))


def test_agreement_kappa_by_hand_three_categories():
    a = ["x", "x", "y", "z", "z", "y"]
    b = ["x", "y", "y", "z", "x", "y"]
    # p_o = 4/6; p_e = (2*2 + 2*3 + 2*1) / 36 = 1/3; kappa = (2/3 - 1/3) / (2/3) = 0.5
    assert cohen_kappa(a, b) == pytest.approx(0.5)
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert cohen_kappa(a, a) == pytest.approx(1.0)


def test_agreement_kappa_undefined_and_mismatched():
    assert cohen_kappa(["x", "x"], ["x", "x"]) is None  # one category throughout: p_e = 1
    assert cohen_kappa([], []) is None
    with pytest.raises(ValueError):
        cohen_kappa(["x"], ["x", "y"])


def test_agreement_single_label_pairs_only_on_shared_documents():
    rows = [
        (1, "alice", "a"), (1, "bob", "a"), (1, "carol", "b"),
        (2, "alice", "b"), (2, "bob", "a"),
        (3, "alice", "a"), (3, "bob", "a"),
        (4, "alice", "b"),  # only alice: not compared
        (5, "carol", "a"),
    ]  # fmt: skip
    agr = agreement(rows)
    assert agr["mode"] == "single-label" and agr["annotators"] == ["alice", "bob", "carol"]
    assert agr["documents"] == 3
    pairs = {(p["a"], p["b"]): p for p in agr["pairs"]}
    assert set(pairs) == {("alice", "bob"), ("alice", "carol"), ("bob", "carol")}
    ab = pairs[("alice", "bob")]
    assert ab["documents"] == 3 and ab["observed"] == pytest.approx(2 / 3)
    assert ab["kappa"] == pytest.approx(cohen_kappa_score(["a", "b", "a"], ["a", "a", "a"]))
    assert pairs[("alice", "carol")]["documents"] == 1
    assert agreement([(1, "alice", "a"), (2, "bob", "a")]) is None


def test_agreement_multi_label_per_label_presence():
    alice = {1: {"billing", "delivery"}, 2: {"billing"}, 3: {"app"}, 4: {"delivery"}}
    bob = {1: {"billing"}, 2: {"billing", "app"}, 3: {"app"}, 4: {"delivery"}}
    rows = [(d, "alice", lab) for d, labs in alice.items() for lab in labs]
    rows += [(d, "bob", lab) for d, labs in bob.items() for lab in labs]
    agr = agreement(rows)
    assert agr["mode"] == "multi-label"
    [pair] = agr["pairs"]
    assert pair["observed"] == pytest.approx(2 / 4)
    for lab in ("app", "billing", "delivery"):
        expected = cohen_kappa_score([lab in alice[d] for d in (1, 2, 3, 4)], [lab in bob[d] for d in (1, 2, 3, 4)])
        assert pair["per_label"][lab] == pytest.approx(expected)
    assert pair["kappa"] == pytest.approx(sum(pair["per_label"].values()) / 3)


def test_agreement_in_dataset_stats(store):
    texts = ["one text", "two text", "three text", "four text"]
    import_records(store, "d", [Record(text=t, labels=[]) for t in texts], create=True)
    with store.session() as s:
        data = load_dataset(s, "d", labeled_only=False)
        ids = dict(zip(data.texts, data.doc_ids, strict=True))
        assert dataset_stats(s, "d")["agreement"] is None
        for t, a, b in zip(texts, ["x", "x", "y", "y"], ["x", "y", "y", "y"], strict=True):
            A.add_annotations(s, "d", ids[t], "alice", labels=[a])
            A.add_annotations(s, "d", ids[t], "bob", labels=[b])
        A.add_annotations(s, "d", ids["one text"], "carol", spans=[{"start": 0, "end": 3, "label": "NUM"}])
        stats = dataset_stats(s, "d")
    agr = stats["agreement"]
    assert agr["annotators"] == ["alice", "bob"] and agr["documents"] == 4
    assert agr["mean_kappa"] == pytest.approx(cohen_kappa_score(["x", "x", "y", "y"], ["x", "y", "y", "y"]))
    assert stats["annotations_by_source"] == {"human": 8}


def test_span_agreement_pairwise_f1_by_hand():
    rows = [
        # doc 1: alice 3 spans, bob 2, two the same (one with another label does not count)
        (1, "alice", 0, 4, "ORG"), (1, "alice", 10, 14, "PER"), (1, "alice", 20, 25, "LOC"),
        (1, "bob", 0, 4, "ORG"), (1, "bob", 10, 14, "PER"),
        # doc 2: same boundaries, other type
        (2, "alice", 0, 5, "PER"), (2, "bob", 0, 5, "ORG"),
        # doc 3: only alice marked spans: not compared (bob may not have looked at it)
        (3, "alice", 0, 3, "LOC"),
    ]  # fmt: skip
    agr = span_agreement(rows)
    assert agr["annotators"] == ["alice", "bob"] and agr["documents"] == 2
    (pair,) = agr["pairs"]
    assert (pair["documents"], pair["spans_a"], pair["spans_b"], pair["matched"]) == (2, 4, 3, 2)
    assert pair["f1"] == pytest.approx(2 * 2 / (4 + 3))
    assert pair["per_label"] == pytest.approx({"LOC": 0.0, "ORG": 2 / 3, "PER": 2 / 3})
    assert agr["mean_f1"] == pytest.approx(4 / 7)
    assert span_agreement([(1, "alice", 0, 4, "ORG"), (2, "bob", 0, 4, "ORG")]) is None


def test_span_agreement_in_dataset_stats(store):
    text = "Jane works at Acme in Paris"
    import_records(store, "s", [Record(text=text, labels=[])], create=True)
    with store.session() as s:
        (doc,) = load_dataset(s, "s", labeled_only=False).doc_ids
        assert dataset_stats(s, "s")["span_agreement"] is None
        A.add_annotations(s, "s", doc, "alice", spans=[{"start": 0, "end": 4, "label": "PER"},
                                                       {"start": 14, "end": 18, "label": "ORG"}])  # fmt: skip
        A.add_annotations(s, "s", doc, "bob", spans=[{"start": 0, "end": 4, "label": "PER"},
                                                     {"start": 22, "end": 27, "label": "LOC"}])  # fmt: skip
        stats = dataset_stats(s, "s")
    agr = stats["span_agreement"]
    assert agr["documents"] == 1 and agr["pairs"][0]["matched"] == 1 and agr["mean_f1"] == pytest.approx(0.5)
    assert stats["agreement"] is None  # no document labels
