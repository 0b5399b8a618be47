"""The classifier at scale: hashed features, the hashed and shortlist strategies, the weight layout."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import skops.io as sio

import nlpipe.tasks.classify.model as classify_module
from benchmarks.synthetic import Corpus
from nlpipe.errors import TrainingError
from nlpipe.tasks.classify.hashing import HashedNgrams
from nlpipe.tasks.classify.linear import sparse_stratified_split
from nlpipe.tasks.classify.model import TRUSTED_TYPES, TextClassifier
from nlpipe.tasks.classify.shortlist import ShortlistLinear, choose_keep
from nlpipe.tasks.search import stratified_split


def corpus(labels: int, n: int, start: int = 0, share: float = 0.08) -> tuple[list[str], list[list[str]]]:
    texts, ys = [], []
    for t, y in Corpus(labels=labels, vocab=5000, share=share, seed=1).batches(n, start=start):
        texts += t
        ys += [[lab] for lab in y]
    return texts, ys


@pytest.fixture(scope="module")
def many_labels():
    tr_x, tr_y = corpus(150, 3000)
    te_x, te_y = corpus(150, 400, start=3000)
    return TextClassifier(seed=0, strategy="shortlist").fit(tr_x, tr_y), te_x, te_y


# ---------------------------------------------------------------------------------------------- hashed features


def test_hashed_features_are_stable_across_processes() -> None:
    """Columns come from MurmurHash3, not Python's per-process randomised hash()."""
    text = "Central bank raises interest rates again"
    here = HashedNgrams().fit([text]).transform([text])
    code = (
        "from nlpipe.tasks.classify.hashing import HashedNgrams; t = 'Central bank raises interest rates again'; "
        "print(HashedNgrams().fit([t]).transform([t]).indices.tolist())"
    )
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )  # fmt: skip
        assert [int(i) for i in out.stdout.strip()[1:-1].split(",")] == here.indices.tolist()


def test_hashed_features_count_word_unigrams_and_bigrams() -> None:
    vec = HashedNgrams(n_bits=22)
    counts = vec.counts(["the cat the cat sat", "", "a b"])  # one-letter tokens are not words
    assert counts.shape == (3, 1 << 22)
    assert counts[0].sum() == 5 + 4  # five words, four bigrams
    assert sorted(counts[0].data.tolist()) == [1, 1, 1, 2, 2, 2]  # the, cat, "the cat" twice; sat, "cat the", ...
    assert counts[1].nnz == 0 and counts[2].nnz == 0
    terms = vec.terms("the cat the cat sat")
    assert sorted(t for ts in terms.values() for t in ts) == sorted(
        ["the", "cat", "sat", "the cat", "cat the", "cat sat"]
    )


def test_hashed_idf_from_batches_equals_idf_from_all() -> None:
    texts, _ = corpus(5, 300)
    whole = HashedNgrams().fit(texts)
    vec = HashedNgrams()
    df = None
    for a in range(0, 300, 70):
        df = vec.partial_df(vec.counts(texts[a : a + 70]), df)
    vec.set_idf(df, 300)
    assert np.array_equal(vec.idf_, whole.idf_)
    X = vec.transform(texts[:5])
    assert np.allclose(np.asarray(X.multiply(X).sum(axis=1)).ravel(), 1.0, atol=1e-5)  # rows L2-normalised


# ---------------------------------------------------------------------------------------------- strategies


def test_auto_strategy_follows_labels_and_documents(monkeypatch) -> None:
    texts, ys = corpus(4, 200)
    assert TextClassifier().fit(texts, ys).strategy_ == "standard"
    monkeypatch.setattr(classify_module, "MANY_DOCS", 100)
    assert TextClassifier().fit(texts, ys).strategy_ == "hashed"
    monkeypatch.setattr(classify_module, "MANY_LABELS", 3)
    clf = TextClassifier().fit(texts, ys)  # many labels, little data: standard, the word view alone
    assert clf.strategy_ == "standard" and clf.view_names_ == ["word"]
    assert [row["name"] for row in clf.search_] == list(classify_module.MANY_LABEL_CANDIDATES)
    monkeypatch.setattr(classify_module, "FEW_LABEL_ROWS", 4 * 200 - 1)
    clf = TextClassifier().fit(texts, ys)
    assert clf.strategy_ == "shortlist" and clf.best_ == "shortlist_hashed"
    with pytest.raises(TrainingError) as err:
        TextClassifier(strategy="quantum").fit(texts, ys)
    assert err.value.code == "E326" and "strategy" in err.value.message


