"""Sentiment: the sentence splitter, the VADER lexicon, SentimentModel, ordinal metrics, and the task's training,
evaluation and predictors on a real SQLite store."""

from __future__ import annotations

import json
import random
import shutil
import tracemalloc

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import clone
from sklearn.metrics import cohen_kappa_score

from nlpipe import artifacts
from nlpipe.errors import ArtifactError, InputError, TrainingError
from nlpipe.evaluate import evaluate_model
from nlpipe.label.formats import read_records
from nlpipe.metrics.ordinal import ordinal_metrics, weighted_kappa
from nlpipe.metrics.report import write_report
from nlpipe.predict import load_predictor
from nlpipe.store.datasets import create_dataset
from nlpipe.store.importing import import_records
from nlpipe.tasks.sentiment.lexicon import (
    N_LEXICON_FEATURES,
    lexicon_decision,
    lexicon_features,
    lexicon_version,
    vader_scores,
)
from nlpipe.tasks.sentiment.model import SAVED_TYPES, TRUSTED_TYPES, SentimentModel
from nlpipe.tasks.sentiment.params import scale_indices
from nlpipe.tasks.sentiment.predictor import LONG_DOCUMENT_CHARS, lexicon_predictor, polarity_values
from nlpipe.tasks.sentiment.sentences import iter_sentences, split_sentences
from nlpipe.train import train
from nlpipe.types import Record
from tests.conftest import DATA

# ------------------------------------------------------------------------------------------------ corpora

GOOD = "great lovely excellent superb friendly fast helpful wonderful".split()
BAD = "awful rude broken terrible slow useless horrible dreadful".split()
PLAIN = "parcel order app invoice driver router plan screen".split()
FILLER = "the my a this today with and it was".split()


