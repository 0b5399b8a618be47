"""``nlpipe.predict.predict_inputs``: the one path from texts, a stream or a file to predictions (CLI and API)."""

from __future__ import annotations

import pytest

from nlpipe.errors import InputError, LimitError
from nlpipe.predict import load_predictor, predict_inputs
from tests.conftest import make_zip

SPORTS = "The striker scored twice as the home side won the cup final"
MARKETS = "Shares fell after the central bank raised interest rates again"


def test_texts_list_and_stream_give_the_predictors_own_predictions(trained) -> None:
    predictor = load_predictor(trained.models_dir, "news")
    expected = [p.to_dict() for p in predictor.predict([SPORTS, MARKETS], top_k=2)]

    run = predict_inputs(predictor, texts=[SPORTS, MARKETS], options={"top_k": 2, "threshold": None})
    assert (run.model, run.version) == (predictor.name, predictor.version)
    assert list(run.rows()) == expected and run.failures == []

    streamed = predict_inputs(predictor, texts=iter([SPORTS, MARKETS]), options={"top_k": 2})  # a stream of texts
    assert list(streamed.rows()) == expected


def test_file_documents_carry_their_source_and_failures(trained, tmp_path) -> None:
    archive = make_zip({"a.txt": SPORTS.encode(), "b.txt": MARKETS.encode(), "bad.pdf": b"%PDF-1.4 broken"})
    loads = []

    def load():
        loads.append(1)
        return load_predictor(trained.models_dir, "news")

    run = predict_inputs(load, file=archive, settings=trained, name="batch.zip")
    assert loads == [1]
    assert [row["source"] for row in run.rows()] == ["batch.zip!a.txt", "batch.zip!b.txt"]
    direct = load_predictor(trained.models_dir, "news").predict([SPORTS, MARKETS])
    assert [row["predicted"] for row in run.rows()] == [p.predicted for p in direct]
    assert [f.source for f in run.failures] == ["batch.zip!bad.pdf"] and run.failures[0].code.startswith("E1")

    with pytest.raises(LimitError) as caught:
        predict_inputs(load, file=archive, settings=trained, name="batch.zip", max_documents=1)
    assert caught.value.code == "E607"


def test_a_missing_file_is_reported_before_the_model_is_loaded(trained, tmp_path) -> None:
    def load():
        raise AssertionError("the model must not be loaded for a file that cannot be read")

    with pytest.raises(InputError) as caught:
        predict_inputs(load, file=tmp_path / "missing.txt", settings=trained)
    assert caught.value.code == "E195"


@pytest.mark.parametrize("given", [{}, {"texts": ["a"], "file": b"a"}])
def test_exactly_one_input(trained, given) -> None:
    with pytest.raises(InputError) as caught:
        predict_inputs(load_predictor(trained.models_dir, "news"), settings=trained, **given)
    assert caught.value.code == "E414"


def test_an_option_the_task_does_not_take_is_refused(trained) -> None:
    with pytest.raises(InputError) as caught:
        predict_inputs(load_predictor(trained.models_dir, "news"), texts=[SPORTS], options={"sentences": True})
    assert caught.value.code == "E415"


def test_a_text_over_the_document_limit_is_refused(trained) -> None:
    """Texts obey NLPIPE_MAX_DOCUMENT_BYTES as files do (E613, in UTF-8 bytes, naming the text's index)."""
    predictor = load_predictor(trained.models_dir, "news")
    small = trained.model_copy(update={"max_document_bytes": 100})
    assert len(predict_inputs(predictor, texts=["ü" * 50], settings=small).predictions) == 1  # 100 bytes: fits
    with pytest.raises(LimitError) as info:
        predict_inputs(predictor, texts=[SPORTS, "ü" * 50 + "x"], settings=small)
    assert info.value.code == "E613" and info.value.details["field"] == "texts[1]"


def test_an_expired_budget_stops_prediction(trained) -> None:
    from nlpipe.readers.budget import WorkBudget, WorkTimeout, active_budget

    predictor = load_predictor(trained.models_dir, "news")
    budget = WorkBudget(timeout=60)
    budget.cancel()
    with active_budget(budget), pytest.raises(WorkTimeout) as info:
        predict_inputs(predictor, texts=[SPORTS, MARKETS], settings=trained)
    assert info.value.code == "E611"
    assert len(predict_inputs(predictor, texts=[SPORTS], settings=trained).predictions) == 1  # no budget: no limit


def test_ocr_stops_between_pages_once_the_budget_is_cancelled(trained, monkeypatch) -> None:
    """The deadline reached during page 1 of 5: page 2 is never OCR'd, and the whole call stops with E611 (not a
    per-file failure)."""
    from nlpipe.readers.budget import WorkBudget, WorkTimeout, active_budget
    from nlpipe.readers.ocr import pages
    from tests.api.test_api_serving import blank_pdf

    budget = WorkBudget(timeout=60)
    calls = []
    real = pages.run_tesseract

    def tesseract_then_deadline(*args, **kwargs):
        calls.append(1)
        budget.cancel()  # as if the deadline passed while this page was read
        return real(*args, **kwargs)

    monkeypatch.setattr(pages, "run_tesseract", tesseract_then_deadline)
    one_worker = trained.model_copy(update={"ocr_workers": 1})
    load = lambda: load_predictor(trained.models_dir, "news")  # noqa: E731
    with active_budget(budget), pytest.raises(WorkTimeout) as info:
        predict_inputs(load, file=blank_pdf(5), settings=one_worker, name="scan.pdf", ocr="always")
    assert info.value.code == "E611" and info.value.details["file"] == "scan.pdf"
    assert calls == [1]


def test_skipped_archive_members_are_listed(trained) -> None:
    archive = make_zip({"a.txt": SPORTS.encode(), ".hidden.txt": MARKETS.encode()})
    load = lambda: load_predictor(trained.models_dir, "news")  # noqa: E731
    run = predict_inputs(load, file=archive, settings=trained, name="batch.zip")
    assert run.sources == ["batch.zip!a.txt"] and run.failures == []
    assert [(s.source, s.code) for s in run.skipped] == [("batch.zip!.hidden.txt", "E191")]
