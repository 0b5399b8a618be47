"""Cohen's kappa between annotators, checked by hand and against scikit-learn."""

from __future__ import annotations

import pytest
from sklearn.metrics import cohen_kappa_score

from nlpipe.store import annotations as A
from nlpipe.store.agreement import agreement, cohen_kappa
from nlpipe.store.datasets import dataset_stats, import_records, load_dataset
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
