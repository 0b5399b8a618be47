from __future__ import annotations

import json

import numpy as np
import pytest

from nlpipe.errors import InputError, TrainingError
from nlpipe.predict import load_predictor
from nlpipe.store.datasets import LabeledData
from nlpipe.store.importing import import_records
from nlpipe.tasks.data import data_checks
from nlpipe.train import train
from nlpipe.types import Record
from tests.conftest import news_records


def _data(texts, labels, split="train") -> LabeledData:
    return LabeledData(list(range(len(texts))), texts, labels, [split] * len(texts), [None] * len(texts))


def test_train_saves_a_self_describing_version(trained):
    meta = json.loads((trained.models_dir / "news" / "v1" / "meta.json").read_text())
    assert meta["task"] == "classify" and meta["format"] == "nlpipe.classify.v1"
    assert sorted(meta["labels"]) == ["business", "politics", "science", "sports"]
    assert meta["training"]["n_train"] == 192 and meta["training"]["n_test"] == 48
    assert len(meta["training"]["fingerprint"]) == 64
    assert {"nlpipe", "scikit-learn", "numpy", "skops", "python"} <= set(meta["versions"])
    assert meta["metrics"]["accuracy"] > meta["baseline"]["accuracy"]
    assert (trained.models_dir / "news" / "v1" / "report" / "report.html").is_file()


def test_train_overfit_save_load_identical_predictions(settings, store):
    """Train on a few examples -> save -> load -> identical predictions (spaCy's test_overfitting_IO).

    The metrics train() computes with the in-memory model must equal those of the model loaded from disk.
    """
    from nlpipe.evaluate import evaluate_model

    recs = news_records()[:80]
    import_records(store, "small", recs, create=True)
    result = train(store, settings, "small", "small", time_budget=10)
    reloaded = evaluate_model(store, settings, "small", "small", split="test")
    assert reloaded.metrics == result.metrics
    preds = load_predictor(settings.models_dir, "small").predict([r.text for r in recs[:20]])
    right = sum(p.predicted == r.labels for p, r in zip(preds, recs[:20], strict=True))
    assert right >= 18  # it fits the examples it was trained on (most of the first 20 are in train)


def test_train_is_reproducible(tmp_path):
    from nlpipe.store.db import open_store
    from tests.conftest import make_settings

    probs = []
    for run in range(2):
        cfg = make_settings(tmp_path / str(run))
        st = open_store(cfg)
        import_records(st, "news", news_records(), create=True, seed=1)
        result = train(st, cfg, "news", "m", time_budget=20, seed=1)
        probs.append((result.metrics, load_predictor(cfg.models_dir, "m").model.predict_proba(["a match", "a vote"])))
        st.close()
    assert probs[0][0] == probs[1][0]
    np.testing.assert_array_equal(probs[0][1], probs[1][1])


def test_train_never_sees_the_test_split(tmp_path):
    """Changing the test split's labels changes nothing about the fitted model."""
    from nlpipe.store.db import open_store
    from tests.conftest import make_settings

    recs = news_records()
    outputs = []
    for run, flip in enumerate((False, True)):
        cfg = make_settings(tmp_path / str(run))
        st = open_store(cfg)
        changed = [
            Record(r.text, ["sports"] if flip and i % 5 == 0 else r.labels, split="test" if i % 5 == 0 else "train")
            for i, r in enumerate(recs)
        ]
        import_records(st, "news", changed, create=True)
        train(st, cfg, "news", "m", time_budget=20)
        outputs.append(load_predictor(cfg.models_dir, "m").model.predict_proba([r.text for r in recs[:30]]))
        st.close()
    np.testing.assert_array_equal(outputs[0], outputs[1])


def test_train_multilabel_learns_thresholds(settings, store):
    from nlpipe.label.formats import read_records
    from tests.conftest import DATA

    import_records(store, "fb", read_records(DATA / "feedback.csv", label_col="labels", label_sep="|"), create=True)
    result = train(store, settings, "fb", "fb", time_budget=20)
    p = load_predictor(settings.models_dir, "fb")
    assert p.multi_label is True and len(p.thresholds) == 5
    assert "hamming_loss" in result.metrics and "subset_accuracy" in result.metrics
    assert result.metrics["micro_f1"] > result.metrics["baseline"]["micro_f1"]


def test_train_checks_warn_about_small_imbalanced_and_leaky_data():
    texts = [f"text {i}" for i in range(1015)]
    labels = [["big"]] * 1010 + [["small"]] * 5
    test = _data(["TEXT  0", "other"], [["big"], ["unseen"]], "test")
    codes = {c.code for c in data_checks(_data(texts, labels), test, multi_label=False)}
    assert codes == {"W301", "W302", "W303", "W304"}


