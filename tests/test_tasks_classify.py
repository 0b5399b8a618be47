"""Tests for nlpipe.tasks.classify.model (TextClassifier) and its features (nlpipe.tasks.features)."""

from __future__ import annotations

import csv
import os
import random
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer

from nlpipe.errors import InputError, TrainingError
from nlpipe.tasks.classify.model import TRUSTED_TYPES, TextClassifier
from nlpipe.tasks.classify.standard import CANDIDATES, DEFAULT_CANDIDATES
from nlpipe.tasks.features import CharNgrams, WordNgrams
from nlpipe.tasks.search import best_threshold, f1_gain_se, macro_f1, stratified_split

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"

TOPICS = {
    "sports": "match goal league coach striker season stadium referee penalty tournament".split(),
    "finance": "shares market profit bank investors stocks earnings dividend inflation bonds".split(),
    "science": "researchers study cells telescope physics genome experiment laboratory climate species".split(),
    "politics": "minister election parliament vote senator campaign policy coalition treaty reform".split(),
}
FILLER = "the a on after before today report new said this week officials people year".split()


def topic_corpus(per_label: int = 15, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(per_label):
        for label, words in TOPICS.items():
            toks = rng.sample(words, 3) + rng.sample(FILLER, 4)
            rng.shuffle(toks)
            texts.append(" ".join(toks).capitalize() + f". Item {i}.")
            labels.append([label])
    return texts, labels


CUES = {
    "billing": "invoice charged refund bill payment overcharged".split(),
    "delivery": "parcel courier delivered shipping package late".split(),
    "app": "app login crash screen update password".split(),
}


def multi_label_corpus(n: int = 90, seed: int = 1) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(seed)
    names = sorted(CUES)
    texts, labels = [], []
    for i in range(n):
        k = (0, 1, 1, 2)[i % 4]
        labs = sorted(rng.sample(names, k))
        toks = [w for lab in labs for w in rng.sample(CUES[lab], 2)] + rng.sample(FILLER, 4)
        rng.shuffle(toks)
        texts.append(" ".join(toks))
        labels.append(labs)
    return texts, labels


@pytest.fixture(scope="module")
def topic_model() -> tuple[TextClassifier, list[str], list[list[str]]]:
    texts, labels = topic_corpus()
    return TextClassifier(seed=0).fit(texts, labels), texts, labels


@pytest.fixture(scope="module")
def multi_model() -> tuple[TextClassifier, list[str], list[list[str]]]:
    texts, labels = multi_label_corpus()
    return TextClassifier(multi_label=True, seed=0).fit(texts, labels), texts, labels


# ---------------------------------------------------------------------------------------------- features


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (WordNgrams(), TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
        (CharNgrams(), TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
    ],
    ids=["word", "char_wb"],
)
def test_classify_features_equal_sklearn_tfidf(ours, theirs) -> None:
    texts, _ = topic_corpus(per_label=5)
    texts += ["Crème brûlée at the café!  Tabs\tand\nnewlines", "x", ""]
    new = ["An unseen referee and the crème", "", "zzz qqq", "Über-naïve 日本語 words, e.g. x"]
    A, B = ours.fit_transform(texts), ours.transform(new)
    A2, B2 = theirs.fit_transform(texts), theirs.transform(new)
    names = theirs.get_feature_names_out()
    assert sorted(ours.get_feature_names_out()) == sorted(names)
    order = [ours.vocabulary_[t] for t in names]
    assert np.abs(A[:, order] - A2).max() < 1e-12
    assert np.abs(B[:, order] - B2).max() < 1e-12
    # known words (kept at fit with their columns) and unseen ones, mixed in one call, give the same rows
    mixed = [texts[0], new[0], texts[-3] + " zzz " + texts[1]]
    assert np.abs(ours.transform(mixed)[:, order] - theirs.transform(mixed)).max() < 1e-12


def test_classify_lookup_tables_are_built_at_fit_and_load(topic_model, tmp_path) -> None:
    """The first prediction of a trained or loaded model does not build the vectorizers' tables."""
    clf, texts, _ = topic_model
    word, char = clf.vectorizers_
    assert "_pair_index" in word.__dict__ and "_gram_index" in char.__dict__
    sio.dump(clf, tmp_path / "m.skops")
    loaded = sio.load(tmp_path / "m.skops", trusted=TRUSTED_TYPES)
    word, char = loaded.vectorizers_
    assert "_pair_index" in word.__dict__ and "_gram_index" in char.__dict__
    assert np.array_equal(loaded.predict_proba(texts[:10]), clf.predict_proba(texts[:10]))


def test_char_ngrams_coded_lookup_equals_the_string_path() -> None:
    """Unseen words at prediction are cut and looked up as integer codes; the counts equal the string path's."""
    texts, _ = topic_corpus(per_label=5)
    vec = CharNgrams(min_df=1).fit([*texts, "Crème brûlée at the café", "a ab abc"])
    words = ["a", "ab", "abc", "abcd", "abcde", "referee", "crème", "brûlées", "日本語", "x日y", "café!", "z" * 40]
    coded = vec._word_grams(words, vec.vocabulary_, False)
    assert vec.__dict__["_gram_index"][0] is not None  # the coded path ran
    vec.__dict__["_gram_index"] = (None, None, None)  # the string path
    strings = vec._word_grams(words, vec.vocabulary_, False)
    assert coded.shape == strings.shape and coded.nnz > 50
    assert (coded != strings).nnz == 0


TRICKY = [
    "",
    "   \t\n ",
    "a b c x1 12 3",
    "İstanbul ŞTRASSE straße ǅungla ΣΊΣΥΦΟΣ σίσυφος",  # lower() changes lengths and cases
    "foo_bar baz__ _x_ snake_case_word",
    "tab\tsep\nnew\u2003em-space\u00a0nbsp\u3000ideographic",
    "banana bananas ananas aaaaaa",  # an n-gram more than once in a word
    "😀 emoji😀 😀😀 ok 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",  # outside the BMP
    "x\u0301y combining e\u0301te\u0301",
    "日本語のテキスト 中文 한국어",
    "\ud800 lone surrogate \udfff",
    "z" * 300,
]


def _native_and_numpy(vec, texts, monkeypatch):  # type: ignore[no-untyped-def]
    import nlpipe.tasks.features as features

    if features._native is None:
        message = "nlpipe.tasks._ngrams is not built (no C compiler at install?): `make install` builds it"
        if os.environ.get("NLPIPE_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    native = vec.transform(texts)
    with monkeypatch.context() as m:
        m.setattr(features, "_native", None)
        ref = vec.transform(texts)
    native.sort_indices()
    ref = ref.tocsr()
    ref.sort_indices()
    return native, ref


@pytest.mark.parametrize("view", [WordNgrams, CharNgrams])
def test_classify_c_counting_equals_the_numpy_path(view, monkeypatch) -> None:
    """The C loop (nlpipe/tasks/_ngrams.c) finds the same n-grams as the NumPy and string paths, on texts made to
    trip it: unicode case changes, underscores, every kind of whitespace, characters outside the BMP, lone
    surrogates, repeated n-grams in a word; known, unseen and half-known words mixed."""
    texts, _ = topic_corpus(per_label=5)
    train = [*texts, *TRICKY[::2], "Crème brûlée at the café", "a ab abc"]
    vec = view(min_df=1).fit(train)
    new = [*TRICKY, *texts[:5], "unseen referee crème brûlées café! x日y", train[3] + " zzz " + train[4]]
    native, ref = _native_and_numpy(vec, new, monkeypatch)
    assert native.shape == ref.shape and native.nnz > 100
    assert np.array_equal(native.indptr, ref.indptr) and np.array_equal(native.indices, ref.indices)
    assert np.allclose(native.data, ref.data, rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_classify_view_scores_equal_the_tfidf_product(dtype, monkeypatch) -> None:
    """``scores`` (TF-IDF, normalised and multiplied in the C loop, the matrix never built) equals
    ``transform(texts) @ W``, and equals the NumPy fallback's product."""
    import nlpipe.tasks.features as features

    texts, _ = topic_corpus(per_label=5)
    new = [*TRICKY, *texts[:7], "referee referee referee goal goal"]  # counts above 1: tf = 1 + log(count)
    for view in (WordNgrams(), CharNgrams(min_df=1)):
        view.fit([*texts, *TRICKY[::2]])
        W = np.random.default_rng(0).standard_normal((len(view.vocabulary_), 3)).astype(dtype)
        expected = np.asarray(view.transform(new) @ W.astype(np.float64))
        assert view.scores_in_c == (features._native is not None)
        np.testing.assert_allclose(view.scores(new, W), expected, rtol=1e-9, atol=1e-12)
        assert not view.scores([TRICKY[0]], W).any()  # no n-gram: score 0
        with monkeypatch.context() as m:
            m.setattr(features, "_native", None)
            np.testing.assert_allclose(view.scores(new, W), expected, rtol=1e-9, atol=1e-12)


def test_classify_c_counting_rejects_what_is_not_a_text() -> None:
    import nlpipe.tasks.features as features

    if features._native is None:
        pytest.skip("nlpipe.tasks._ngrams is not built")
    native = features._native
    pairs = native.code_table(b"", b"")
    with pytest.raises(TypeError, match=r"texts\[1\] is not a str"):
        native.word_counts(["ok", 3], native.string_table({"ok": 0}), pairs, 1, 1)
    with pytest.raises(ValueError, match="column 5 outside"):
        native.word_counts(["ok ok"], native.string_table({"ok": 5}), pairs, 1, 1)
    with pytest.raises(ValueError, match="table must be"):
        native.word_counts(["ok"], native.string_table({"ok": 0}), bytearray(b"x" * 10), 1, 1)
    with pytest.raises(ValueError, match="string_table"):
        native.word_counts(["ok"], {"ok": 0}, pairs, 1, 1)
    with pytest.raises(TypeError, match="every key must be a str"):
        native.string_table({1: 0})
    table = native.string_table({"ok": 0})
    with pytest.raises(ValueError, match="W must be"):
        native.word_counts(["ok"], table, pairs, 1, 1, (np.ones(1), np.ones((2, 1)), True))
    with pytest.raises(ValueError, match="idf must be"):
        native.word_counts(["ok"], table, pairs, 1, 1, (np.ones(1, dtype=np.float32), np.ones((1, 1)), True))


# ------------------------------------------------------------------------------------------ single-label


def test_classify_single_label_separable(topic_model) -> None:
    clf, _, _ = topic_model
    assert clf.labels_ == sorted(TOPICS)
    held_out = {
        "sports": "The striker scored a late goal as the league season ended",
        "finance": "Investors sold shares after the bank reported lower profit",
        "science": "Researchers used a telescope in a physics experiment",
        "politics": "The minister lost the vote in parliament before the election",
    }
    assert clf.predict(list(held_out.values())) == [[label] for label in held_out]
    assert clf.best_ in CANDIDATES
    assert [row["name"] for row in clf.search_] == list(DEFAULT_CANDIDATES)
    for row in clf.search_:
        assert set(row) == {"name", "score", "seconds", "params"}
        assert 0.0 <= row["score"] <= 1.0 and row["seconds"] >= 0.0
        assert row["params"] == CANDIDATES[row["name"]]
    np.testing.assert_array_equal(clf.thresholds_, np.full(4, 0.5))


def test_classify_single_label_probabilities_sum_to_one(topic_model) -> None:
    clf, texts, _ = topic_model
    proba = clf.predict_proba(texts[:20] + ["", "completely unrelated"])
    assert proba.shape == (22, 4)
    assert np.all(proba >= 0.0) and np.all(proba <= 1.0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    # calibrated, not saturated: confident on training-like texts, unsure on a text with no known words
    assert proba[:20].max(axis=1).mean() > 0.5
    assert proba[-1].max() < 0.6
    assert [[clf.labels_[j]] for j in proba.argmax(axis=1)] == clf.predict(texts[:20] + ["", "completely unrelated"])
    assert clf.predict_proba([]).shape == (0, 4)


def test_classify_two_labels_one_score_column() -> None:
    texts = [f"{w} film, {x} acting" for w in ("great", "wonderful", "superb", "moving") for x in ("fine", "lovely")]
    texts += [f"{w} film, {x} acting" for w in ("awful", "boring", "dreadful", "tedious") for x in ("wooden", "poor")]
    labels = [["pos"]] * 8 + [["neg"]] * 8
    clf = TextClassifier(seed=3).fit(texts, labels)
    assert clf.labels_ == ["neg", "pos"]
    assert clf.coef_.shape[0] == 1
    proba = clf.predict_proba(["a wonderful, moving film", "a boring, tedious film"])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert clf.predict(["a wonderful, moving film", "a boring, tedious film"]) == [["pos"], ["neg"]]
    assert proba[0, 1] > 0.5 > proba[1, 1]


# ------------------------------------------------------------------------------------------ multi-label


def test_classify_multi_label_thresholds(multi_model) -> None:
    clf, texts, labels = multi_model
    assert clf.labels_ == ["app", "billing", "delivery"]
    assert clf.thresholds_.shape == (3,)
    assert np.all((clf.thresholds_ > 0.0) & (clf.thresholds_ < 1.0))
    assert not np.allclose(clf.thresholds_, 0.5)  # tuned on validation, not left at the default
    tests = ["refund for the invoice, and the parcel came late", "app crash after the update", "hello there"]
    proba = clf.predict_proba(tests)
    assert proba.shape == (3, 3)
    pred = clf.predict(tests)
    assert [sorted(p) for p in pred[:2]] == [["billing", "delivery"], ["app"]]
    for row, p in zip(proba, pred, strict=True):
        assert set(p) == {lab for lab, q, t in zip(clf.labels_, row, clf.thresholds_, strict=True) if q >= t}
        assert p == sorted(p, key=lambda lab: -row[clf.labels_.index(lab)])
    train_pred = clf.predict(texts)
    exact = np.mean([sorted(p) == labs for p, labs in zip(train_pred, labels, strict=True)])
    assert exact > 0.9


def test_classify_multi_label_allows_texts_without_labels(multi_model) -> None:
    _, texts, labels = multi_model
    assert any(labs == [] for labs in labels)
    clf = TextClassifier(multi_label=True, seed=0, candidates=("svm_word",)).fit(texts, labels)
    assert clf.predict(["nothing relevant here at all"]) in ([[]], [["app"]], [["billing"]], [["delivery"]])


# ------------------------------------------------------------------------------------- reproducibility


def test_classify_reproducible_with_same_seed() -> None:
    texts, labels = topic_corpus()
    probe = texts[:10] + ["goal for the bank"]
    a = TextClassifier(seed=7).fit(texts, labels)
    b = TextClassifier(seed=7).fit(texts, labels)
    assert np.array_equal(a.predict_proba(probe), b.predict_proba(probe))
    assert [r["score"] for r in a.search_] == [r["score"] for r in b.search_]
    m_texts, m_labels = multi_label_corpus()
    c = TextClassifier(multi_label=True, seed=7).fit(m_texts, m_labels)
    d = TextClassifier(multi_label=True, seed=7).fit(m_texts, m_labels)
    assert np.array_equal(c.predict_proba(m_texts), d.predict_proba(m_texts))
    assert np.array_equal(c.thresholds_, d.thresholds_)


def test_classify_seed_changes_validation_split() -> None:
    texts, labels = multi_label_corpus()
    a = TextClassifier(multi_label=True, seed=1).fit(texts, labels)
    b = TextClassifier(multi_label=True, seed=2).fit(texts, labels)
    assert not np.array_equal(a.thresholds_, b.thresholds_)


# ------------------------------------------------------------------------------------------ persistence


@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
def test_classify_skops_roundtrip(tmp_path, multi_label, topic_model, multi_model) -> None:
    clf, texts, _ = multi_model if multi_label else topic_model
    path = tmp_path / "model.skops"
    sio.dump(clf, path)
    loaded = sio.load(path, trusted=TRUSTED_TYPES)
    probe = texts[:15] + ["an unseen text about invoices and goals"]
    assert np.array_equal(loaded.predict_proba(probe), clf.predict_proba(probe))
    assert loaded.predict(probe) == clf.predict(probe)
    assert loaded.explain(probe[0], clf.labels_[0]) == clf.explain(probe[0], clf.labels_[0])
    assert loaded.search_ == clf.search_ and loaded.best_ == clf.best_
    assert np.array_equal(loaded.thresholds_, clf.thresholds_)
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.load(path, trusted=[])


def test_classify_trusted_types_are_exactly_what_is_needed(tmp_path) -> None:
    s_texts, s_labels = topic_corpus(per_label=6)
    b_texts, b_labels = s_texts[:12], [["a"] if i % 2 else ["b"] for i in range(12)]
    m_texts, m_labels = multi_label_corpus(n=40)
    needed: set[str] = set()
    for name in CANDIDATES:
        for multi, texts, labels in ((False, s_texts, s_labels), (False, b_texts, b_labels), (True, m_texts, m_labels)):
            clf = TextClassifier(multi_label=multi, candidates=(name,)).fit(texts, labels)
            path = tmp_path / f"{name}-{multi}-{len(clf.labels_)}.skops"
            sio.dump(clf, path)
            needed |= set(sio.get_untrusted_types(file=path))
    for strategy in ("hashed", "shortlist"):
        for multi, texts, labels in ((False, s_texts, s_labels), (False, b_texts, b_labels), (True, m_texts, m_labels)):
            clf = TextClassifier(multi_label=multi, strategy=strategy).fit(texts, labels)
            path = tmp_path / f"{strategy}-{multi}-{len(clf.labels_)}.skops"
            sio.dump(clf, path)
            needed |= set(sio.get_untrusted_types(file=path))
    assert needed == set(TRUSTED_TYPES)


def test_classify_saved_state_is_compact_and_loads_to_the_same_model(topic_model) -> None:
    """What a file holds: float16 weights, document frequencies (not float64 IDF), and no per-word n-gram rows
    (rebuilt on load); the loaded model has the same IDF, rows and probabilities, bit for bit."""
    clf, texts, _ = topic_model
    state = clf.__getstate__()
    assert state["weights_"].dtype == np.float16
    word, char = (v.__getstate__() for v in clf.vectorizers_)
    assert "idf_" not in word and word["df_"].dtype == np.uint32 and "word_grams_" not in char
    loaded = TextClassifier.__new__(TextClassifier)
    loaded.__setstate__(clf.__getstate__())
    for a, b in zip(loaded.vectorizers_, clf.vectorizers_, strict=True):
        assert np.array_equal(a.idf_, b.idf_)
    new_rows, old_rows = loaded.vectorizers_[1].word_grams_, clf.vectorizers_[1].word_grams_
    assert np.array_equal(new_rows.indptr, old_rows.indptr) and np.array_equal(new_rows.indices, old_rows.indices)
    assert np.array_equal(new_rows.data, old_rows.data)
    assert np.array_equal(loaded.predict_proba(texts), clf.predict_proba(texts))


def test_classify_saved_model_is_small_and_fast_to_load(tmp_path) -> None:
    texts, labels = topic_corpus(per_label=40)
    texts += [f"unique{i} token{i} word{i}" for i in range(500)]  # a vocabulary of a few thousand terms
    labels += [["sports"]] * 500
    clf = TextClassifier(seed=0).fit(texts, labels)
    assert sum(len(v.vocabulary_) for v in clf.vectorizers_) > 5000
    path = tmp_path / "model.skops"
    sio.dump(clf, path)
    started = time.perf_counter()
    sio.load(path, trusted=TRUSTED_TYPES)
    assert time.perf_counter() - started < 1.0
    with zipfile.ZipFile(path) as z:  # vocabularies go to .npy byte arrays, not term by term into the JSON
        assert z.getinfo("schema.json").file_size < 40_000  # a dict would take 50+ bytes per term


# ------------------------------------------------------------------------------------------ explain


def test_classify_explain_returns_terms_in_text(topic_model) -> None:
    clf, _, _ = topic_model
    text = "The Striker scored a late GOAL in the league match"
    terms = clf.explain(text, "sports", k=5)
    assert 1 <= len(terms) <= 5
    assert all(term in text.lower() for term, _ in terms)
    weights = [w for _, w in terms]
    assert all(w > 0 for w in weights) and weights == sorted(weights, reverse=True)
    assert {"goal", "league", "match", "striker"} & {t for t, _ in terms}
    # the top term for another label is not a sports word
    assert not {"goal", "league", "match", "striker"} & {t for t, _ in clf.explain(text, "finance", k=2)}
    assert clf.explain("", "sports") == []
    assert len(clf.explain(text, "sports", k=50)) > 5


def test_classify_explain_contributions_are_value_times_coefficient() -> None:
    texts, labels = topic_corpus()
    clf = TextClassifier(seed=0, candidates=("svm_word",)).fit(texts, labels)  # word terms only: no merging
    text = "shares and profit at the bank, shares again"
    j = clf.labels_.index("finance")
    terms = dict(clf.explain(text, "finance", k=10_000))
    x = clf._features([text])
    expected = {}
    names = {col: term for term, col in clf.vectorizers_[0].vocabulary_.items()}
    for col, val in zip(x.indices, x.data, strict=True):
        if val * clf.coef_[j, col] > 0:
            expected[names[col]] = val * clf.coef_[j, col]
    assert terms.keys() == expected.keys() and {"shares", "profit", "bank"} <= terms.keys()
    for term, w in expected.items():
        assert terms[term] == pytest.approx(w)


def test_classify_explain_rejects_unknown_label(topic_model) -> None:
    clf, _, _ = topic_model
    with pytest.raises(InputError) as exc:
        clf.explain("goal", "weather")
    assert exc.value.code == "E340" and "weather" in exc.value.message and "sports" in exc.value.message
    with pytest.raises(InputError) as exc:
        clf.explain("goal", "sports", k=0)
    assert exc.value.code == "E341"


# ------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("texts", "y", "kwargs", "code", "words"),
    [
        ([], [], {}, "E301", ["empty"]),
        (["a b", "c d"], [["x"]], {}, "E301", ["2 texts", "1 label"]),
        (["aa bb", "cc dd"], [["x"], ["x"]], {}, "E302", ["'x'", "two different labels"]),
        (["aa bb", "cc dd"], [[], []], {"multi_label": True}, "E302", ["no labels"]),
        (["aa bb", "cc dd"], [["x"], []], {}, "E303", ["y[1]", "no label", "multi_label=True"]),
        (["aa bb", "cc dd"], [["x"], ["x", "y"]], {}, "E303", ["y[1]", "2 labels"]),
        (["aa bb", "cc dd"], ["x", "y"], {}, "E304", ["y[0]", "list"]),
        (["aa bb", 3], [["x"], ["y"]], {}, "E304", ["texts[1]", "int"]),
        (["aa bb", "cc dd"], [["x"], [""]], {}, "E304", ["non-empty"]),
        ("aa bb", [["x"]], {}, "E304", ["list of strings"]),
        (["", "  ", "\n"], [["x"], ["y"], ["x"]], {}, "E305", ["empty"]),
    ],
    ids=[
        "empty",
        "length",
        "one-label",
        "multi-no-labels",
        "no-label",
        "two-labels",
        "flat-y",
        "non-str-text",
        "blank-label",
        "str-texts",
        "blank-texts",
    ],
)
def test_classify_training_errors(texts, y, kwargs, code, words) -> None:
    with pytest.raises(TrainingError) as exc:
        TextClassifier(**kwargs).fit(texts, y)
    assert exc.value.code == code
    for w in words:
        assert w in exc.value.message


@pytest.mark.parametrize(
    ("param", "value", "code"),
    [
        ("multi_label", "yes", "E320"),
        ("time_budget", 0, "E321"),
        ("time_budget", float("nan"), "E321"),
        ("seed", -1, "E322"),
        ("seed", 1.5, "E322"),
        ("candidates", ("nope",), "E323"),
        ("candidates", (), "E323"),
        ("candidates", "svm_word", "E323"),
        ("class_weight", "auto", "E324"),
        ("validation_fraction", 0.9, "E325"),
    ],
)
def test_classify_parameter_errors_name_the_parameter(param, value, code) -> None:
    texts, labels = topic_corpus(per_label=3)
    with pytest.raises(TrainingError) as exc:
        TextClassifier(**{param: value}).fit(texts, labels)
    assert exc.value.code == code
    assert param in exc.value.message and "must be" in exc.value.message and repr(value) in exc.value.message
    assert exc.value.details["field"] == param


def test_classify_validation_errors() -> None:
    texts, labels = topic_corpus(per_label=3)
    with pytest.raises(TrainingError) as exc:
        TextClassifier().fit(texts, labels, validation=(["only texts"],))
    assert exc.value.code == "E306"
    with pytest.raises(TrainingError) as exc:
        TextClassifier().fit(texts, labels, validation=(["x"], [["weather"]]))
    assert exc.value.code == "E306" and "validation" in exc.value.message
    with pytest.raises(TrainingError) as exc:
        TextClassifier().fit(texts, labels, validation=(["x", "y"], [["sports"]]))
    assert exc.value.code == "E301"


def test_classify_predict_errors(topic_model) -> None:
    clf, _, _ = topic_model
    with pytest.raises(NotFittedError):
        TextClassifier().predict(["x"])
    with pytest.raises(InputError) as exc:
        clf.predict_proba("a single string")
    assert exc.value.code == "E342"
    with pytest.raises(InputError) as exc:
        clf.predict([None])
    assert exc.value.code == "E342" and "texts[0]" in exc.value.message


# ------------------------------------------------------------------------------------------ search


def test_classify_tiny_time_budget_still_fits_one_candidate() -> None:
    texts, labels = topic_corpus()
    clf = TextClassifier(time_budget=1e-6, candidates=tuple(CANDIDATES)).fit(texts, labels)
    assert [r["name"] for r in clf.search_] == [next(iter(CANDIDATES))]
    assert clf.best_ == next(iter(CANDIDATES))
    assert clf.predict(["goal in the league match"]) == [["sports"]]


def test_classify_generous_budget_tries_every_candidate() -> None:
    texts, labels = topic_corpus(per_label=8)
    clf = TextClassifier(candidates=tuple(CANDIDATES)).fit(texts, labels)
    assert [r["name"] for r in clf.search_] == list(CANDIDATES)


def test_classify_explicit_validation_and_progress() -> None:
    texts, labels = topic_corpus()
    v_texts, v_labels = topic_corpus(per_label=4, seed=9)
    v_texts.append("a text about weather")
    v_labels.append(["weather"])  # unknown to training: ignored
    calls: list[tuple[str, int, int]] = []
    clf = TextClassifier(seed=0).fit(
        texts,
        labels,
        validation=(v_texts, v_labels),
        progress=lambda stage, done, total: calls.append((stage, done, total)),
    )
    assert calls[0] == ("search", 0, 2) and calls[-1] == ("search", 2, 2)
    assert all(stage == "search" for stage, _, _ in calls)  # nothing to refit: validation was given
    assert clf.search_[0]["score"] > 0.9

    calls.clear()
    TextClassifier(seed=0).fit(texts, labels, progress=lambda *a: calls.append(a))
    assert calls[-2:] == [("refit", 0, 1), ("refit", 1, 1)]


def test_classify_estimator_contract(topic_model) -> None:
    clf, texts, labels = topic_model
    params = {
        "multi_label": True,
        "time_budget": 5.0,
        "seed": 3,
        "candidates": ("svm_word",),
        "class_weight": None,
        "validation_fraction": 0.2,
        "strategy": "hashed",
    }
    est = TextClassifier(**params)
    assert est.get_params() == params
    fresh = clone(clf)
    assert not hasattr(fresh, "labels_") and fresh.get_params() == clf.get_params()
    assert clf.score(texts, labels) > 0.95


def test_classify_tiny_dataset_and_array_inputs() -> None:
    clf = TextClassifier().fit(np.array(["goal for the striker", "profit at the bank"]), [["sports"], ["finance"]])
    assert clf.predict(["the striker"]) == [["sports"]]
    multi = TextClassifier(multi_label=True).fit(
        ["invoice refund", "parcel late", "app crash"], [np.array(["billing"]), ["delivery"], []]
    )
    assert multi.labels_ == ["billing", "delivery"]
    assert multi.predict_proba(["refund"]).shape == (1, 2)


def test_classify_class_weight_balanced_helps_rare_label() -> None:
    rng = random.Random(5)
    texts, labels = [], []
    for i in range(120):
        rare = i % 12 == 0
        words = rng.sample(CUES["billing" if rare else "delivery"], 2) + rng.sample(FILLER, 5)
        texts.append(" ".join(words))
        labels.append(["billing" if rare else "delivery"])
    bal = TextClassifier(seed=0, candidates=("svm_word",)).fit(texts, labels)
    probe = ["invoice question", "refund bill"]
    assert bal.predict(probe) == [["billing"], ["billing"]]


def test_classify_stratified_split_keeps_every_label_in_train() -> None:
    rng = np.random.default_rng(0)
    Y = rng.random((300, 6)) < [0.5, 0.2, 0.05, 0.01, 0.3, 0.0]
    Y[0, 3] = True
    tr, va = stratified_split(Y, 0.15, seed=4)
    assert sorted(np.r_[tr, va].tolist()) == list(range(300))
    assert 0.10 * 300 < len(va) < 0.20 * 300
    assert np.all(Y[tr].sum(axis=0) >= (Y.sum(axis=0) > 0))
    assert np.array_equal(stratified_split(Y, 0.15, seed=4)[1], va)
    assert not np.array_equal(stratified_split(Y, 0.15, seed=5)[1], va)
    labels = rng.integers(0, 3, 200)
    _, va = stratified_split(np.eye(3, dtype=bool)[labels], 0.2, seed=0)
    assert np.bincount(labels[va], minlength=3) == pytest.approx(0.2 * np.bincount(labels), abs=1)


def test_classify_best_threshold_maximises_f1() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        t = rng.random(60) < 0.3
        p = np.clip(t * 0.3 + rng.random(60) * 0.7, 0, 1).round(2)
        thr = best_threshold(p, t)

        best = max(macro_f1(t[:, None], (p >= th)[:, None]) for th in np.unique(p))
        assert macro_f1(t[:, None], (p >= thr)[:, None]) == pytest.approx(best)
    assert best_threshold(np.array([0.2, 0.9]), np.array([False, False])) == 0.5


def test_classify_bootstrap_se_shrinks_with_more_rows() -> None:
    rng = np.random.default_rng(2)

    def se(n: int) -> float:
        T = np.eye(3, dtype=bool)[rng.integers(0, 3, n)]
        P_a = np.where(rng.random((n, 1)) < 0.8, T, np.roll(T, 1, axis=1))
        P_b = np.where(rng.random((n, 1)) < 0.8, T, np.roll(T, 1, axis=1))
        return f1_gain_se(T, P_a, P_b, seed=0)

    assert se(4000) < se(250) / 2
    T = np.eye(2, dtype=bool)[[0, 1, 0, 1]]
    assert f1_gain_se(T, T, T, seed=0) == 0.0


# ------------------------------------------------------------------------------------------ real data


def _rows(n: int, seed: int, rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return random.Random(seed).sample(rows, n)


@pytest.mark.skipif(not (DATASETS / "ag_news" / "test.csv").exists(), reason="shared AG News not available")
def test_classify_ag_news_subsample() -> None:
    with open(DATASETS / "ag_news" / "test.csv", newline="", encoding="utf-8") as f:
        rows = [(f"{r[1]} {r[2]}", r[0]) for r in csv.reader(f)]
    sample = _rows(1200, 0, rows)
    train, test = sample[:900], sample[900:]
    clf = TextClassifier(seed=0).fit([t for t, _ in train], [[y] for _, y in train])
    pred = clf.predict([t for t, _ in test])
    accuracy = np.mean([p == [y] for p, (_, y) in zip(pred, test, strict=True)])
    assert accuracy > 0.8  # ~0.85 at this size; chance is 0.25


@pytest.mark.skipif(not (DATASETS / "rt_polarity" / "utf8").exists(), reason="shared rt-polarity not available")
def test_classify_rt_polarity_subsample() -> None:
    rows = []
    for label in ("pos", "neg"):
        text = (DATASETS / "rt_polarity" / "utf8" / f"rt-polarity.{label}").read_text(encoding="utf-8")
        rows += [(line, label) for line in text.split("\n") if line.strip()]
    sample = _rows(2000, 1, rows)
    train, test = sample[:1500], sample[1500:]
    clf = TextClassifier(seed=0).fit([t for t, _ in train], [[y] for _, y in train])
    proba = clf.predict_proba([t for t, _ in test])
    pred = [clf.labels_[j] for j in proba.argmax(axis=1)]
    accuracy = np.mean([p == y for p, (_, y) in zip(pred, test, strict=True)])
    assert accuracy > 0.64  # ~0.68 at this size; chance is 0.5
    # calibrated: mean confidence close to accuracy
    assert abs(proba.max(axis=1).mean() - accuracy) < 0.1
