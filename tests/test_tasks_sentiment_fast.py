"""The fast sentiment path (issue 11): VADER scored a batch at a time must give vaderSentiment's own numbers, the
n-gram features built from the token table the vectorizers' own, and the predictors the same predictions.

The comparisons with real texts read the shared corpora (tweets and rt-polarity snippets) in place and are
skipped when they are absent, like the other shared-data tests."""

from __future__ import annotations

import csv
import gc
import random
import re

import numpy as np
import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from nlpipe.tasks.features import CharNgrams, WordNgrams
from nlpipe.tasks.sentiment import sentences as sentence_splitter
from nlpipe.tasks.sentiment.features import NgramBlocks, _PairTable, ngram_blocks
from nlpipe.tasks.sentiment.lexicon import _scorer, lexicon_decision, magnitude, vader_scores
from nlpipe.tasks.sentiment.model import SentimentModel
from nlpipe.tasks.sentiment.predictor import LONG_DOCUMENT_CHARS, lexicon_predictor
from nlpipe.tasks.sentiment.token_table import SHARED, TokenTable, tokenize
from nlpipe.tasks.sentiment.vader import round_like_python
from tests.conftest import SHARED as SHARED_DATA
from tests.test_tasks_sentiment import polarity_corpus

TWEETS = SHARED_DATA / "twitter_airline_sentiment" / "Tweets.csv"
RT = SHARED_DATA / "rt_polarity" / "utf8"
needs_corpora = pytest.mark.skipif(not (TWEETS.is_file() and RT.is_dir()), reason="shared sentiment corpora absent")

ANALYZER = SentimentIntensityAnalyzer()


@pytest.fixture(scope="module")
def polarity_model() -> SentimentModel:
    texts, labels = polarity_corpus()
    return SentimentModel(seed=0, time_budget=20).fit(texts, labels)


def package_scores(texts: list[str]) -> np.ndarray:
    """vaderSentiment's own (neg, neu, pos, compound) per text."""
    return np.array([[d["neg"], d["neu"], d["pos"], d["compound"]] for d in map(ANALYZER.polarity_scores, texts)])


def read_tweets() -> list[str]:
    with open(TWEETS, newline="", encoding="utf-8") as f:
        return [row["text"] for row in csv.DictReader(f)]


def read_rt() -> list[str]:
    out = []
    for name in ("rt-polarity.pos", "rt-polarity.neg"):
        out += [line.strip() for line in (RT / name).read_text(encoding="utf-8").split("\n") if line.strip()]
    return out


def assert_same_scores(texts: list[str], got: np.ndarray) -> None:
    want = package_scores(texts)
    assert got.shape == want.shape
    bad = np.flatnonzero(np.abs(got - want).max(axis=1, initial=0) > 1e-9)
    assert not len(bad), [(texts[i], got[i].tolist(), want[i].tolist()) for i in bad[:5]]


# --------------------------------------------------------------------------------------------------- VADER

TRICKY = [
    "",
    "   ",
    "\n\t ",
    "!!!",
    "?",
    "...",
    ":)",
    ":-( :D",
    "good",
    "The book was good.",
    "The book was not good.",
    "The book isn't good",
    "The book was never so good!",
    "The book was never this good",
    "Without a doubt, an excellent idea.",
    "Without doubt excellent",
    "It is no good",
    "no",
    "No problem at all",
    "no no no",
    "It was not bad nor good, or no good",
    "At least it isn't a horrible book.",
    "It is the least bad option, at the very least",
    "least good",
    "The plot was good, but the characters are uncompelling and the dialog is not great.",
    "good good but good good",
    "bad but bad but bad",
    "but it was great",
    "it was great but",
    "Good, good, good but bad, bad",
    "VADER is VERY SMART, handsome, and FUNNY!!!",
    "VADER IS VERY SMART AND FUNNY",
    "Today SUX!",
    "Today only kinda sux! But I'll get by, lol",
    "The book was only kind of good.",
    "It is sort of good, sort of bad",
    "kind of",
    "kind",
    "That was kind",
    "just enough good",
    "With VADER, sentiment analysis is the shit!",
    "the bomb, that is the bomb",
    "On the other hand, VADER is quite bad ass",
    "yeah right, great",
    "It was the kiss of death for the good plan",
    "a cake to die for, really good",
    "the bus stop was nice",
    "my beating heart is happy",
    "cut the mustard, good",
    "Catch utf-8 emoji such as 💘 and 💋 and 😁",
    "😁",
    "😁😁 good",
    "good😁bad",
    "good 😁 bad",
    "\t😁 nice",
    "line\n😁 nice © ®",
    "Make sure you :) or :D today!",
    "Not bad at all",
    "not BAD at ALL!!!!!!",
    "What?? Really??? So bad????",
    "GREAT GREAT GREAT",
    "great GREAT great",
    "extremely good, barely bad, very very good",
    "VERY good, Very bad, very BAD",
    "I don't love it and don't hate it",
    "ain't nothing good, wasn't terrible",
    "(good) [bad] {nice} \"great\" 'awful'",
    "g00d b@d n1ce",
    "İstanbul ΟΔΟΣ güzel good",
    "good " * 60,
]