def polarity_corpus(n: int = 20, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        for label, words in (("positive", GOOD), ("negative", BAD), ("neutral", PLAIN)):
            toks = rng.sample(words, 2) + rng.sample(PLAIN, 2) + rng.sample(FILLER, 3)
            rng.shuffle(toks)
            texts.append(" ".join(toks) + f" {i}")
            labels.append(label)
    return texts, labels


def scale_corpus(n: int = 16, seed: int = 0) -> tuple[list[str], list[str]]:
    """Scores 0..2: two bad words, one good one bad, two good words."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        for score, (a, b) in enumerate(((BAD, BAD), (GOOD, BAD), (GOOD, GOOD))):
            toks = [rng.choice(a), rng.choice(b)] + rng.sample(PLAIN, 2) + rng.sample(FILLER, 2)
            rng.shuffle(toks)
            texts.append(" ".join(toks))
            labels.append(str(score))
    return texts, labels


@pytest.fixture(scope="module")
def polarity_model() -> SentimentModel:
    texts, labels = polarity_corpus()
    return SentimentModel(seed=0, time_budget=20).fit(texts, labels)


# ---------------------------------------------------------------------------------------------- sentences


def test_sentences_offsets_abbreviations_and_paragraphs():
    text = (
        'Mr. Smith flew to Oslo. He said "great!" Then left... e.g. this stays. J. R. Tolkien wrote it. '
        "No. 5 is mine. I said no. Then what?\n\nA new paragraph without a stop\nstill the same one. Last one"
    )
    got = [text[s:e] for s, e in split_sentences(text)]
    assert got == [
        "Mr. Smith flew to Oslo.",
        'He said "great!"',
        "Then left...",
        "e.g. this stays.",
        "J. R. Tolkien wrote it.",
        "No. 5 is mine.",
        "I said no.",
        "Then what?",
        "A new paragraph without a stop\nstill the same one.",
        "Last one",
    ]
    assert split_sentences("") == [] and split_sentences(" \n\n ") == []


def test_sentences_chunked_reading_gives_the_same_sentences():
    rng = random.Random(1)
    parts = [" ".join(rng.choices(GOOD + BAD + PLAIN + ["Dr.", "e.g."], k=rng.randint(1, 12))) + rng.choice(".!?")
             for _ in range(400)]  # fmt: skip
    text = " ".join(parts) + "\n\nTail without a stop"
    whole = list(iter_sentences(text, chunk_chars=10**7))
    assert list(iter_sentences(text, chunk_chars=97)) == whole
    pieces = (text[i : i + 13] for i in range(0, len(text), 13))  # a stream of small pieces
    assert list(iter_sentences(pieces, chunk_chars=200)) == whole
    assert all(text[s:e] == sent for s, e, sent in whole)
    assert whole[-1][2] == "Tail without a stop"


def test_sentences_run_without_boundary_is_cut_at_max_chars():
    text = "word " * 2000  # 10,000 characters, no sentence end
    spans = list(iter_sentences(text, chunk_chars=1000))
    assert all(e - s <= 1000 for s, e, _ in spans)
    assert " ".join(sent for _, _, sent in spans).split() == text.split()


def test_sentences_memory_is_bounded_by_the_chunk():
    piece = "The parcel was late again. Support was friendly though! Would I order again? Maybe. " * 50

    def peak_for(total: int) -> int:
        stream = (piece for _ in range(total // len(piece)))
        tracemalloc.start()
        count = sum(1 for _ in iter_sentences(stream, chunk_chars=8_192))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert count == 4 * 50 * (total // len(piece))
        return peak

    small, large = peak_for(250_000), peak_for(500_000)
    assert large < 250_000  # far less than the 500 KB streamed
    assert large < 1.2 * small + 10_000  # twice the text, not twice the memory


# ------------------------------------------------------------------------------------------------ lexicon


def test_lexicon_scores_decision_and_features():
    scores = vader_scores(["I love this, it is wonderful!", "Terrible, rude and broken.", "The flight is at 5pm", ""])
    assert scores.shape == (4, 4)
    labels = [lexicon_decision(c)[0] for c in scores[:, 3]]
    assert labels == ["positive", "negative", "neutral", "neutral"]
    assert lexicon_decision(0.0) == ("neutral", 1.0)
    assert lexicon_decision(0.05)[0] == "positive" and lexicon_decision(-0.05)[0] == "negative"
    assert lexicon_decision(0.8) == ("positive", 0.8)
    feats = lexicon_features(scores)
    assert feats.shape == (4, N_LEXICON_FEATURES)
    assert np.all(feats[:, 3:].sum(axis=1) == 1.0)  # one compound bin per text
    assert lexicon_version().startswith("vader-")


def test_lexicon_predictor_needs_no_model():
    predictor = lexicon_predictor()
    assert predictor.name == "lexicon" and predictor.version == lexicon_version()
    text = "I love the new app. The delivery was awful."
    [pred] = predictor.predict([text], **predictor.check_options({"sentences": True}))
    s = pred.sentiment
    assert set(s) == {"kind", "label", "score", "confidence", "magnitude", "aggregated", "sentences"}
    assert s["kind"] == "lexicon" and s["aggregated"] is False and pred.predicted == [s["label"]]
    assert [(x["label"], text[x["start"] : x["end"]]) for x in s["sentences"]] == [
        ("positive", "I love the new app."),
        ("negative", "The delivery was awful."),
    ]
    assert 0.0 < s["magnitude"] <= 1.0
    with pytest.raises(InputError) as exc:
        predictor.check_options({"top_k": 2})
    assert exc.value.code == "E415"


# ------------------------------------------------------------------------------------------------ the model


def test_model_learns_categorical_polarity(polarity_model):
    m = polarity_model
    assert m.labels_ == ["negative", "neutral", "positive"]
    texts, labels = polarity_corpus(n=5, seed=7)
    assert np.mean(np.array(m.predict(texts)) == np.array(labels)) >= 0.9
    P = m.predict_proba(texts)
    assert P.shape == (15, 3) and np.allclose(P.sum(axis=1), 1.0)
    assert m.lexicon_ == lexicon_version() and m.best_ in {row["name"] for row in m.search_}
    assert clone(m).get_params() == m.get_params()


def test_model_scale_gives_a_distribution_over_the_scores():
    texts, labels = scale_corpus()
    m = SentimentModel(scale=2, seed=0, time_budget=20).fit(texts, labels)
    assert m.labels_ == ["0", "1", "2"]
    assert m.coef_.shape[0] == 3 + 2  # one-vs-rest outputs, then the cumulative "score > k" ones
    P = m.predict_proba(["awful horrible parcel", "great awful parcel", "superb wonderful parcel"])
    assert np.allclose(P.sum(axis=1), 1.0) and (P >= 0).all()
    assert list(P.argmax(axis=1)) == [0, 1, 2]


def test_model_uses_a_given_validation_split():
    texts, labels = scale_corpus()
    v_texts, v_labels = scale_corpus(n=3, seed=9)
    keep = [i for i, lab in enumerate(v_labels) if lab != "1"]  # a validation split may lack a score
    validation = ([v_texts[i] for i in keep], [v_labels[i] for i in keep])
    m = SentimentModel(scale=2, seed=0).fit(texts, labels, validation=validation)
    assert m.labels_ == ["0", "1", "2"] and m.search_
    texts, labels = polarity_corpus(n=4)
    m = SentimentModel(seed=0).fit(texts, labels, validation=(["great lovely", "odd one"], ["positive", "mixed"]))
    assert m.predict(["great lovely excellent"]) == ["positive"]  # the unknown validation label is left out
    with pytest.raises(TrainingError) as exc:
        SentimentModel().fit(texts, labels, validation=(["odd one"], ["mixed"]))
    assert exc.value.code == "E362"


def test_model_same_seed_same_probabilities():
    texts, labels = polarity_corpus(n=8)
    a = SentimentModel(seed=3).fit(texts, labels).predict_proba(texts)
    b = SentimentModel(seed=3).fit(texts, labels).predict_proba(texts)
    assert np.array_equal(a, b)


@pytest.mark.parametrize(
    "params, code",
    [
        ({"scale": 0}, "E350"),
        ({"scale": 11}, "E350"),
        ({"scale": True}, "E350"),
        ({"time_budget": 0}, "E356"),
        ({"seed": -1}, "E357"),
        ({"candidates": ("nope",)}, "E358"),
        ({"lexicon_weight": -1.0}, "E359"),
        ({"class_weight": "x"}, "E360"),
        ({"validation_fraction": 0.9}, "E361"),
    ],
)
def test_model_parameter_errors_name_the_parameter(params, code):
    texts, labels = polarity_corpus(n=2)
    with pytest.raises(TrainingError) as exc:
        SentimentModel(**params).fit(texts, labels)
    assert exc.value.code == code and exc.value.details["field"] == next(iter(params))


def test_model_scale_label_errors():
    with pytest.raises(TrainingError) as exc:
        scale_indices(["0", "1", "2", "5", "good"], 2)
    assert exc.value.code == "E351" and "'5'" in exc.value.message and "'good'" in exc.value.message
    with pytest.raises(TrainingError) as exc:
        scale_indices(["0", "2", "2"], 2)
    assert exc.value.code == "E352" and "score(s) 1 " in exc.value.message
    assert list(scale_indices(["2", "0", "1"], 2)) == [2, 0, 1]
    texts, _ = scale_corpus(n=2)
    with pytest.raises(TrainingError) as exc:
        SentimentModel(scale=3).fit(texts, ["0", "1", "2"] * 2)
    assert exc.value.code == "E352"


def test_model_data_errors():
    with pytest.raises(TrainingError) as exc:
        SentimentModel().fit(["good", "bad"], ["positive", "positive"])
    assert exc.value.code == "E363"
    with pytest.raises(TrainingError) as exc:
        SentimentModel().fit(["good", "bad"], ["positive"])
    assert exc.value.code == "E362"
    with pytest.raises(TrainingError) as exc:
        SentimentModel().fit(["", " "], ["positive", "negative"])
    assert exc.value.code == "E364"


def test_model_save_load_round_trip_with_exact_trusted_types(polarity_model, tmp_path):
    path = tmp_path / "model.skops"
    sio.dump(polarity_model, path)
    assert sorted(sio.get_untrusted_types(file=path)) == sorted(SAVED_TYPES)
    assert set(SAVED_TYPES) <= set(TRUSTED_TYPES)
    loaded = sio.load(path, trusted=TRUSTED_TYPES)
    texts, _ = polarity_corpus(n=3, seed=5)
    assert np.array_equal(loaded.predict_proba(texts), polarity_model.predict_proba(texts))
    assert path.stat().st_size < 2_000_000  # the VADER lexicon is not in it


# ------------------------------------------------------------------------------------------ ordinal metrics


def test_ordinal_metrics_hand_checked():
    # confusion (rows true 0..2, columns predicted): [[1,0,0],[0,0,1],[0,1,1]]; row and column sums 1, 1, 2.
    m = ordinal_metrics([0, 1, 2, 2], ["0", "2", "2", "1"], 2)
    assert m["mae"] == 0.5 and m["mse"] == 0.5
    assert m["kappa_linear"] == pytest.approx(3 / 7)  # 1 - 1 / 1.75
    assert m["kappa_quadratic"] == pytest.approx(7 / 11)  # 1 - 0.5 / 1.375
    assert m["confusion"] == {"labels": ["0", "1", "2"], "matrix": [[1, 0, 0], [0, 0, 1], [0, 1, 1]]}
    assert m["baseline"]["predicts"] == "1" and m["baseline"]["mae"] == 0.75 and m["baseline"]["kappa_quadratic"] == 0
    for weights in ("linear", "quadratic"):
        ref = cohen_kappa_score([0, 1, 2, 2], [0, 2, 2, 1], weights=weights, labels=[0, 1, 2])
        assert m[f"kappa_{weights}"] == pytest.approx(ref)


def test_ordinal_metrics_match_scikit_learn_on_random_scores():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 6, 300)
    pred = np.clip(truth + rng.integers(-2, 3, 300), 0, 5)
    m = ordinal_metrics(truth.tolist(), pred.tolist(), 5)
    assert m["mae"] == pytest.approx(np.abs(truth - pred).mean())
    for weights in ("linear", "quadratic"):
        ref = cohen_kappa_score(truth, pred, weights=weights, labels=list(range(6)))
        assert m[f"kappa_{weights}"] == pytest.approx(ref)


def test_ordinal_metrics_errors_and_undefined_kappa():
    for args, code in (
        (([0], [0], 0), "E540"),
        (([0], [0], 11), "E540"),
        (([0, 1], [0], 2), "E541"),
        (([], [], 2), "E541"),
        (([0, 3], [0, 1], 2), "E542"),
        ((["x"], ["0"], 2), "E542"),
    ):
        with pytest.raises(InputError) as exc:
            ordinal_metrics(*args)
        assert exc.value.code == code
    assert weighted_kappa(np.array([[3, 0], [0, 0]]), "linear") is None
    assert ordinal_metrics(["1", "1"], ["1", "1"], 2)["kappa_quadratic"] is None


def test_ordinal_report_section(tmp_path):
    metrics = {"n_examples": 4, "accuracy": 0.5, "ordinal": ordinal_metrics([0, 1, 2, 2], [0, 2, 2, 1], 2)}
    report = write_report(metrics, tmp_path, title="scale")
    html = report.read_text()
    assert "Ordinal scale 0..2" in html and "Cohen&#x27;s kappa, quadratic weights" in html and "0.6364" in html
    assert json.loads((tmp_path / "metrics.json").read_text())["ordinal"]["kappa_linear"] == pytest.approx(3 / 7)


# -------------------------------------------------------------------------------------------- the task


def test_sentiment_train_categorical_saves_meta_metrics_and_report(trained_sentiment):
    path = artifacts.resolve(trained_sentiment.models_dir, "feedback-sentiment")
    meta = artifacts.read_meta(path)
    assert meta["task"] == "sentiment" and meta["format"] == "nlpipe.sentiment.v1" and meta["kind"] == "categorical"
    assert meta["labels"] == ["negative", "neutral", "positive"] and meta["scale"] is None
    assert meta["lexicon"] == lexicon_version()
    assert set(meta["metrics"]) >= {"accuracy", "macro_f1"} and "mae" not in meta["metrics"]
    assert meta["training"]["n_train"] == 160 and meta["training"]["n_test"] == 40
    saved = json.loads((path / "report" / "metrics.json").read_text())
    assert saved["sentiment"] == {"kind": "categorical", "scale": None} and "ordinal" not in saved


def test_sentiment_train_scale_reports_ordinal_metrics(trained_sentiment):
    path = artifacts.resolve(trained_sentiment.models_dir, "ratings")
    meta = artifacts.read_meta(path)
    assert meta["kind"] == "scale" and meta["scale"] == 4 and meta["labels"] == ["0", "1", "2", "3", "4"]
    assert {"mae", "mse", "kappa_linear", "kappa_quadratic", "accuracy"} <= set(meta["metrics"])
    saved = json.loads((path / "report" / "metrics.json").read_text())
    ordinal = saved["ordinal"]
    matrix = np.array(ordinal["confusion"]["matrix"])
    assert matrix.shape == (5, 5) and matrix.sum() == meta["training"]["n_test"] == 10
    errors = np.abs(np.subtract.outer(np.arange(5), np.arange(5)))
    assert ordinal["mae"] == pytest.approx((matrix * errors).sum() / matrix.sum())
    assert ordinal["mae"] < ordinal["baseline"]["mae"]
    assert "Ordinal scale 0..4" in (path / "report" / "report.html").read_text()


def test_sentiment_predict_shape_categorical(trained_sentiment):
    predictor = load_predictor(trained_sentiment.models_dir, "feedback-sentiment")
    texts = ["Refund still missing after three weeks, awful service.", "Love the new app, brilliant!", ""]
    preds = predictor.predict(texts)
    assert len(preds) == 3
    for p in preds:
        s = p.sentiment
        assert set(s) == {"kind", "label", "score", "confidence", "magnitude", "aggregated"}
        proba = {ls.label: ls.score for ls in p.labels}
        assert p.predicted == [s["label"]] and s["label"] == max(proba, key=proba.get)
        assert s["confidence"] == pytest.approx(proba[s["label"]], abs=1e-6)
        assert s["score"] == pytest.approx(proba["positive"] - proba["negative"], abs=1e-6)
        assert 0.0 <= s["magnitude"] <= 1.0 and s["aggregated"] is False
    assert preds[0].sentiment["label"] == "negative" and preds[1].sentiment["label"] == "positive"
    assert preds[2].sentiment["magnitude"] == 0.0
    assert json.loads(json.dumps(preds[0].to_dict()))["sentiment"] == preds[0].sentiment


def test_sentiment_predict_shape_scale(trained_sentiment):
    predictor = load_predictor(trained_sentiment.models_dir, "ratings")
    [good, bad] = predictor.predict(["Fantastic, I love it, excellent quality!", "Awful, broke at once. Never again."])
    for p in (good, bad):
        assert p.sentiment["kind"] == "scale" and p.sentiment["scale"] == 4
        assert p.sentiment["score"] == int(p.sentiment["label"]) and isinstance(p.sentiment["score"], int)
    assert good.sentiment["score"] >= 3 and bad.sentiment["score"] <= 1


def test_sentiment_sentences_mode_gives_offsets(trained_sentiment):
    predictor = load_predictor(trained_sentiment.models_dir, "feedback-sentiment")
    text = "The courier was rude and the box was crushed.  Support fixed it fast, thank you!"
    [p] = predictor.predict([text], sentences=True)
    sents = p.sentiment["sentences"]
    assert [text[s["start"] : s["end"]] for s in sents] == [
        "The courier was rude and the box was crushed.",
        "Support fixed it fast, thank you!",
    ]
    assert [s["label"] for s in sents] == ["negative", "positive"]
    assert set(sents[0]) == {"start", "end", "label", "score", "confidence", "magnitude"}
    [alone] = predictor.predict([text[sents[1]["start"] : sents[1]["end"]]])
    assert sents[1]["confidence"] == pytest.approx(alone.sentiment["confidence"], abs=1e-6)


def test_sentiment_long_document_is_aggregated_from_sentences(trained_sentiment):
    predictor = load_predictor(trained_sentiment.models_dir, "feedback-sentiment")
    bad = "The parcel was late and support was rude. "
    good = "The new app is brilliant and I love it! "
    text = bad * 400 + good * 200  # over LONG_DOCUMENT_CHARS
    assert len(text) > LONG_DOCUMENT_CHARS
    [p] = predictor.predict([text], sentences=True, batch_size=64)
    s = p.sentiment
    assert s["aggregated"] is True and len(s["sentences"]) == 600
    lengths = np.array([x["end"] - x["start"] for x in s["sentences"]], dtype=float)
    scores = np.array([x["score"] for x in s["sentences"]])
    mags = np.array([x["magnitude"] for x in s["sentences"]])
    assert s["score"] == pytest.approx((lengths * scores).sum() / lengths.sum(), abs=1e-4)
    assert s["magnitude"] == pytest.approx((lengths * mags).sum() / lengths.sum(), abs=1e-4)
    assert s["label"] == "negative"
    [same] = predictor.predict([text])  # without sentences the document sentiment is the same
    assert "sentences" not in same.sentiment and same.sentiment["score"] == pytest.approx(s["score"], abs=1e-6)


def test_sentiment_options_refused_for_the_wrong_task(trained_sentiment, trained):
    sentiment = load_predictor(trained_sentiment.models_dir, "feedback-sentiment")
    with pytest.raises(InputError) as exc:
        sentiment.check_options({"top_k": 2, "sentences": True})
    assert exc.value.code == "E415" and exc.value.details["field"] == "top_k"
    classify = load_predictor(trained.models_dir, "news")
    with pytest.raises(InputError) as exc:
        classify.check_options({"sentences": True})
    assert exc.value.code == "E415" and "sentiment" not in exc.value.message
    assert classify.check_options({"sentences": False}) == {}
    with pytest.raises(InputError) as exc:
        sentiment.predict(["x"], batch_size=0)
    assert exc.value.code == "E421"


def test_sentiment_evaluate_a_saved_scale_model(trained_sentiment, tmp_path):
    from nlpipe.store.db import open_store

    st = open_store(trained_sentiment)
    try:
        result = evaluate_model(st, trained_sentiment, "ratings", "ratings", split="all", out=tmp_path / "ev")
    finally:
        st.close()
    assert result.skipped == 0 and result.metrics["n_examples"] == 60
    assert result.metrics["ordinal"]["n_examples"] == 60 and result.metrics["ordinal"]["scale"] == 4
    assert (tmp_path / "ev" / "report.html").is_file()


def test_sentiment_training_errors(store, settings):
    records = list(read_records(DATA / "ratings.csv", label_col="rating"))
    import_records(store, "ratings", records, create=True, seed=0)
    cases = [
        ({"scale": 11}, InputError, "E350"),
        ({"scale": 3}, TrainingError, "E351"),
        ({"multi_label": True}, InputError, "E354"),
        ({"base": "en_core_web_sm"}, InputError, "E355"),
    ]
    for options, kind, code in cases:
        with pytest.raises(kind) as exc:
            train(store, settings, "ratings", "r", task="sentiment", **options)
        assert exc.value.code == code, options
    gap = [r for r in records if r.labels != ["3"]]
    import_records(store, "gap", gap, create=True, seed=0)
    with pytest.raises(TrainingError) as exc:
        train(store, settings, "gap", "g", task="sentiment", scale=4)
    assert exc.value.code == "E352" and "score 3" in exc.value.message
    with store.session() as s:
        create_dataset(s, "empty")
    with pytest.raises(TrainingError) as exc:
        train(store, settings, "empty", "e", task="sentiment")
    assert exc.value.code == "E310" and "--lexicon" in exc.value.message
    assert not (settings.models_dir / "r").exists()


def test_sentiment_model_from_another_lexicon_version_is_refused(trained_sentiment, tmp_path):
    src = artifacts.resolve(trained_sentiment.models_dir, "feedback-sentiment")
    dst = tmp_path / "models" / "old" / "v1"
    shutil.copytree(src, dst)
    meta = json.loads((dst / "meta.json").read_text())
    meta["lexicon"] = "vader-0.9"
    (dst / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError) as exc:
        load_predictor(tmp_path / "models", "old")
    assert exc.value.code == "E422" and "vader-0.9" in exc.value.message


def test_sentiment_polarity_values():
    assert list(polarity_values(["negative", "neutral", "positive"])) == [-1.0, 0.0, 1.0]
    assert list(polarity_values(["NEG", "pos"])) == [-1.0, 1.0]
    assert polarity_values(["angry", "happy"]) is None
    assert polarity_values(["neutral", "positive"]) is None


def test_sentiment_train_save_load_identical_predictions(store, settings):
    texts, labels = polarity_corpus(n=10)
    records = [Record(text=t, labels=[lab], split="train") for t, lab in zip(texts, labels, strict=True)]
    import_records(store, "pol", records, create=True, seed=0)
    result = train(store, settings, "pol", "pol", task="sentiment", time_budget=10)
    assert result.metrics is None  # no test split: nothing to evaluate
    predictor = load_predictor(settings.models_dir, "pol")
    probe = ["great lovely parcel", "awful rude driver", "the order app today"]
    fresh = SentimentModel(seed=settings.seed, time_budget=10).fit(texts, labels)
    assert np.allclose(predictor.model.predict_proba(probe), fresh.predict_proba(probe))
    assert [p.sentiment["label"] for p in predictor.predict(probe)] == ["positive", "negative", "neutral"]


@pytest.mark.slow
def test_sentiment_ten_megabyte_document_in_bounded_memory():
    """In a fresh process (so earlier tests' peak memory does not hide this one's): a 10 MB text raises the
    peak resident memory by far less than the text's sentences would take if they were all held at once."""
    import subprocess
    import sys

    code = """
import json, resource
from nlpipe.tasks.sentiment.predictor import lexicon_predictor
predictor = lexicon_predictor()
predictor.predict(["warm up the lexicon. Fine."])
sentence = "The delivery was late, but the support team was lovely and fixed everything. "
text = sentence * (10_000_000 // len(sentence))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
[p] = predictor.predict([text])
print(json.dumps({"grown_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before, **p.sentiment}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=DATA.parent)
    found = json.loads(done.stdout)
    assert found["aggregated"] is True and found["label"] == "positive"
    assert found["grown_kib"] < 5_000  # measured: 0.3 MB; holding all 128,000 sentences and their scores: 21 MB
