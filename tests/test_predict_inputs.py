"""``nlpipe.predict.predict_inputs``: the one path from texts, a stream or a file to predictions (CLI and API)."""

from __future__ import annotations

import io

import pytest

from nlpipe.errors import InputError, LimitError
from nlpipe.predict import load_predictor, predict_inputs, text_lines
from tests.conftest import make_zip

SPORTS = "The striker scored twice as the home side won the cup final"
MARKETS = "Shares fell after the central bank raised interest rates again"


def test_texts_list_and_stream_give_the_predictors_own_predictions(trained) -> None:
    predictor = load_predictor(trained.models_dir, "news")
    expected = [p.to_dict() for p in predictor.predict([SPORTS, MARKETS], top_k=2)]

    run = predict_inputs(predictor, texts=[SPORTS, MARKETS], options={"top_k": 2, "threshold": None})
    assert (run.model, run.version) == (predictor.name, predictor.version)
    assert list(run.rows()) == expected and run.failures == []

    stream = io.StringIO(f"{SPORTS}\n\n   \n{MARKETS}")  # blank lines are left out, line ends cut
    assert list(text_lines(stream)) == [SPORTS, MARKETS]
    streamed = predict_inputs(
        predictor, texts=text_lines(io.StringIO(f"{SPORTS}\n\n{MARKETS}\n")), options={"top_k": 2}
    )
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