def test_vader_equals_the_package_on_tricky_cases():
    assert_same_scores(TRICKY, vader_scores(TRICKY))
    for text in TRICKY:  # one text at a time too (batches of one)
        assert_same_scores([text], vader_scores([text]))


def test_vader_equals_the_package_on_random_texts():
    """Random texts made of the words every rule looks at, in all positions, capitals and punctuation."""
    rng = random.Random(11)
    words = (
        "good bad great love hate awful nice kind doubt no yes fun sux lol ugly happy "
        "very extremely kinda barely sort of kindof just enough really so this least at "
        "not never isn't don't without nor or none nothing cannot "
        "but BUT But the shit bomb yeah right kiss death to die for bus stop beating heart cut mustard ass "
        "GOOD BAD VERY NOT NEVER Good Bad Nice".split()
    )
    marks = ["", "", "", "!", "!!", "?", "??", ",", ".", ")", ":)", "😁", "💘"]
    texts = []
    for _ in range(3000):
        toks = [rng.choice(words) + rng.choice(marks) for _ in range(rng.randint(0, 18))]
        sep = rng.choice([" ", " ", "  ", "\t", "\n"])
        texts.append(sep.join(toks) + rng.choice(["", "!", "!!!!!!", "?", "???"]))
    assert_same_scores(texts, vader_scores(texts))
    for b in range(0, len(texts), 97):  # other batch boundaries, tokens shared with the n-gram features
        part = texts[b : b + 97]
        assert_same_scores(part, vader_scores(part, tokenize(part)))


@needs_corpora
def test_vader_equals_the_package_on_real_tweets_and_reviews():
    texts = read_tweets()[::2] + read_rt()[::3]  # 11,000 texts
    assert len(texts) > 10_000
    assert_same_scores(texts, vader_scores(texts))


def test_vader_token_table_starting_over_changes_nothing():
    """A table that fills up starts over (a new generation): scores stay the package's."""
    rng = random.Random(3)
    texts = [" ".join(f"w{rng.randint(0, 500)}" + rng.choice(["", " good", " bad", " not great"]) for _ in range(6))
             for _ in range(400)]  # fmt: skip
    table = TokenTable(max_tokens=60)
    scorer = _scorer()
    generations = set()
    for b in range(0, len(texts), 40):
        part = texts[b : b + 40]
        tokens = tokenize(part, table)
        generations.add(tokens.generation)
        assert_same_scores(part, scorer.scores_many(part, tokens))
    assert len(generations) > 3  # it did start over, several times


def test_round_like_python_matches_round():
    rng = np.random.default_rng(0)
    for digits in (3, 4, 6):
        ties = (np.arange(-3000, 3000) + 0.5) / 10**digits  # decimal ties, as close as floats get to them
        values = np.concatenate([rng.random(20_000) * 2 - 1, ties, ties + 1e-17, np.nextafter(ties, 2), [0.0, -0.0]])
        want = np.array([round(float(v), digits) for v in values])
        assert np.array_equal(round_like_python(values, digits), want)


# ------------------------------------------------------------------------------------------ lexicon model


