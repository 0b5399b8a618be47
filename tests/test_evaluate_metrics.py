import json
import math
import warnings

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    hamming_loss,
    log_loss,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
)

from nlpipe.errors import InputError, NlpipeError
from nlpipe.metrics import classification, passes, ranking
from nlpipe.metrics.classification import classification_metrics

LABELS = ["a", "b", "c"]
# 6 examples, 3 labels; predictions a, b, b, c, c, b -> rows 1, 3, 5 are wrong
Y_SINGLE = [["a"], ["a"], ["b"], ["b"], ["c"], ["c"]]
P_SINGLE = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.3, 0.6, 0.1],
        [0.1, 0.8, 0.1],
        [0.2, 0.3, 0.5],
        [0.1, 0.1, 0.8],
        [0.05, 0.9, 0.05],
    ]
)
TEXTS = [f"text {i}" for i in range(6)]

REQUIRED_KEYS = {
    "n_examples",
    "labels",
    "multi_label",
    "accuracy",
    "macro_f1",
    "micro_f1",
    "weighted_f1",
    "macro_precision",
    "macro_recall",
    "micro_precision",
    "micro_recall",
    "weighted_precision",
    "weighted_recall",
    "per_label",
    "confusion",
    "thresholds",
    "pr_curve",
    "log_loss",
    "roc_auc",
    "baseline",
    "worst_errors",
}


def single(**kw):
    return classification_metrics(Y_SINGLE, P_SINGLE, LABELS, multi_label=False, texts=TEXTS, **kw)


def random_multi(n=80, n_labels=5, seed=0):
    rng = np.random.default_rng(seed)
    Y = rng.random((n, n_labels)) < 0.35
    P = np.clip(Y * 0.35 + rng.random((n, n_labels)) * 0.65, 0, 1)
    labels = [f"l{j}" for j in range(n_labels)]
    y_true = [[labels[j] for j in np.flatnonzero(row)] for row in Y]
    return Y, P, labels, y_true


# ------------------------------------------------------------------------------------ single-label


def test_metrics_single_label_hand_computed():
    m = single()
    assert REQUIRED_KEYS <= m.keys()
    assert "hamming_loss" not in m and "subset_accuracy" not in m
    assert m["n_examples"] == 6 and m["labels"] == LABELS and m["multi_label"] is False
    assert m["accuracy"] == pytest.approx(0.5)
    # a: tp1 fp0 fn1; b: tp1 fp2 fn1; c: tp1 fp1 fn1
    assert m["per_label"]["a"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert m["per_label"]["b"] == pytest.approx({"precision": 1 / 3, "recall": 0.5, "f1": 0.4, "support": 2})
    assert m["per_label"]["c"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert m["macro_precision"] == pytest.approx((1 + 1 / 3 + 0.5) / 3)
    assert m["macro_recall"] == pytest.approx(0.5)
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.4 + 0.5) / 3)
    assert m["weighted_f1"] == pytest.approx(m["macro_f1"])  # equal supports
    for key in ("micro_precision", "micro_recall", "micro_f1"):
        assert m[key] == pytest.approx(0.5)
    assert m["confusion"]["labels"] == LABELS
    assert m["confusion"]["matrix"] == [[1, 1, 0], [0, 1, 1], [0, 1, 1]]
    assert m["confusion"]["restricted"] is False
    assert {(p["true"], p["predicted"], p["count"]) for p in m["confusion"]["top_pairs"]} == {
        ("a", "b", 1),
        ("b", "c", 1),
        ("c", "b", 1),
    }
    expected_loss = -np.mean(np.log([0.7, 0.3, 0.8, 0.3, 0.8, 0.05]))
    assert m["log_loss"] == pytest.approx(expected_loss)


