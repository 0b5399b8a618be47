"""The entity task: features, the CRF pipeline, training from spans and entity lists, evaluation, saving."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
import zlib

import pycrfsuite
import pytest

from nlpipe import artifacts
from nlpipe.errors import ArtifactError, ConfigError, InputError, TrainingError
from nlpipe.evaluate import evaluate_model
from nlpipe.metrics.entities import entity_metrics
from nlpipe.predict import load_predictor
from nlpipe.store.importing import import_records
from nlpipe.tasks.entities import model as entity_model
from nlpipe.tasks.entities.baseline import memorized_baseline
from nlpipe.tasks.entities.clusters import CLUSTER_SIZES, WordClusters
from nlpipe.tasks.entities.crf import FACTORY, doc_tokens, token_sequences, train_crf
from nlpipe.tasks.entities.extractor import FeatureExtractor
from nlpipe.tasks.entities.features import document_features
from nlpipe.tasks.entities.gazetteer import Gazetteer
from nlpipe.tasks.entities.model import EntityRecognizer, read_entity_list, split_long_text
from nlpipe.tasks.entities.tags import bilou_to_spans, spans_to_bilou
from nlpipe.tasks.entities.words import case_stats, norm, short_shape, word_shape
from nlpipe.train import train
from nlpipe.types import Document, Page, Record, Span, Word
from tests.conftest import ROOT, SHARED, entity_records

RECORDS = entity_records()
TEXTS = [r.text for r in RECORDS]
SPANS = [r.spans for r in RECORDS]
QUICK = {"two_pass": False, "max_iterations": 40}  # enough for these sentences; keeps the tests fast


@pytest.fixture(scope="module")
def small_model() -> EntityRecognizer:
    return EntityRecognizer(seed=0).fit(TEXTS[:80], SPANS[:80], TEXTS[80:95], SPANS[80:95])


# ------------------------------------------------------------------------------------------------ features


def test_entity_features_bilou_round_trip():
    spans = [(0, 2, "PER"), (3, 4, "LOC"), (4, 7, "ORG")]
    tags = spans_to_bilou(8, spans)
    assert tags == ["B-PER", "L-PER", "O", "U-LOC", "B-ORG", "I-ORG", "L-ORG", "O"]
    assert bilou_to_spans(tags) == spans


def test_entity_features_bilou_repairs_ill_formed_tags():
    assert bilou_to_spans(["I-PER", "L-PER", "O", "B-ORG", "I-LOC", "O", "B-ORG"]) == [
        (0, 2, "PER"),
        (3, 4, "ORG"),
        (4, 5, "LOC"),
        (6, 7, "ORG"),
    ]


def test_entity_features_shapes():
    assert word_shape("Hamburger") == "Xxxxxxx" and word_shape("1996-08-22") == "dddd-dd-dd"
    assert short_shape("U.S.") == "X.X." and short_shape("McDonald") == "XxXx"


def _decoded(items: list[list[list[bytes]]]) -> list[list[list[str]]]:
    return [[[a.decode() for a in f] for f in sent] for sent in items]


def _tokenised(texts: list[str]) -> list[list[list[str]]]:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return [doc_tokens(doc, token_sequences(doc)) for doc in nlp.pipe(texts)]


def _knowledge(docs: list[list[list[str]]], tags: list[list[list[str]]]) -> tuple[WordClusters, dict, Gazetteer]:
    """Clusters (every other word, and one word with a single id, as a model with one cluster size has), case
    shares and a gazetteer for these documents."""
    sents = [s for d in docs for s in d]
    words = sorted({norm(w) for s in sents for w in s})
    classes = {w: [zlib.crc32(w.encode()) % k for k in CLUSTER_SIZES] for w in words[::2]}
    classes[words[1]] = [7]
    clusters = WordClusters.from_dict({"sizes": list(CLUSTER_SIZES), "classes": classes})
    return clusters, case_stats(sents), Gazetteer().add_spans(docs, tags)


def _assert_fast_features_match(docs, first_pass, clusters, lower_share, gazetteer) -> set[str]:
    """FeatureExtractor against document_features on every document, both passes, with a roomy and a tiny word
    cache, with and without the gazetteer; returns the feature names seen."""
    names: set[str] = set()
    for max_words in (20_000, 3):
        fast = FeatureExtractor(clusters, lower_share, max_words=max_words)
        for doc, tags in zip(docs, first_pass, strict=True):
            for gaz in (gazetteer, None):
                for fp in (None, tags):
                    ref = document_features(doc, clusters=clusters, gazetteer=gaz, lower_share=lower_share,
                                            first_pass=fp)  # fmt: skip
                    assert _decoded(fast(doc, gaz, fp)) == ref
                    names |= {f.split("=", 1)[0] for sent in ref for item in sent for f in item}
    return names


def test_entity_features_fast_extractor_gives_the_reference_features(small_model):
    texts = [" ".join(TEXTS[i : i + 4]) for i in range(0, 60, 4)]
    texts += [
        "ZÜRICH 1996-08-30\nØrsted und Siemens AG ( SIE.DE ) -- naïve U.S.-based 3,250.5 !!! Kestrel Bank",
        "KESTREL BANK SAYS PROFIT UP\nKestrel Bank said kestrel and Kestrel. x\nA",
    ]
    docs = _tokenised(texts)
    crf = small_model.nlp_.get_pipe(FACTORY)
    first_pass = [crf.tag_tokens(doc)[0] for doc in docs]  # tags of a real tagger, as a first pass gives them
    clusters, lower_share, _ = _knowledge(docs, first_pass)
    names = _assert_fast_features_match(docs, first_pass, clusters, lower_share, crf.gazetteer)
    # the test means something only if every kind of feature turned up
    assert {"gaz", "-1:gaz", "1:gaz", "vote", "vote_sh", "caps_sent_lw", "c32", "c128", "-1:c128", "c", "doc_lower",
            "doc_title", "doc_first_sent", "-2:pad", "2:pad", "bi-", "ssbi+"} <= names  # fmt: skip


CONLL = SHARED / "conll2003"


@pytest.mark.skipif(not (CONLL / "eng.testa").is_file(), reason=f"shared CoNLL-2003 corpus not found at {CONLL}")
def test_entity_features_fast_extractor_gives_the_reference_features_on_conll():
    docs: list[list[list[str]]] = []
    tags: list[list[list[str]]] = []
    words: list[str] = []
    iob: list[str] = []
    for line in (CONLL / "eng.testa").read_text(encoding="utf-8").split("\n") + [""]:
        if (line.startswith("-DOCSTART-") or not line.strip()) and words:
            spans, start = [], -1  # IOB1: an entity starts at B- or at an I- of another type than the last tag
            for i, tag in enumerate([*iob, "O"]):
                if start >= 0 and (tag[0] in "OB" or tag[2:] != iob[start]):
                    spans.append((start, i, iob[start][2:]))
                    start = -1
                if tag[0] in "IB" and start < 0:
                    start = i
            docs[-1].append(words)
            tags[-1].append(spans_to_bilou(len(words), spans))
            words, iob = [], []
        if line.startswith("-DOCSTART-"):
            if len(docs) == 40:
                break
            docs.append([])
            tags.append([])
        elif line.strip():
            words.append(line.split(" ")[0])
            iob.append(line.split(" ")[-1])
    assert len(docs) == 40 and sum(len(s) for d in docs for s in d) > 10_000
    clusters, lower_share, gazetteer = _knowledge(docs, tags)
    names = _assert_fast_features_match(docs, tags, clusters, lower_share, gazetteer)
    assert {"gaz", "vote", "caps_sent", "c512", "doc_lower", "doc_title"} <= names


def test_entity_features_fast_extractor_on_every_ascii_character_long_runs_and_unicode():
    # ASCII words take byte-table shapes and norms in FeatureExtractor, other words the per-character functions:
    # every ASCII character (as a word, and inside random words and long runs of one class) and unicode whose case,
    # letter and digit classes are unusual must give the reference strings
    rng = random.Random(1)
    ascii_chars = [chr(i) for i in range(1, 128)]
    runs = ["aaaaaaaaaa", "AAAAAAA", "AAAAAA", "1234567", "123456", "--------", "Aaaaaaaaaa1111111xX", "x" * 40]
    unicode_words = [
        "ZÜRICH", "Ørsted", "naïve", "é", "İstanbul", "Straße", "ǅungla", "Ⅷ", "٣٤٥", "𝐀𝐁𝐂", "😀", "日本語",
        "Ａｂｃ", "ÀÀÀÀÀÀÀÀ", "x²", "ﬁne", "ΣΊΣΥΦΟΣ",
    ]  # fmt: skip
    sentences = [ascii_chars[i : i + 20] for i in range(0, len(ascii_chars), 20)]
    sentences += [["".join(rng.choices(ascii_chars, k=rng.randint(1, 12))) for _ in range(15)] for _ in range(40)]
    sentences += [runs, unicode_words, [w.upper() for w in unicode_words], ["A"], ["a", "b"]]
    docs = [sentences[i : i + 7] for i in range(0, len(sentences), 7)]
    first_pass = [[["U-ORG" if k % 3 == 0 else "O" for k in range(len(s))] for s in doc] for doc in docs]
    clusters, lower_share, gazetteer = _knowledge(docs, first_pass)
    names = _assert_fast_features_match(docs, first_pass, clusters, lower_share, gazetteer)
    assert {"vote", "gaz", "caps_sent", "doc_lower", "doc_title", "c32", "c"} <= names


def test_entity_features_gazetteer_matches_longest_first_like_a_plain_scan():
    rng = random.Random(0)
    vocab = ["New", "York", "City", "Bank", "of", "the", "Kestrel", "Air", "x"]
    gaz = Gazetteer(max_len=4)
    for _ in range(60):
        gaz.add(rng.choices(vocab, k=rng.randint(1, 6)), rng.choice(["LOC", "ORG", "PER"]))

    def scan(g: Gazetteer, sent: list[str]) -> list[str | None]:  # every length at every token, longest first
        out: list[str | None] = [None] * len(sent)
        i = 0
        while i < len(sent):
            step = 1
            for n in range(min(g.max_len, len(sent) - i), 0, -1):
                labels = g.entries_.get(tuple(sent[i : i + n]))
                if labels:
                    top = labels.most_common(1)[0][0]
                    out[i : i + n] = ["B-" + top] + ["I-" + top] * (n - 1)
                    step = n
                    break
            i += step
        return out

    sents = [rng.choices(vocab, k=rng.randint(0, 20)) for _ in range(300)]
    assert any(label is not None for s in sents for label in gaz.matches(s))
    for g in (gaz, Gazetteer.from_dict(gaz.to_dict())):
        assert [g.matches(s) for s in sents] == [scan(g, s) for s in sents]
    gaz.max_len = 2  # entries longer than max_len no longer match
    assert [gaz.matches(s) for s in sents] == [scan(gaz, s) for s in sents]


def test_entity_model_split_long_text_cuts_at_paragraphs_and_keeps_offsets():
    text = ("First paragraph line.\nSecond line here.\n\n" * 50).strip()
    pieces = split_long_text(text, 200)
    assert "".join(p for _, p in pieces) == text
    assert all(len(p) <= 200 for _, p in pieces)
    assert all(text[off : off + len(p)] == p for off, p in pieces)
    assert all(p.endswith("\n\n") for _, p in pieces[:-1])


# ------------------------------------------------------------------------------------------------- the model


def test_entity_model_finds_entities_in_unseen_sentences(small_model):
    [spans] = small_model.predict(["Kestrel Bank said on Friday it would cut 200 jobs in Lisbon."])
    assert [(s.text, s.label) for s in spans] == [("Kestrel Bank", "ORG"), ("Friday", "DATE"), ("Lisbon", "LOC")]
    assert all(0.5 < s.score <= 1.0 and s.source == "model" for s in spans)


def test_entity_model_early_stopping_watches_the_dev_documents(small_model):
    run = small_model.training_["runs"]["first pass"]
    assert run["history"] and run["kept"] <= run["iterations"]
    assert run["history"][run["kept"] - 1] == max(run["history"])
    assert set(small_model.training_["runs"]) == {"first pass", "second pass"}


def test_entity_model_trains_the_same_crf_from_the_fast_items_as_from_the_reference_features(small_model):
    # the model trains on FeatureExtractor's UTF-8 items; a CRF fitted on document_features' strings must come out
    # byte for byte the same (same attributes, same order, so same crfsuite dictionary and weights)
    crf = small_model.nlp_.get_pipe(FACTORY)
    docs = _tokenised([" ".join(TEXTS[i : i + 4]) for i in range(0, 80, 4)])
    tags = [t for doc in docs for t in crf.tag_tokens(doc)[0]]
    knowledge = {"clusters": crf.clusters, "gazetteer": crf.gazetteer, "lower_share": crf.lower_share}
    ref = [x for doc in docs for x in document_features(doc, **knowledge)]
    fast = [x for doc in docs for x in crf.features(doc)]
    assert any(isinstance(a, bytes) for x in fast for f in x for a in f)
    fits = [train_crf(items, tags, dev=None, c1=0.05, c2=0.05, max_iterations=15, patience=5) for items in (ref, fast)]
    assert fits[0][0] == fits[1][0] and len(fits[0][0]) > 1000


def test_entity_model_tags_and_scores_as_from_tagging_the_reference_features(small_model):
    # the recogniser builds its items with FeatureExtractor and sets each sequence once; here the same CRFs tag
    # document_features' items the plain way, and the tags and marginals must come out the same, to the last bit
    crf = small_model.nlp_.get_pipe(FACTORY)
    first, second = pycrfsuite.Tagger(), pycrfsuite.Tagger()
    first.open_inmemory(crf.models[0])
    second.open_inmemory(crf.models[1])
    found = 0
    for doc in _tokenised([" ".join(TEXTS[i : i + 5]) for i in range(95, len(TEXTS), 5)]):
        knowledge = {"clusters": crf.clusters, "gazetteer": crf.gazetteer, "lower_share": crf.lower_share}
        first_tags = [first.tag(x) for x in document_features(doc, **knowledge)]
        items = document_features(doc, **knowledge, first_pass=first_tags)
        tags = [second.tag(x) for x in items]
        probs = []
        for x, t in zip(items, tags, strict=True):
            second.set(x)
            probs.append([None if tag == "O" else second.marginal(tag, i) for i, tag in enumerate(t)])
        assert crf.tag_tokens(doc) == (tags, probs)
        found += sum(len(bilou_to_spans(t)) for t in tags)
    assert found > 20


def test_entity_model_save_load_gives_identical_predictions(small_model, tmp_path):
    small_model.save_artifact(tmp_path)
    assert (tmp_path / "spacy" / "config.cfg").is_file()
    loaded = EntityRecognizer.from_disk(tmp_path / "spacy")
    assert loaded.predict(TEXTS[95:]) == small_model.predict(TEXTS[95:])


def test_entity_model_training_is_reproducible(small_model):
    again = EntityRecognizer(seed=0).fit(TEXTS[:80], SPANS[:80], TEXTS[80:95], SPANS[80:95])
    assert again.nlp_.get_pipe("nlpipe_crf_ner").models == small_model.nlp_.get_pipe("nlpipe_crf_ner").models
    assert again.predict(TEXTS[95:]) == small_model.predict(TEXTS[95:])


def test_entity_model_long_document_is_cut_and_offsets_mapped_back(small_model, monkeypatch):
    monkeypatch.setattr(entity_model, "CHUNK_CHARS", 300)
    text = "\n\n".join(TEXTS[95:115])
    assert len(text) > 1000
    [spans] = small_model.predict([text])
    expected = sum(len(s) for s in small_model.predict(TEXTS[95:115]))
    assert len(spans) == expected and spans
    assert all(text[s.start : s.end] == s.text for s in spans)


def test_entity_model_refuses_unknown_base_and_accepts_a_saved_pipeline(tmp_path):
    import spacy

    with pytest.raises(ConfigError) as exc:
        EntityRecognizer(base="no_such_pipeline_xx").fit(TEXTS[:10], SPANS[:10])
    assert exc.value.code == "E371"
    spacy.blank("en").to_disk(tmp_path / "base")
    model = EntityRecognizer(base=str(tmp_path / "base"), **QUICK).fit(TEXTS[:40], SPANS[:40])
    assert "nlpipe_crf_ner" in model.nlp_.pipe_names and "sentencizer" in model.nlp_.pipe_names


def test_entity_model_needs_spans():
    with pytest.raises(TrainingError) as exc:
        EntityRecognizer().fit(TEXTS[:10], [[] for _ in range(10)])
    assert exc.value.code == "E370"


# -------------------------------------------------------------------------------------------- entity lists


def test_entity_list_reader(tmp_path):
    good = tmp_path / "list.csv"
    good.write_text("Text,Type\nZephyr router,PRODUCT\nGreta Holm,PER\n")
    assert read_entity_list(good) == [("Zephyr router", "PRODUCT"), ("Greta Holm", "PER")]
    bad = tmp_path / "bad.csv"
    bad.write_text("Name,Kind\nx,y\n")
    with pytest.raises(InputError) as exc:
        read_entity_list(bad)
    assert exc.value.code == "E373" and "Text and Type" in exc.value.message
    with pytest.raises(InputError) as exc:
        read_entity_list(tmp_path / "missing.csv")
    assert exc.value.code == "E372"


def test_entity_list_bootstraps_training_without_annotations():
    entries = [("Kestrel Bank", "ORG"), ("Orion Air", "ORG"), ("Lisbon", "LOC"), ("Oslo", "LOC"), ("Madrid", "LOC")]
    bare = [[] for _ in TEXTS[:80]]
    model = EntityRecognizer(entity_list=entries, ruler=None, **QUICK).fit(TEXTS[:80], bare)
    assert model.training_["n_list_spans"] > 20
    [spans] = model.predict(["Kestrel Bank opened a branch in Oslo."])
    assert {(s.text, s.label, s.source) for s in spans} == {("Kestrel Bank", "ORG", "model"), ("Oslo", "LOC", "model")}


@pytest.mark.parametrize("ruler, label, source", [("before", "PRODUCT", "rule"), ("after", "ORG", "model")])
def test_entity_list_runs_before_or_after_the_model(ruler, label, source):
    model = EntityRecognizer(entity_list=[("Orion Air", "PRODUCT")], ruler=ruler, **QUICK)
    model.fit(TEXTS[:80], SPANS[:80])
    names = model.nlp_.pipe_names
    assert (names.index("nlpipe_entity_list") < names.index("nlpipe_crf_ner")) == (ruler == "before")
    [spans] = model.predict(["Orion Air reported a profit of $5 million for the quarter."])
    first = spans[0]
    assert (first.text, first.label, first.source) == ("Orion Air", label, source)


# ---------------------------------------------------------------------------------------------- evaluation


def test_entity_metrics_strict_partial_confusion_and_examples():
    text = "Anna Berg met Tom at Kestrel Bank in Oslo"
    gold = [[Span(0, 9, "PER"), Span(14, 17, "PER"), Span(21, 33, "ORG"), Span(37, 41, "LOC")]]
    pred = [[Span(0, 4, "PER"), Span(14, 17, "PER"), Span(21, 33, "LOC"), Span(37, 41, "LOC"), Span(10, 13, "ORG")]]
    m = entity_metrics(gold, pred, [text])
    assert (m["n_gold"], m["n_predicted"], m["n_correct"]) == (4, 5, 2)
    assert m["micro_precision"] == pytest.approx(2 / 5) and m["micro_recall"] == pytest.approx(2 / 4)
    assert m["per_label"]["PER"] == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2, "predicted": 2, "correct": 1, "partial_f1": 1.0}
    )
    assert m["partial"]["overlap_same_type"]["recall"] == pytest.approx(3 / 4)
    assert m["partial"]["overlap_any_type"]["recall"] == pytest.approx(1.0)
    labels, matrix = m["confusion"]["labels"], m["confusion"]["matrix"]
    assert matrix[labels.index("ORG")][labels.index("LOC")] == 1
    assert matrix[labels.index("(none)")][labels.index("ORG")] == 1
    assert {x["text"] for x in m["missed"]} == {"Anna Berg", "Kestrel Bank"}
    assert [(x["text"], x["label"]) for x in m["spurious"]] == [
        ("Anna", "PER"),
        ("met", "ORG"),
        ("Kestrel Bank", "LOC"),
    ]
    assert m["missed"][0]["context"].startswith("[[Anna Berg]]")


def test_entity_metrics_memorized_baseline():
    base = memorized_baseline(["Kestrel Bank hired Anna Berg"], [[Span(0, 12, "ORG"), Span(19, 28, "PER")]],
                              ["Anna Berg left Kestrel Bank."])  # fmt: skip
    assert [(s.start, s.end, s.label) for s in base[0]] == [(0, 9, "PER"), (15, 27, "ORG")]


# ------------------------------------------------------------------------------ the task (store, artifacts)


def test_entities_train_task_saves_a_self_describing_version(trained_entities):
    path = artifacts.resolve(trained_entities.models_dir, "ents")
    meta = artifacts.read_meta(path)
    import spacy

    assert meta["task"] == "entities" and meta["format"] == "nlpipe.entities.v1"
    assert meta["spacy"]["version"] == spacy.__version__ and "nlpipe_crf_ner" in meta["spacy"]["pipeline"]
    assert (path / "spacy" / "config.cfg").is_file() and (path / "report" / "report.html").is_file()
    assert sorted(meta["labels"]) == ["DATE", "LOC", "MONEY", "ORG", "PER", "PRODUCT"]
    assert meta["training"]["validation"] == "carved from train" and meta["training"]["n_validation"] > 0
    assert meta["metrics"]["micro_f1"] > 0.9
    assert "most frequent type" in meta["baseline"]["method"]
    assert meta["baseline"]["micro_f1"] < meta["metrics"]["micro_f1"]


def test_entities_evaluate_writes_metrics_and_report(trained_entities, tmp_path):
    from nlpipe.store.db import open_store

    st = open_store(trained_entities)
    try:
        result = evaluate_model(st, trained_entities, "ents", "ents", out=tmp_path / "rep")
    finally:
        st.close()
    saved = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert saved["micro_f1"] == result.metrics["micro_f1"] > 0.9
    assert set(saved["partial"]) == {"overlap_same_type", "overlap_any_type", "exact_boundaries_any_type"}
    html = result.report.read_text()
    assert "Missed entities" in html and "Strict (CoNLL)" in html and "Partial F1" in html
    assert "ROC AUC" not in html


def test_entities_predictor_threshold_and_options(trained_entities):
    predictor = load_predictor(trained_entities.models_dir, "ents")
    [pred] = predictor.predict(["Maria Okafor joined Alder Telecom in Dublin."])
    assert {(s.text, s.label) for s in pred.spans} == {
        ("Maria Okafor", "PER"),
        ("Alder Telecom", "ORG"),
        ("Dublin", "LOC"),
    }
    assert pred.to_dict()["spans"][0]["text"] == "Maria Okafor"
    assert predictor.predict(["Maria Okafor joined Alder Telecom in Dublin."], threshold=1.0)[0].spans == []
    with pytest.raises(InputError) as exc:
        predictor.check_options({"top_k": 2})
    assert exc.value.code == "E415"


def test_entities_refuses_a_model_from_another_spacy_version(trained_entities, tmp_path):
    import shutil

    src = artifacts.resolve(trained_entities.models_dir, "ents")
    dst = tmp_path / "ents" / "v1"
    shutil.copytree(src, dst)
    meta = json.loads((dst / "meta.json").read_text())
    meta["spacy"]["version"] = "3.1.0"
    (dst / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError) as exc:
        artifacts.load(dst)
    assert exc.value.code == "E432" and "spacy==3.1.0" in exc.value.message


def test_entities_train_task_refuses_unknown_options_and_empty_data(store, settings):
    import_records(store, "plain", [Record(text=f"Nothing to see {i}.", labels=[]) for i in range(5)], create=True)
    with pytest.raises(InputError) as exc:
        train(store, settings, "plain", "m", task="entities", scale=3)
    assert exc.value.code == "E375"
    with pytest.raises(TrainingError) as exc:
        train(store, settings, "plain", "m", task="entities")
    assert exc.value.code == "E370"


def test_entities_pdf_spans_get_page_and_box(trained_entities):
    from nlpipe.ingest import documents_for_prediction
    from tests.pdfgen import Placed, text_pdf

    pdf = text_pdf(
        [[Placed("Annual report", 72, 72)], [Placed("Maria Okafor joined Alder Telecom in Dublin.", 100, 300)]]
    )
    docs, _ = documents_for_prediction(pdf, trained_entities, name="report.pdf")
    predictor = load_predictor(trained_entities.models_dir, "ents")
    [pred] = predictor.predict_documents(docs)
    person = next(s for s in pred.spans if s.label == "PER")
    assert person.page == 2 and person.text == "Maria Okafor"
    x0, y0, x1, y1 = person.bbox
    assert 99 <= x0 <= 101 and 285 <= y0 < y1 <= 303 and 150 < x1 < 200


def test_entities_place_on_pages_maps_words_to_offsets():
    from nlpipe.tasks.entities.task import place_on_pages

    words = [Word("Total", 10, 10, 40, 20), Word("due", 45, 10, 60, 20), Word("Kestrel", 10, 30, 50, 40),
             Word("Bank", 55, 30, 80, 40)]  # fmt: skip
    page = Page(1, "Total due\nKestrel Bank", words=words)
    doc = Document(text=page.text, pages=[page])
    [span] = place_on_pages(doc, [Span(10, 22, "ORG")])
    assert span.page == 1 and span.bbox == (10, 30, 80, 40)


@pytest.mark.slow
def test_entities_ten_megabyte_document_stays_under_two_gigabytes(tmp_path, small_model):
    small_model.save_artifact(tmp_path)
    code = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from nlpipe.tasks.entities.model import EntityRecognizer
        model = EntityRecognizer.from_disk(__import__("pathlib").Path({str(tmp_path / "spacy")!r}))
        para = "Kestrel Bank said on Friday it would cut 200 jobs in Lisbon. Rain is expected on the weekend.\\n\\n"
        text = para * (10_000_000 // len(para))
        [spans] = model.predict([text])
        # VmHWM: this process's own peak (ru_maxrss would include the RSS of the parent it was forked from)
        peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
        print(len(text), len(spans), peak)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    n_chars, n_spans, rss_kb = (int(x) for x in out)
    assert n_chars > 9_900_000 and n_spans >= 3 * (n_chars // 99)
    assert rss_kb < 2 * 1024 * 1024