def lexicon_dict(text: str) -> dict:
    """The lexicon model's sentiment of a short text, from the package's own scores as the predictor had it."""
    d = ANALYZER.polarity_scores(text)
    label, confidence = lexicon_decision(d["compound"])
    mag = magnitude(np.array([d["neg"], d["neu"], d["pos"], d["compound"]]))[0]
    return {"kind": "lexicon", "label": label, "score": round(d["compound"], 6), "confidence": round(confidence, 6),
            "magnitude": round(float(mag), 6), "aggregated": False}  # fmt: skip


def test_lexicon_predictor_outputs_equal_the_package_rule():
    texts = TRICKY + ["I love the new app. The delivery was awful.", "Great food, terrible service"]
    preds = lexicon_predictor().predict(texts)
    for text, p in zip(texts, preds, strict=True):
        assert p.sentiment == lexicon_dict(text)
        assert p.predicted == [p.sentiment["label"]]
        assert [(ls.label, ls.score) for ls in p.labels] == [(p.sentiment["label"], lexicon_decision(
            ANALYZER.polarity_scores(text)["compound"])[1])]  # fmt: skip


@needs_corpora
def test_lexicon_predictor_outputs_equal_the_package_rule_on_tweets():
    texts = read_tweets()[:3000]
    for text, p in zip(texts, lexicon_predictor().predict(texts), strict=True):
        assert p.sentiment == lexicon_dict(text)


# ------------------------------------------------------------------------------------------- n-gram blocks


def canonical(m):
    m = m.tocsr().astype(np.float64)
    m.sum_duplicates()
    m.sort_indices()
    return m


def check_blocks(
    word: WordNgrams, char: CharNgrams, texts: list[str], table: TokenTable | None = None, batch: int = 700
) -> None:
    """Counts, TF-IDF blocks and scores a batch at a time (tokens looked up in ``table``, else the shared one); the
    same weights for every batch, so the per-token projections grow batch by batch (and start over with the
    table)."""
    blocks = NgramBlocks(word, char)
    weights = np.random.default_rng(0).normal(size=(word.idf_.size + char.idf_.size, 3))
    for b in range(0, len(texts), batch):
        part = texts[b : b + batch]
        tokens = tokenize(part) if table is None else tokenize(part, table)
        for vec, got in zip((word, char), blocks.counts(part, tokens), strict=True):
            want = canonical(vec._counts(part, vec.vocabulary_, grow=False))
            got = canonical(got)
            assert np.array_equal(got.indptr, want.indptr) and np.array_equal(got.indices, want.indices)
            assert np.array_equal(got.data, want.data)  # the counts themselves are exact
        for vec, got in zip((word, char), blocks.transform(part, tokens), strict=True):
            want, got = canonical(vec.transform(part)), canonical(got)  # columns in any order within a row
            assert np.array_equal(got.indices, want.indices) and np.array_equal(got.indptr, want.indptr)
            assert np.allclose(got.data, want.data, rtol=1e-12, atol=0)
        want = np.asarray(word.transform(part) @ weights[: word.idf_.size]) + np.asarray(
            char.transform(part) @ weights[word.idf_.size :]
        )
        assert np.allclose(blocks.scores(part, tokens, weights), want, rtol=1e-12, atol=1e-14)
    other = weights[:, ::-1].copy()  # another model's weights: projections of their own
    assert np.allclose(blocks.scores(part, tokens, other), want[:, ::-1], rtol=1e-12, atol=1e-14)
    assert np.allclose(blocks.scores(part, tokens, weights), want, rtol=1e-12, atol=1e-14)


def test_ngram_blocks_equal_the_vectorizers():
    texts, _ = polarity_corpus(40)
    odd = ["", "   ", "a", "Hello World hello", "x y z", "İstanbul ΟΔΟΣ ΟΔΟΣ güzel", "don't stop-me now!!", "\t\n",
           "a , b , , c a b", "good good good", "self-driving self-driving", "great lovely, parcel. app!"]  # fmt: skip
    word = WordNgrams(ngram_range=(1, 2), min_df=1)
    char = CharNgrams(ngram_range=(2, 5), min_df=2)
    word.fit(texts[::2])
    char.fit(texts[::2])
    check_blocks(word, char, texts + odd)
    for rng in ((1, 1), (2, 2)):  # the other n-gram ranges it takes
        w = WordNgrams(ngram_range=rng, min_df=1).fit(texts[::2])
        check_blocks(w, char, texts + odd)