def test_metrics_single_label_matches_sklearn():
    rng = np.random.default_rng(3)
    labels = ["x", "y", "z", "w"]
    y = rng.integers(0, 4, 120)
    P = rng.dirichlet(np.ones(4), size=120)
    m = classification_metrics([[labels[i]] for i in y], P, labels, multi_label=False)
    pred = P.argmax(1)
    for avg in ("macro", "micro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y, pred, labels=range(4), average=avg, zero_division=0)
        assert m[f"{avg}_precision"] == pytest.approx(p)
        assert m[f"{avg}_recall"] == pytest.approx(r)
        assert m[f"{avg}_f1"] == pytest.approx(f)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["log_loss"] == pytest.approx(log_loss(y, P, labels=range(4)))
    for j, lab in enumerate(labels):
        assert m["roc_auc"]["per_label"][lab] == pytest.approx(roc_auc_score(y == j, P[:, j]))
        assert m["pr_curve"][lab]["average_precision"] == pytest.approx(average_precision_score(y == j, P[:, j]))
    onehot = (y[:, None] == np.arange(4)).ravel()
    assert m["pr_curve"]["micro"]["average_precision"] == pytest.approx(average_precision_score(onehot, P.ravel()))


def test_metrics_pr_curve_matches_sklearn_and_is_downsampled():
    rng = np.random.default_rng(5)
    truth = rng.random(150) < 0.4
    scores = np.round(rng.random(150), 2)  # ties
    y_true = [["p"] if t else ["n"] for t in truth]
    P = np.column_stack([1 - scores, scores])
    m = classification_metrics(y_true, P, ["n", "p"], multi_label=False)
    precision, recall, _ = precision_recall_curve(truth, scores)
    assert m["pr_curve"]["p"]["precision"] == pytest.approx(precision, abs=1e-6)
    assert m["pr_curve"]["p"]["recall"] == pytest.approx(recall, abs=1e-6)

    scores = rng.random(5000)
    truth = rng.random(5000) < 0.5
    m = classification_metrics(
        [["p"] if t else ["n"] for t in truth], np.column_stack([1 - scores, scores]), ["n", "p"], multi_label=False
    )
    curve = m["pr_curve"]["p"]
    assert len(curve["precision"]) == len(curve["recall"]) <= ranking.MAX_CURVE_POINTS
    assert curve["recall"][0] == 1.0 and curve["recall"][-1] == 0.0 and curve["precision"][-1] == 1.0
    assert curve["average_precision"] == pytest.approx(average_precision_score(truth, scores))


def test_metrics_baseline_most_frequent():
    m = single()  # fitted on y_true: a, b, c tie -> the smallest label, like DummyClassifier
    base = m["baseline"]
    assert base["strategy"] == "most_frequent" and base["predicts"] == ["a"] and base["fitted_on"] == "eval"
    assert base["accuracy"] == pytest.approx(1 / 3)
    assert base["macro_f1"] == pytest.approx(0.5 / 3)  # a: P 1/3, R 1 -> F1 0.5; b, c: 0
    assert base["micro_f1"] == pytest.approx(1 / 3)
    assert base["weighted_f1"] == pytest.approx(0.5 / 3)

    train = [["b"], ["c"], ["b"], ["a"]]
    base = single(train_labels=train)["baseline"]
    dummy = DummyClassifier(strategy="most_frequent").fit(np.zeros((4, 1)), [t[0] for t in train])
    pred = dummy.predict(np.zeros((6, 1)))
    y = [t[0] for t in Y_SINGLE]
    assert base["predicts"] == ["b"] and base["fitted_on"] == "train"
    assert base["accuracy"] == pytest.approx(accuracy_score(y, pred))
    for avg in ("macro", "micro", "weighted"):
        assert base[f"{avg}_f1"] == pytest.approx(f1_score(y, pred, labels=LABELS, average=avg, zero_division=0))


def test_metrics_worst_errors_ordering_and_truncation():
    long_texts = list(TEXTS)
    long_texts[5] = "x" * 1000
    m = classification_metrics(Y_SINGLE, P_SINGLE, LABELS, multi_label=False, texts=long_texts)
    worst = m["worst_errors"]
    assert [e["index"] for e in worst] == [5, 1, 3]  # scores 0.9, 0.6, 0.5
    assert [e["score"] for e in worst] == pytest.approx([0.9, 0.6, 0.5])
    assert worst[0]["true"] == ["c"] and worst[0]["predicted"] == ["b"]
    assert len(worst[0]["text"]) == classification.TEXT_LIMIT
    assert worst[1]["text"] == "text 1"
    assert [e["index"] for e in single(worst_k=2)["worst_errors"]] == [5, 1]
    assert single(worst_k=0)["worst_errors"] == []
    no_text = classification_metrics(Y_SINGLE, P_SINGLE, LABELS, multi_label=False)
    assert no_text["worst_errors"][0]["text"] is None


def test_metrics_worst_errors_ties_by_index():
    P = np.tile([0.2, 0.8], (5, 1))
    m = classification_metrics([["a"]] * 5, P, ["a", "b"], multi_label=False, worst_k=3)
    assert [e["index"] for e in m["worst_errors"]] == [0, 1, 2]


def test_metrics_threshold_table():
    m = single()
    table = m["thresholds"]
    assert set(table) == {"threshold", "precision", "recall", "f1"}
    assert all(len(v) == 100 for v in table.values())
    assert table["threshold"][0] == 0.0 and table["threshold"][29] == 0.29 and table["threshold"][-1] == 0.99
    # t = 0: all 18 pairs predicted, 6 true
    assert table["precision"][0] == pytest.approx(1 / 3) and table["recall"][0] == 1.0
    # t = 0.5: pairs >= 0.5 are 0.7 a, 0.6 b, 0.8 b, 0.5 c, 0.8 c, 0.9 b -> 3 of 6 right
    assert table["precision"][50] == pytest.approx(0.5) and table["recall"][50] == pytest.approx(0.5)
    assert table["f1"][50] == pytest.approx(0.5)
    # nothing reaches 0.91: zero_division=0
    assert table["precision"][95] == 0.0 and table["recall"][95] == 0.0 and table["f1"][95] == 0.0


def test_metrics_threshold_grid_is_inclusive_at_exact_values():
    # 0.29 * 100 < 29 in floating point; the pair must still count as predicted at t = 0.29
    m = classification_metrics([["a"], []], np.array([[0.29], [0.28]]), ["a"], multi_label=True)
    table = m["thresholds"]
    assert table["recall"][29] == 1.0 and table["recall"][30] == 0.0
    assert table["precision"][28] == 0.5 and table["precision"][29] == 1.0


def test_metrics_output_is_json_serialisable():
    m = single()
    assert json.loads(json.dumps(m, allow_nan=False)) == m


# ------------------------------------------------------------------------------------- multi-label


def test_metrics_multi_label_matches_sklearn():
    Y, P, labels, y_true = random_multi()
    thr = np.array([0.5, 0.4, 0.6, 0.5, 0.55])
    m = classification_metrics(y_true, P, labels, multi_label=True, thresholds=thr)
    D = P >= thr
    assert REQUIRED_KEYS <= m.keys()
    for avg in ("macro", "micro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(Y, D, average=avg, zero_division=0)
        assert m[f"{avg}_precision"] == pytest.approx(p)
        assert m[f"{avg}_recall"] == pytest.approx(r)
        assert m[f"{avg}_f1"] == pytest.approx(f)
    assert m["accuracy"] == m["subset_accuracy"] == pytest.approx(accuracy_score(Y, D))
    assert m["hamming_loss"] == pytest.approx(hamming_loss(Y, D))
    expected_loss = np.mean([log_loss(Y[:, j], P[:, j], labels=[0, 1]) for j in range(len(labels))])
    assert m["log_loss"] == pytest.approx(expected_loss)
    p, r, f, s = precision_recall_fscore_support(Y, D, average=None, zero_division=0)
    for j, lab in enumerate(labels):
        assert m["per_label"][lab] == pytest.approx({"precision": p[j], "recall": r[j], "f1": f[j], "support": s[j]})
        assert m["roc_auc"]["per_label"][lab] == pytest.approx(roc_auc_score(Y[:, j], P[:, j]))
        ap = average_precision_score(Y[:, j], P[:, j])
        assert m["pr_curve"][lab]["average_precision"] == pytest.approx(ap)
        counts = m["confusion"]["per_label"][lab]
        assert counts == {
            "tp": int((Y[:, j] & D[:, j]).sum()),
            "fp": int((~Y[:, j] & D[:, j]).sum()),
            "fn": int((Y[:, j] & ~D[:, j]).sum()),
            "tn": int((~Y[:, j] & ~D[:, j]).sum()),
        }
    assert m["roc_auc"]["macro"] == pytest.approx(roc_auc_score(Y, P, average="macro"))
    assert m["pr_curve"]["micro"]["average_precision"] == pytest.approx(average_precision_score(Y.ravel(), P.ravel()))
    assert m["pr_curve"]["micro"]["binned"] is False


def test_metrics_multi_label_default_threshold_and_scalar_threshold():
    Y, P, labels, y_true = random_multi(seed=1)
    default = classification_metrics(y_true, P, labels, multi_label=True)
    scalar = classification_metrics(y_true, P, labels, multi_label=True, thresholds=0.5)
    assert default["micro_f1"] == scalar["micro_f1"] == pytest.approx(f1_score(Y, P >= 0.5, average="micro"))


def test_metrics_multi_label_baseline_matches_dummy():
    Y, P, labels, y_true = random_multi(seed=2)
    train = [["l0", "l1"], ["l0"], ["l0", "l2"], ["l1", "l0"], ["l3"]]  # l0 in 4 of 5 examples, l1 in 2 of 5
    m = classification_metrics(y_true, P, labels, multi_label=True, train_labels=train)
    T = np.array([[lab in ex for lab in labels] for ex in train])
    dummy = DummyClassifier(strategy="most_frequent").fit(np.zeros((len(train), 1)), T)
    D = dummy.predict(np.zeros((len(Y), 1))).astype(bool)
    base = m["baseline"]
    assert base["predicts"] == ["l0"]
    assert base["accuracy"] == pytest.approx(accuracy_score(Y, D))
    for avg in ("macro", "micro", "weighted"):
        assert base[f"{avg}_f1"] == pytest.approx(f1_score(Y, D, average=avg, zero_division=0))


def test_metrics_multi_label_confusion_pairs_and_worst_errors():
    labels = ["a", "b", "c"]
    y_true = [["a"], ["a"], ["b"], ["c"], []]
    P = np.array(
        [
            [0.1, 0.9, 0.2],  # missed a, predicted b (confidence 0.9)
            [0.2, 0.7, 0.1],  # missed a (confidence in "no": 0.8), predicted b (0.7)
            [0.1, 0.8, 0.6],  # predicted c too (0.6)
            [0.3, 0.1, 0.05],  # missed c (confidence in "no": 0.95)
            [0.1, 0.2, 0.3],  # correct: nothing
        ]
    )
    m = classification_metrics(y_true, P, labels, multi_label=True, texts=list("vwxyz"))
    conf = m["confusion"]
    assert conf["top_pairs"] == [{"true": "a", "predicted": "b", "count": 2}]
    assert conf["labels"] == labels and conf["matrix"] == [[0, 2, 0], [0, 0, 0], [0, 0, 0]]
    worst = m["worst_errors"]
    assert [e["index"] for e in worst] == [3, 0, 1, 2]
    assert [e["score"] for e in worst] == pytest.approx([0.95, 0.9, 0.8, 0.6])  # row 1: "no a" at 0.8 beats "b" at 0.7
    assert worst[3]["true"] == ["b"] and worst[3]["predicted"] == ["b", "c"] and worst[3]["text"] == "x"
    assert m["hamming_loss"] == pytest.approx(6 / 15)
    assert m["subset_accuracy"] == pytest.approx(1 / 5)


# ------------------------------------------------------------------------------------------- scale


def test_metrics_many_labels_restricts_confusion_and_curves():
    rng = np.random.default_rng(7)
    L, n = 120, 3000
    labels = [f"lab{j:03d}" for j in range(L)]
    y = rng.integers(0, L, n)
    pred = y.copy()
    pred[:60] = 5  # 60 confusions into lab005
    pred[60:90] = (y[60:90] + 1) % L
    P = np.full((n, L), 0.1 / (L - 1))
    P[np.arange(n), pred] = 0.9
    m = classification_metrics([[labels[i]] for i in y], P, labels, multi_label=False, max_confusion_labels=10)
    conf = m["confusion"]
    assert conf["restricted"] is True and conf["n_labels"] == L
    assert len(conf["labels"]) == 10 and "lab005" in conf["labels"]
    assert np.asarray(conf["matrix"]).shape == (10, 10)
    assert 0 < len(conf["top_pairs"]) <= 20
    counts = [p["count"] for p in conf["top_pairs"]]
    assert counts == sorted(counts, reverse=True)
    first = conf["top_pairs"][0]
    assert first["predicted"] == "lab005"
    expected = int(((y == labels.index(first["true"])) & (pred == 5)).sum())
    assert first["count"] == expected
    # PR curves only for the 50 labels with most support, plus micro; AUC for every label
    assert len(m["pr_curve"]) == ranking.MAX_PR_LABELS + 1 and "micro" in m["pr_curve"]
    assert len(m["roc_auc"]["per_label"]) == L
    json.dumps(m, allow_nan=False)


def test_metrics_multi_label_many_labels_uses_sparse_pairs(monkeypatch):
    monkeypatch.setattr(passes, "_DENSE_PAIR_LABELS", 2)
    Y, P, labels, y_true = random_multi(n=200, n_labels=8, seed=4)
    sparse_m = classification_metrics(y_true, P, labels, multi_label=True, max_confusion_labels=4)
    monkeypatch.setattr(passes, "_DENSE_PAIR_LABELS", 256)
    dense_m = classification_metrics(y_true, P, labels, multi_label=True, max_confusion_labels=4)
    assert sparse_m["confusion"] == dense_m["confusion"]
    conf = dense_m["confusion"]
    assert conf["restricted"] is True and len(conf["labels"]) == 4
    D = P >= 0.5
    missed, extra = Y & ~D, D & ~Y
    top = conf["top_pairs"][0]
    i, j = labels.index(top["true"]), labels.index(top["predicted"])
    assert top["count"] == int((missed[:, i] & extra[:, j]).sum()) == int((missed.T.astype(int) @ extra).max())


def test_metrics_binned_micro_curve_close_to_exact(monkeypatch):
    Y, P, labels, y_true = random_multi(n=400, n_labels=6, seed=6)
    exact = classification_metrics(y_true, P, labels, multi_label=True)["pr_curve"]["micro"]
    monkeypatch.setattr(ranking, "_EXACT_MICRO_PAIRS", 10)
    binned = classification_metrics(y_true, P, labels, multi_label=True)["pr_curve"]["micro"]
    assert binned["binned"] is True and exact["binned"] is False
    assert binned["average_precision"] == pytest.approx(exact["average_precision"], abs=1e-3)


# ---------------------------------------------------------------------------------- no support / errors


def test_metrics_zero_support_label_raises_no_warnings():
    labels = ["a", "b", "never"]
    P = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.6, 0.3, 0.1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = classification_metrics([["a"], ["b"], ["b"]], P, labels, multi_label=False)
        ml = classification_metrics([["a"], ["b"], ["a", "b"]], P, labels, multi_label=True)
        all_one = classification_metrics([["a"], ["a"], ["a"]], P, labels, multi_label=True)
    for result in (m, ml):
        assert result["per_label"]["never"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
        assert result["roc_auc"]["per_label"]["never"] is None
        assert result["pr_curve"]["never"]["average_precision"] is None
        assert result["roc_auc"]["macro"] is not None
        json.dumps(result, allow_nan=False)
    assert all_one["roc_auc"]["per_label"]["a"] is None  # only one class present


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"y_true": [["a"], ["zzz"], ["yyy"]]}, "E501"),
        ({"proba": np.ones((3, 2)) / 2}, "E502"),
        ({"proba": np.ones((4, 3)) / 3}, "E502"),
        ({"proba": np.ones(3) / 3}, "E502"),
        ({"proba": [["x", "y", "z"]] * 3}, "E502"),
        ({"y_true": [], "proba": np.zeros((0, 3))}, "E503"),
        ({"labels": [], "proba": np.zeros((3, 0))}, "E503"),
        ({"y_true": [["a", "b"], ["a"], ["b"]]}, "E504"),
        ({"y_true": [[], ["a"], ["b"]]}, "E504"),
        ({"multi_label": True, "thresholds": np.array([0.5, 0.5])}, "E505"),
        ({"texts": ["only one"]}, "E506"),
        ({"labels": ["a", "a", "b"]}, "E507"),
        ({"proba": np.array([[0.5, 0.5, np.nan]] * 3)}, "E508"),
        ({"proba": np.array([[1.5, 0.0, 0.0]] * 3)}, "E508"),
        ({"worst_k": -1}, "E509"),
        ({"max_confusion_labels": 0}, "E509"),
        ({"train_labels": []}, "E503"),
    ],
)
def test_metrics_coded_errors(kwargs, code):
    args = {
        "y_true": [["a"], ["b"], ["c"]],
        "proba": np.eye(3),
        "labels": ["a", "b", "c"],
        "multi_label": False,
    }
    args.update(kwargs)
    with pytest.raises(InputError) as info:
        classification_metrics(args.pop("y_true"), args.pop("proba"), args.pop("labels"), **args)
    assert info.value.code == code
    assert isinstance(info.value, NlpipeError)


def test_metrics_unknown_label_error_names_labels():
    with pytest.raises(InputError) as info:
        classification_metrics([["a"], ["zzz"]], np.eye(2), ["a", "b"], multi_label=True)
    assert info.value.code == "E501" and "'zzz'" in str(info.value)
    assert info.value.details["unknown_labels"] == ["zzz"]


def test_metrics_bare_string_labels_accepted():
    as_lists = single()
    as_strings = classification_metrics([y[0] for y in Y_SINGLE], P_SINGLE, LABELS, multi_label=False, texts=TEXTS)
    assert as_lists == as_strings
    assert math.isclose(as_strings["accuracy"], 0.5)