def test_train_checks_errors():
    empty = _data([], [])
    assert data_checks(empty, empty, multi_label=False)[0].code == "E310"
    one = _data(["a", "b"], [["x"], ["x"]])
    assert data_checks(one, empty, multi_label=False)[0].code == "E311"
    multi = _data(["a", "b"], [["x", "y"], ["y"]])
    assert [c.code for c in data_checks(multi, empty, multi_label=False) if c.level == "error"] == ["E312"]
    assert not [c for c in data_checks(multi, empty, multi_label=True) if c.level == "error"]


def test_train_refuses_single_label_training_on_multilabel_data(settings, store):
    recs = [Record(f"text {i}", ["a", "b"] if i % 3 == 0 else ["a" if i % 2 else "b"]) for i in range(40)]
    import_records(store, "d", recs, create=True)
    with pytest.raises(TrainingError) as exc:
        train(store, settings, "d", "m", multi_label=False)
    assert exc.value.code == "E312" and "--multi-label" in exc.value.message


def test_train_refuses_one_label(settings, store):
    import_records(store, "d", [Record(f"text {i}", ["a"]) for i in range(30)], create=True)
    with pytest.raises(TrainingError) as exc:
        train(store, settings, "d", "m")
    assert exc.value.code == "E311"


def test_train_bad_parameters(settings, store):
    import_records(store, "d", news_records()[:40], create=True)
    with pytest.raises(InputError) as exc:
        train(store, settings, "d", "m", task="summarise")
    assert exc.value.code == "E313"
    with pytest.raises(InputError) as exc:
        train(store, settings, "d", "m", time_budget=0)
    assert exc.value.code == "E314"


def test_train_refuses_options_of_other_tasks(store, settings):
    import_records(store, "opts", news_records()[:40], create=True)
    with pytest.raises(InputError) as exc:
        train(store, settings, "opts", "m", scale=4)
    assert exc.value.code == "E315" and "scale" in exc.value.message
    with pytest.raises(InputError) as exc:
        train(store, settings, "opts", "m", task="nope")
    assert exc.value.code == "E313"


def test_train_streams_large_datasets_and_matches_the_in_memory_fingerprint(settings, store, monkeypatch):
    """Above STREAM_ABOVE documents, classify training reads the train split from the store a batch at a time
    (hashed features, texts dropped batch by batch) and records the same data fingerprint as loading it whole."""
    import weakref

    import nlpipe.store.stream as stream_module
    import nlpipe.tasks.classify.task as train_module

    recs = news_records()
    repeat = "Parliament passed the budget after a long debate on taxes"
    recs += [Record(text=repeat, labels=["politics"], split="test"), Record(text=repeat.upper(), labels=["politics"])]
    import_records(store, "big", recs, create=True, seed=3)
    whole = train(store, settings, "big", "whole", time_budget=20)
    assert whole.checks and not json.loads((whole.path / "meta.json").read_text())["training"]["streamed"]

    alive: list[weakref.ref] = []
    real_iter = stream_module.iter_split

    class Texts(list):
        pass

    def watched(*args, **kwargs):
        for part in real_iter(*args, batch_size=50, **{k: v for k, v in kwargs.items() if k != "batch_size"}):
            if kwargs.get("with_texts", True):
                part.texts = Texts(part.texts)
                alive.append(weakref.ref(part.texts))
                assert all(r() is None for r in alive[:-2]), "earlier batches' texts are still held"
            yield part

    monkeypatch.setattr(train_module, "STREAM_ABOVE", 10)
    monkeypatch.setattr(train_module, "iter_split", watched)
    result = train(store, settings, "big", "streamed", time_budget=20)
    meta = json.loads((result.path / "meta.json").read_text())
    assert meta["training"]["streamed"] and meta["training"]["strategy"] == "hashed"
    assert (
        meta["training"]["fingerprint"] == json.loads((whole.path / "meta.json").read_text())["training"]["fingerprint"]
    )
    assert meta["training"]["n_train"] == whole_n_train(whole) and len(alive) >= 4
    assert [c.code for c in result.checks] == [c.code for c in whole.checks]  # W303 found while streaming too
    assert result.metrics["accuracy"] > 0.8
    preds = load_predictor(settings.models_dir, "streamed").predict(["The striker scored twice in the cup final"])
    assert preds[0].predicted == ["sports"]


def whole_n_train(result) -> int:
    return json.loads((result.path / "meta.json").read_text())["training"]["n_train"]