def test_pair_table_equals_a_dict():
    rng = np.random.default_rng(4)
    for n in (0, 1, 7, 5000):
        keys = rng.choice(10**12, size=n, replace=False).astype(np.int64)
        keys[: n // 2] = np.arange(n // 2) * 1024  # regular keys collide more under weak hashes
        values = rng.integers(0, 10**6, size=n)
        table = _PairTable(keys, values)
        want = dict(zip(keys.tolist(), values.tolist(), strict=True))
        queries = np.concatenate([keys, rng.integers(0, 10**12, size=3000), keys[::3] + 1]).astype(np.int64)
        assert table.get(queries).tolist() == [want.get(q, -1) for q in queries.tolist()]


def test_ngram_blocks_token_table_starting_over_changes_nothing():
    texts, _ = polarity_corpus(40)
    word = WordNgrams(ngram_range=(1, 2), min_df=1).fit(texts[::2])
    char = CharNgrams(ngram_range=(2, 5), min_df=2).fit(texts[::2])
    table = TokenTable(max_tokens=45)  # the corpus has 73 distinct tokens
    check_blocks(word, char, texts * 2, table, batch=10)
    assert table.generation > 2


@needs_corpora
def test_ngram_blocks_equal_the_vectorizers_on_tweets_and_reviews():
    tweets, reviews = read_tweets(), read_rt()
    word = WordNgrams(ngram_range=(1, 2), min_df=1).fit(tweets[::3])
    char = CharNgrams(ngram_range=(2, 5), min_df=2).fit(tweets[::3])
    check_blocks(word, char, tweets[1::4] + reviews[::4])


def reference_proba(model: SentimentModel, texts: list[str]) -> np.ndarray:
    """Probabilities through the full feature matrix (the vectorizers' transform, as before the fast path)."""
    S = np.asarray(model._features(texts, None) @ model.coef_.T) + model.intercept_
    return model._proba(S, model.calibration_scale_, model.calibration_bias_)


def test_model_probabilities_equal_the_feature_matrix_path(polarity_model):
    texts, _ = polarity_corpus(30, seed=5)
    texts += ["", "rude rude rude", "The new app is GREAT!!! but the driver was rude 😁"]
    got, want = polarity_model.predict_proba(texts), reference_proba(polarity_model, texts)
    assert np.allclose(got, want, rtol=1e-12, atol=1e-14)
    assert np.array_equal(got.argmax(axis=1), want.argmax(axis=1))
    assert ngram_blocks(*polarity_model.vectorizers_) is ngram_blocks(*polarity_model.vectorizers_)  # kept


def test_prepare_builds_the_tables_a_prediction_uses(polarity_model):
    import copy

    from nlpipe.tasks.sentiment import features as sentiment_features

    model = copy.deepcopy(polarity_model)
    assert model.vectorizers_[1] not in sentiment_features._BLOCKS
    assert model.prepare() is model
    blocks = sentiment_features._BLOCKS[model.vectorizers_[1]]
    texts, _ = polarity_corpus(10, seed=9)
    assert np.array_equal(model.predict_proba(texts), polarity_model.predict_proba(texts))
    assert sentiment_features._BLOCKS[model.vectorizers_[1]] is blocks  # the one prediction used


def test_warm_blocks_score_alike():
    """Training words' data computed ahead (warm) gives the same counts and scores as computed on demand."""
    texts, _ = polarity_corpus(40)
    word = WordNgrams(ngram_range=(1, 2), min_df=1).fit(texts[::2])
    char = CharNgrams(ngram_range=(2, 5), min_df=2).fit(texts[::2])
    weights = np.random.default_rng(1).normal(size=(word.idf_.size + char.idf_.size, 3))
    table = TokenTable(max_tokens=1000)
    warm = NgramBlocks(word, char)
    assert warm.warm(weights, table) == len(char.word_index_) > 0
    cold = NgramBlocks(word, char)
    part = texts[1::2] + ["Great app", "the the the"]
    for a, b in zip(warm.counts(part, tokenize(part, table)), cold.counts(part, tokenize(part)), strict=True):
        assert (canonical(a) != canonical(b)).nnz == 0
    got = warm.scores(part, tokenize(part, table), weights)
    assert np.allclose(got, cold.scores(part, tokenize(part), weights), rtol=1e-12, atol=1e-14)
    assert NgramBlocks(word, char).warm(weights, TokenTable(max_tokens=10)) == 0  # would fill the table: skipped


def test_ngram_blocks_go_with_their_model(polarity_model):
    import copy
    import weakref

    from nlpipe.tasks.sentiment import features as sentiment_features

    model = copy.deepcopy(polarity_model).prepare()
    model.predict(["good fun", "awful"])
    char = weakref.ref(model.vectorizers_[1])
    assert char() in sentiment_features._BLOCKS
    del model
    gc.collect()
    assert char() is None  # the tables kept for prediction did not keep the model alive


@needs_corpora
def test_model_probabilities_equal_the_feature_matrix_path_on_tweets():
    tweets = read_tweets()
    with open(TWEETS, newline="", encoding="utf-8") as f:
        labels = [row["airline_sentiment"] for row in csv.DictReader(f)]
    model = SentimentModel(seed=0, time_budget=60).fit(tweets[::4], labels[::4])
    texts = tweets[1::4] + read_rt()[::10]
    got, want = model.predict_proba(texts), reference_proba(model, texts)
    assert np.allclose(got, want, rtol=1e-12, atol=1e-14)
    assert np.array_equal(got.argmax(axis=1), want.argmax(axis=1))


# ---------------------------------------------------------------------------------------------- predictors


def test_predictor_leaves_the_garbage_collector_as_it_found_it():
    predictor = lexicon_predictor()
    assert gc.isenabled()
    predictor.predict(["fine", "bad"] * 10)
    assert gc.isenabled()
    gc.disable()
    try:
        predictor.predict(["fine", "bad"] * 10)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_predictor_repeated_texts_and_sentences_score_alike(polarity_model):
    from pathlib import Path

    from nlpipe.artifacts import LoadedModel
    from nlpipe.tasks.sentiment.lexicon import lexicon_version
    from nlpipe.tasks.sentiment.predictor import SentimentPredictor as Predictor

    meta = {"name": "m", "version": "v1", "task": "sentiment", "kind": "categorical", "scale": None,
            "lexicon": lexicon_version(), "labels": list(polarity_model.labels_)}  # fmt: skip
    model = Predictor(LoadedModel(path=Path("."), meta=meta, model=polarity_model))
    texts = ["great lovely app. awful rude driver!", "great lovely app.", "awful rude driver!", "the plan", "the plan"]
    for predictor in (model, lexicon_predictor()):
        with_sentences = predictor.predict(texts, sentences=True, batch_size=2)
        alone = predictor.predict(texts, batch_size=3)
        assert [p.to_dict()["sentiment"] for p in alone] == [
            {k: v for k, v in p.to_dict()["sentiment"].items() if k != "sentences"} for p in with_sentences
        ]
        assert alone[3].to_dict() == alone[4].to_dict()
        first = with_sentences[0].sentiment["sentences"]
        for sentence, whole in zip(first, alone[1:3], strict=True):  # a sentence scores as the same text alone
            described = {k: v for k, v in sentence.items() if k not in ("start", "end")}
            assert described == {k: v for k, v in whole.sentiment.items() if k in described}


def test_long_document_mean_is_the_sentence_by_sentence_sum():
    """The length-weighted mean is added up a batch at a time (cumsum), as the sentences one by one would."""
    predictor = lexicon_predictor()
    rng = random.Random(5)
    pieces = ["The parcel was late and support was rude.", "The new app is brilliant and I love it!",
              "It arrived on Tuesday.", "Not bad, but not great either?", "Wonderful!!!"]  # fmt: skip
    text = " ".join(rng.choice(pieces) for _ in range(900))
    assert len(text) > LONG_DOCUMENT_CHARS
    [p] = predictor.predict([text], batch_size=64)
    spans = list(sentence_splitter.iter_sentences(text))
    rows = vader_scores([s for *_, s in spans])
    total, weight = None, 0
    for (start, end, _), row in zip(spans, rows, strict=True):
        total = row * (end - start) if total is None else total + row * (end - start)
        weight += end - start
    mean = total / weight
    assert p.sentiment["aggregated"] is True
    assert p.sentiment["score"] == round(float(mean[3]), 6)
    assert p.sentiment["magnitude"] == round(float(magnitude(mean)[0]), 6)


def test_shared_token_table_is_bounded():
    assert SHARED.max_tokens <= 100_000
    before = SHARED.generation
    SHARED.clear()
    assert len(SHARED) == 0 and SHARED.generation == before + 1
    assert_same_scores(["still fine, not bad"], vader_scores(["still fine, not bad"]))


# ----------------------------------------------------------------------------------------------- sentences

_WORD_BEFORE = re.compile(r"([\w.]+)$")


def reference_is_boundary(text: str, match: re.Match[str]) -> bool:
    """The splitter's abbreviation rule as first written (a ``$``-anchored search of the 40 characters before)."""
    punct = match.group(0)
    if punct[0] != "." or len(punct.rstrip("'\"”’»)]}")) > 1:
        return True
    found = _WORD_BEFORE.search(text, max(0, match.start() - 40), match.start())
    if found is None:
        return True
    word = found.group(1).lower().strip(".")
    if len(word) == 1 and word.isalpha():
        return False
    if word.replace(".", "") in sentence_splitter._ABBREVIATIONS or re.fullmatch(r"(?:[a-z]\.)+[a-z]", word):
        return False
    if word == "no":
        rest = text[match.end() : match.end() + 3].lstrip()
        return not rest[:1].isdigit()
    return True


def test_sentence_boundaries_equal_the_first_rule():
    rng = random.Random(7)
    alphabet = list("ab. \n\t.!?e5_é") + ["Mr", "e.g", "etc", "no", "No", "J", "\n\n", " ", "...", "x" * 45]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 150))) for _ in range(5000)]
    checked = 0
    for text in texts:
        for m in sentence_splitter._BOUNDARY.finditer(text):
            if m.group(0)[0] != "\n":
                checked += 1
                assert sentence_splitter._is_boundary(text, m) == reference_is_boundary(text, m), repr(text)
    assert checked > 10_000