def test_shortlist_learns_many_labels(many_labels) -> None:
    clf, te_x, te_y = many_labels
    assert clf.strategy_ == "shortlist" and len(clf.labels_) == 150
    P = clf.predict_proba(te_x)
    assert P.shape == (len(te_x), 150) and np.allclose(P.sum(axis=1), 1.0, atol=1e-5)
    acc = np.mean([p == t for p, t in zip(clf.predict(te_x), te_y, strict=True)])
    assert acc > 0.85
    # every weight is kept sparse: no labels x features dense array
    assert sp.issparse(clf.shortlist_.weights_) and sp.issparse(clf.shortlist_.centroids_)
    assert clf.shortlist_.weights_.nnz < 0.05 * np.prod(clf.shortlist_.weights_.shape)


def _shortlist_data(labels: int = 40, n: int = 1200):
    texts, ys = corpus(labels, n)
    vec = HashedNgrams(n_bits=18).fit(texts)
    names = sorted({y[0] for y in ys})
    Y = sp.csr_matrix((np.ones(n), (np.arange(n), [names.index(y[0]) for y in ys])), shape=(n, len(names)))
    return vec.transform(texts), Y


def test_choose_keep_prefers_the_centroids_that_rank_validation_rows_best() -> None:
    X, Y = _shortlist_data()
    # one feature a centroid cannot tell 40 labels apart; a thousand can
    assert choose_keep(X[:900], Y[:900], X[900:], Y[900:].toarray().astype(bool), False, grid=(1, 1000)) == 1000
    assert choose_keep(X[:900], Y[:900], X[900:], Y[900:].toarray().astype(bool), False, grid=(1,)) == 1


def test_shortlist_can_keep_the_centroids_alone(tmp_path) -> None:
    X, Y = _shortlist_data()
    model = ShortlistLinear(keep=500).fit(X[:900], Y[:900])
    assert model.weights_.nnz > 0
    reranked = model.decision_function(X[900:])
    model.drop_rerankers()
    assert model.centroids_only and model.weights_.nnz == 0 and not model.intercept_.any()
    S = model.decision_function(X[900:])
    assert np.array_equal(np.isfinite(S), np.isfinite(reranked))  # the same candidates
    cent = (X[900:] @ model.centroids_).toarray()
    assert np.allclose(S[np.isfinite(S)], cent[np.isfinite(S)], atol=1e-6)  # scored by centroid alone
    assert np.array_equal(model.label_weights(3), model.centroids_[:, 3].toarray().ravel())
    alone = ShortlistLinear(keep=500, rerank=False).fit(X[:900], Y[:900])
    assert np.array_equal(alone.decision_function(X[900:]), S)


def test_shortlist_and_hashed_multi_label() -> None:
    texts, ys = corpus(6, 400)
    multi = [y + ([f"label{(int(y[0][5:]) + 1) % 6:04d}"] if i % 3 == 0 else []) for i, y in enumerate(ys)]
    for strategy in ("hashed", "shortlist"):
        clf = TextClassifier(multi_label=True, strategy=strategy).fit(texts, multi)
        pred = clf.predict(texts[:60])
        hits = np.mean([set(p) == set(t) for p, t in zip(pred, multi[:60], strict=True)])
        assert hits > 0.6, strategy