@pytest.mark.slow
def test_trained_model_long_documents_in_bounded_memory():
    """In a fresh process: a trained model reads a 2 MB and a 10 MB document of 300,000 distinct made-up words (the
    token table fills and starts over again and again); peak memory grows by the bounded per-token tables, the
    same for both sizes, not with the document."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    code = """
import json, random, resource, sys
from pathlib import Path
from nlpipe.artifacts import LoadedModel
from nlpipe.tasks.sentiment.lexicon import lexicon_version
from nlpipe.tasks.sentiment.predictor import SentimentPredictor as Predictor
from nlpipe.tasks.sentiment.model import SentimentModel
from tests.test_tasks_sentiment import polarity_corpus

texts, labels = polarity_corpus()
model = SentimentModel(seed=0, time_budget=20).fit(texts, labels)
meta = {"name": "m", "version": "v1", "task": "sentiment", "kind": "categorical", "scale": None,
        "lexicon": lexicon_version(), "labels": list(model.labels_)}
predictor = Predictor(LoadedModel(path=Path("."), meta=meta, model=model))
predictor.predict(["warm up. Fine."])
rng = random.Random(0)
words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(300_000)]
words += ["good", "bad", "great", "awful", "not"] * 1000
out = {}
for size in (2_000_000, 10_000_000):
    parts, n = [], 0
    while n < size:
        parts.append(" ".join(rng.choice(words) for _ in range(rng.randint(5, 20))) + ". ")
        n += len(parts[-1])
    text = "".join(parts)
    del parts
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    [p] = predictor.predict([text])
    out[size] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert p.sentiment["aggregated"] is True
    del text
print(json.dumps(out))
"""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    grown = json.loads(done.stdout)
    # measured: about 60 MB for the 2 MB document (the token table's 100,000 tokens and their n-grams), nothing
    # more for the 10 MB one (the 10 MB text's 128,000 sentences and their n-grams held at once: far more)
    assert grown["2000000"] < 150_000
    assert grown["10000000"] < 20_000