@pytest.mark.parametrize("strategy", ["hashed", "shortlist"])
def test_large_strategies_roundtrip_and_explain(tmp_path, strategy) -> None:
    texts, ys = corpus(8, 500)
    clf = TextClassifier(strategy=strategy).fit(texts, ys)
    path = tmp_path / "m.skops"
    sio.dump(clf, path)
    loaded = sio.load(path, trusted=TRUSTED_TYPES)
    assert np.array_equal(loaded.predict_proba(texts[:20]), clf.predict_proba(texts[:20]))
    label = clf.predict(texts[:1])[0][0]
    terms = loaded.explain(texts[0], label, k=5)
    assert terms and all(term in texts[0] for term, _ in terms)
    assert [t for t, _ in terms] == [t for t, _ in clf.explain(texts[0], label, k=5)]
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.load(path, trusted=[])


def test_sparse_stratified_split_matches_the_dense_rule() -> None:
    rng = np.random.default_rng(0)
    Y = rng.random((300, 12)) < 0.15
    Y[np.arange(300), rng.integers(0, 12, 300)] = True
    Y[:5] = False  # rows without labels form their own stratum
    tr, va = sparse_stratified_split(sp.csr_matrix(Y), 0.2, 0)
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == 300
    assert Y[tr].any(axis=0).all()  # every label is still in training
    d_tr, d_va = stratified_split(Y, 0.2, 0)
    assert abs(len(va) - len(d_va)) <= 12  # same rule: the same share held out per stratum


# ---------------------------------------------------------------------------------------------- weights layout


def test_weights_are_stored_features_by_outputs_and_read_in_place() -> None:
    texts, ys = corpus(4, 200)
    clf = TextClassifier(candidates=("svm_word",)).fit(texts, ys)
    W = clf.weights_
    assert W.dtype == np.float32 and W.flags.c_contiguous and W.shape[1] == 4
    assert clf.coef_.shape == (4, W.shape[0]) and np.shares_memory(clf.coef_, W)


def test_models_saved_with_row_major_coef_still_load() -> None:
    texts, ys = corpus(4, 200)
    clf = TextClassifier(candidates=("svm_word",)).fit(texts, ys)
    state = clf.__getstate__()
    old = {k: v for k, v in state.items() if k not in ("weights_", "strategy_")}
    old["coef_"] = np.asarray(clf.weights_.T, dtype=np.float64)  # how versions before this one saved it
    restored = TextClassifier.__new__(TextClassifier)
    restored.__setstate__(old)
    assert np.allclose(restored.predict_proba(texts[:10]), clf.predict_proba(texts[:10]), atol=1e-6)


def test_fit_stream_never_holds_all_texts() -> None:
    """60 MB of text in 40 batches: the memory in use while batches are read does not grow with the texts read
    (each batch becomes sparse counts and is dropped before the next one is read)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    in_use: list[int] = []

    def batches():
        for b in range(40):
            in_use.append(tracemalloc.get_traced_memory()[0])
            texts, ys = [], []
            for i in range(50):
                j = (b * 50 + i) % 3
                base = " ".join(rng.choice(words[j * 100 : j * 100 + 100], 20))
                texts.append((base + " ") * 150)  # ~30 KB, few distinct n-grams
                ys.append([f"topic{j}"])
            yield texts, ys

    tracemalloc.start()
    try:
        clf = TextClassifier(strategy="hashed").fit_stream(batches(), total=2000)
    finally:
        tracemalloc.stop()
    growth = in_use[-1] - in_use[2]
    assert growth < 8e6, f"{growth / 1e6:.0f} MB more in use after 37 batches (57 MB of text)"
    assert clf.strategy_ == "hashed" and len(clf.labels_) == 3
    probe = (" ".join(words[100:120]) + " ") * 3
    assert clf.predict([probe]) == [["topic1"]]


def test_folded_counts_equal_counts_at_fewer_bits() -> None:
    texts, _ = corpus(5, 100)
    wide = HashedNgrams(n_bits=22)
    narrow, folded = wide.fold(wide.counts(texts), 18)
    direct = HashedNgrams(n_bits=18).counts(texts)
    assert narrow.n_bits == 18 and folded.shape == direct.shape
    assert (folded != direct).nnz == 0
