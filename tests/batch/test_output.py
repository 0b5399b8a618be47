"""The output side of `nlpipe batch predict`: canonical rows built from real predictions, the spool's JSON Lines,
its conversion to JSON Lines, CSV and Parquet (columns, types, byte-identical, atomic, streamed) and the summary."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nlpipe.batch import output, parquet
from nlpipe.batch.output import (
    MODEL_KEYS,
    ROW_KEYS,
    SENTIMENT_KEYS,
    SPAN_KEYS,
    ModelInfo,
    Summary,
    check_output,
    convert,
    csv_columns,
    document_row,
    error_row,
    part_path,
    read_rows,
    row_bytes,
)
from nlpipe.batch.units import Unit
from nlpipe.errors import NlpipeError
from nlpipe.tasks.base import LoadedModel
from nlpipe.tasks.classify.task import ClassifyPredictor
from nlpipe.tasks.entities.task import EntityPredictor
from nlpipe.tasks.sentiment.predictor import lexicon_predictor
from nlpipe.types import Document, Page, Prediction, Span, Word

LABELS = ["sport", "politics", "tech"]
TEXTS = ["Ada Lovelace met Charles Babbage in London.", "Héllo wörld — naïve café ☕", "awful rude driver, never again"]
TOPICS = ModelInfo("topics", "v3", "classify")
TAGS = ModelInfo("tags", "2", "classify")
MOOD = ModelInfo("mood", "vader-3.3.2", "sentiment")
ENTS = ModelInfo("ents", "v1", "entities")
MODELS = [TOPICS, TAGS, MOOD, ENTS]


class FixedProba:
    """A classifier's model whose probabilities are fixed per text (the predictor does the rest)."""

    def __init__(self, rows: list[list[float]]) -> None:
        self.rows = rows

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return np.array([self.rows[i % len(self.rows)] for i in range(len(texts))])


class WordSpans:
    """An entity model finding capitalised words, spans built as EntityRecognizer.predict builds them."""

    def predict(self, texts: list[str]) -> list[list[Span]]:
        out = []
        for text in texts:
            spans, pos = [], 0
            for word in text.split():
                start = text.index(word, pos)
                pos = start + len(word)
                if word[:1].isupper():
                    label = "PER" if word in ("Ada", "Charles") else "LOC"
                    spans.append(Span(start, pos, label, source="model", score=0.8731234567, text=text[start:pos]))
            out.append(spans)
        return out


def predictors() -> dict[str, Any]:
    def loaded(info: ModelInfo, model: Any, **meta: Any) -> LoadedModel:
        return LoadedModel(Path("."), {"name": info.name, "version": info.version, "task": info.task, **meta}, model)

    return {
        "topics": ClassifyPredictor(loaded(TOPICS, FixedProba([[0.1234567891, 0.7, 0.1765432109]]), labels=LABELS)),
        "tags": ClassifyPredictor(
            loaded(TAGS, FixedProba([[0.61, 0.55, 0.05]]), labels=LABELS, multi_label=True, thresholds=[0.5, 0.5, 0.5])
        ),
        "mood": lexicon_predictor(),
        "ents": EntityPredictor(loaded(ENTS, WordSpans(), labels=["PER", "LOC"])),
    }


def pdf_like(text: str) -> Document:
    """A one-page document whose words carry boxes, so entity spans get their page and box."""
    words, pos = [], 0
    for i, word in enumerate(text.split()):
        pos = text.index(word, pos) + len(word)
        words.append(Word(word, 10.0 * i, 20.0, 10.0 * i + 8.5, 31.25))
    return Document(text=text, pages=[Page(1, text, words=words)])


def results_for(text: str, *, pages: bool = False) -> dict[str, tuple[ModelInfo, Prediction]]:
    found = predictors()
    out = {}
    for info in MODELS:
        predictor = found[info.name]
        [prediction] = predictor.predict_documents([pdf_like(text)]) if pages else predictor.predict([text])
        out[info.name] = (info, prediction)
    return out


def unit(i: int, **meta: Any) -> Unit:
    return Unit(id=f"news.zip!{i:03}.txt", source="news.zip", kind="bytes", data=b"x", meta=meta)


def write_spool(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(row_bytes(r) for r in rows))
    return path


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    out = [document_row(unit(i, line=i + 1), text, None, results_for(text)) for i, text in enumerate(TEXTS)]
    out.append(document_row(unit(3), TEXTS[0], 1, results_for(TEXTS[0], pages=True)))
    out.append(error_row(unit(4), "E176", "news.zip!004.txt is empty (0 bytes)"))
    return out


# ------------------------------------------------------------------------------------------------- rows


def test_output_row_classification_single_and_multi_label(rows):
    row = rows[0]
    assert tuple(row) == ROW_KEYS
    assert row["sha256"] == hashlib.sha256(TEXTS[0].encode()).hexdigest()
    assert (row["characters"], row["pages"], row["meta"], row["error"]) == (len(TEXTS[0]), None, {"line": 1}, None)
    assert list(row["predictions"]) == ["topics", "tags", "mood", "ents"]
    topics, tags = row["predictions"]["topics"], row["predictions"]["tags"]
    assert tuple(topics) == MODEL_KEYS
    assert topics["model"] == "topics@v3" and topics["task"] == "classify"
    assert topics["predicted"] == ["politics"]
    assert topics["labels"] == [{"label": "politics", "score": 0.7}, {"label": "tech", "score": 0.176543},
                                {"label": "sport", "score": 0.123457}]  # fmt: skip
    assert (topics["spans"], topics["sentiment"]) == ([], None)
    assert tags["predicted"] == ["sport", "politics"]  # multi-label: both above their thresholds
    expected = predictors()["tags"].predict([TEXTS[0]])[0].to_dict()
    assert tags["labels"] == expected["labels"] and tags["predicted"] == expected["predicted"]


def test_output_row_sentiment_has_every_key(rows):
    mood = rows[2]["predictions"]["mood"]
    expected = lexicon_predictor().predict([TEXTS[2]])[0].to_dict()
    assert tuple(mood["sentiment"]) == SENTIMENT_KEYS
    assert mood["sentiment"] == {key: expected["sentiment"].get(key) for key in SENTIMENT_KEYS}
    assert mood["sentiment"]["label"] == "negative" and mood["sentiment"]["score"] < 0
    assert mood["labels"] == expected["labels"] and mood["spans"] == []


def test_output_row_entities_spans_with_every_field(rows):
    ents = rows[0]["predictions"]["ents"]
    assert ents["labels"] == [] and ents["predicted"] == ["LOC", "PER"]
    assert all(tuple(s) == SPAN_KEYS for s in ents["spans"])
    first = ents["spans"][0]
    assert first == {"start": 0, "end": 3, "label": "PER", "source": "model", "score": 0.8731234567, "text": "Ada",
                     "page": None, "bbox": None}  # fmt: skip
    on_page = rows[3]["predictions"]["ents"]["spans"][0]
    assert (on_page["page"], on_page["bbox"]) == (1, [0.0, 20.0, 8.5, 31.25])
    assert rows[3]["pages"] == 1


def test_output_error_row_shape_and_cleaning():
    broken = Unit(id="bad\udcff.txt", source="a.zip", kind="error", meta={"when": float("nan"), "n": 2})
    row = error_row(broken, "E180", "cannot read bad\udcff.txt")
    assert tuple(row) == ROW_KEYS
    assert row["error"] == {"code": "E180", "message": "cannot read bad\ufffd.txt"}
    assert (row["sha256"], row["characters"], row["pages"], row["predictions"]) == (None, None, None, {})
    assert row["meta"] == {"when": None, "n": 2}
    assert json.loads(row_bytes(row)) == row


def test_output_row_bytes_are_canonical(rows):
    line = row_bytes(rows[1])
    assert line == row_bytes(json.loads(line)) and line.endswith(b"\n") and line.count(b"\n") == 1
    assert '"text":"Héllo"'.encode() in line and b": " not in line and b", " not in line
    with pytest.raises(NlpipeError) as err:
        row_bytes(rows[0] | {"meta": {"score": float("nan")}})
    assert err.value.code == "E827"


# ------------------------------------------------------------------------------------------------- formats


def test_output_jsonl_is_the_spool(tmp_path, rows):
    spool = write_spool(tmp_path / "spool.jsonl", rows)
    convert(spool, tmp_path / "out.jsonl", "jsonl", MODELS)
    assert (tmp_path / "out.jsonl").read_bytes() == spool.read_bytes()
    assert list(read_rows(tmp_path / "out.jsonl")) == rows


def test_output_csv_columns_and_cells(tmp_path, rows):
    guarded = error_row(Unit(id='=HYPERLINK("http://x")', source="-a.csv", kind="error"), "E109", "@bad row")
    spool = write_spool(tmp_path / "spool.jsonl", [*rows, guarded])
    convert(spool, tmp_path / "out.csv", "csv", MODELS)
    raw = (tmp_path / "out.csv").read_bytes()
    assert b"\r" not in raw
    table = list(csv.DictReader(io.StringIO(raw.decode("utf-8"), newline="")))
    assert list(table[0]) == csv_columns(MODELS) == [
        "id", "source", "sha256", "characters", "pages", "error_code", "error_message", "meta",
        "topics.model", "topics.predicted", "topics.score", "topics.labels",
        "tags.model", "tags.predicted", "tags.score", "tags.labels",
        "mood.model", "mood.predicted", "mood.score", "mood.labels",
        "mood.sentiment_label", "mood.sentiment_score", "mood.sentiment_confidence", "mood.sentiment_magnitude",
        "ents.model", "ents.predicted", "ents.score", "ents.labels", "ents.spans",
    ]  # fmt: skip
    first, third, error, formula = table[0], table[2], table[4], table[5]
    assert (first["id"], first["characters"], first["pages"], json.loads(first["meta"])) == (
        "news.zip!000.txt",
        str(len(TEXTS[0])),
        "",
        {"line": 1},
    )
    assert (first["topics.predicted"], first["topics.score"], first["tags.predicted"]) == (
        "politics",
        "0.7",
        "sport|politics",
    )
    assert json.loads(first["topics.labels"]) == rows[0]["predictions"]["topics"]["labels"]
    assert json.loads(first["ents.spans"]) == rows[0]["predictions"]["ents"]["spans"]
    assert (first["ents.score"], first["ents.predicted"]) == ("", "LOC|PER")
    mood = rows[2]["predictions"]["mood"]["sentiment"]
    assert (third["mood.sentiment_label"], float(third["mood.sentiment_score"])) == ("negative", mood["score"])
    assert third["mood.sentiment_score"].startswith("-")  # numbers are not guarded
    assert float(third["mood.sentiment_magnitude"]) == mood["magnitude"]
    assert (error["error_code"], error["sha256"], error["topics.model"], error["ents.spans"]) == ("E176", "", "", "")
    assert (formula["id"], formula["source"], formula["error_message"]) == (
        '\'=HYPERLINK("http://x")',
        "'-a.csv",
        "'@bad row",
    )


def test_output_parquet_typed_columns(tmp_path, rows):
    spool = write_spool(tmp_path / "spool.jsonl", rows)
    convert(spool, tmp_path / "out.parquet", "parquet", MODELS)
    table = pq.read_table(tmp_path / "out.parquet")
    schema = table.schema
    assert schema.names == ["id", "source", "sha256", "characters", "pages", "meta", "error",
                            "topics", "tags", "mood", "ents"]  # fmt: skip
    assert (schema.field("characters").type, schema.field("pages").type) == (pa.int64(), pa.int32())
    assert schema.field("error").type == pa.struct([("code", pa.string()), ("message", pa.string())])
    model = schema.field("ents").type
    assert [model.field(i).name for i in range(model.num_fields)] == list(MODEL_KEYS)
    assert model.field("predicted").type == pa.list_(pa.string())
    assert model.field("labels").type == pa.list_(pa.struct([("label", pa.string()), ("score", pa.float64())]))
    span = model.field("spans").type.value_type
    assert [span.field(i).name for i in range(span.num_fields)] == list(SPAN_KEYS)
    assert span.field("bbox").type == pa.list_(pa.float64(), 4) and span.field("page").type == pa.int32()
    sentiment = model.field("sentiment").type
    assert [sentiment.field(i).name for i in range(sentiment.num_fields)] == list(SENTIMENT_KEYS)
    back = table.to_pylist()
    for got, row in zip(back, rows, strict=True):
        assert json.loads(got.pop("meta")) == row["meta"]
        models = {m.name: got.pop(m.name) for m in MODELS}
        assert got == {k: v for k, v in row.items() if k not in ("meta", "predictions")}
        assert {name: entry for name, entry in models.items() if entry is not None} == row["predictions"]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_output_same_spool_gives_identical_bytes(tmp_path, rows, fmt, monkeypatch):
    monkeypatch.setattr(output, "BATCH_ROWS", 2)  # several row groups
    monkeypatch.setattr(parquet, "GROUP_BATCHES", 2)
    spool = write_spool(tmp_path / "spool.jsonl", rows * 3)
    convert(spool, tmp_path / f"a.{fmt}", fmt, MODELS)
    convert(spool, tmp_path / f"b.{fmt}", fmt, MODELS)
    assert (tmp_path / f"a.{fmt}").read_bytes() == (tmp_path / f"b.{fmt}").read_bytes()
    if fmt == "parquet":
        assert pq.ParquetFile(tmp_path / f"a.{fmt}").metadata.num_row_groups == 4  # 15 rows: 8 batches, 2 a group


def test_output_empty_spool(tmp_path):
    spool = write_spool(tmp_path / "spool.jsonl", [])
    for fmt in ("jsonl", "csv", "parquet"):
        convert(spool, tmp_path / f"out.{fmt}", fmt, MODELS)
    assert (tmp_path / "out.jsonl").read_bytes() == b""
    assert (tmp_path / "out.csv").read_text().count("\n") == 1
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 0


# ------------------------------------------------------------------------------------------------- failures


def test_output_interrupted_conversion_leaves_no_file(tmp_path, rows, monkeypatch):
    spool = write_spool(tmp_path / "spool.jsonl", rows * 3)
    out = tmp_path / "out.parquet"
    monkeypatch.setattr(output, "BATCH_ROWS", 2)
    monkeypatch.setattr(parquet, "GROUP_BATCHES", 1)
    calls = []

    def interrupted(self: pq.ParquetWriter, table: pa.Table, row_group_size: int | None = None) -> None:
        calls.append(table.num_rows)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(pq.ParquetWriter, "write_table", interrupted)
    with pytest.raises(KeyboardInterrupt):
        convert(spool, out, "parquet", MODELS)
    assert not out.exists() and not part_path(out).exists()
    out.write_bytes(b"the previous output")
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        convert(spool, out, "parquet", MODELS)
    assert out.read_bytes() == b"the previous output"


KILLED = """
import os, signal, sys
from pathlib import Path
from nlpipe.batch import output, parquet
from nlpipe.batch.output import ModelInfo, convert
output.BATCH_ROWS = 2
real = output.read_spool
def dying(spool, models=None):
    for n, item in enumerate(real(spool, models)):
        if n == 5:
            os.kill(os.getpid(), signal.SIGKILL)
        yield item
output.read_spool = dying
models = [ModelInfo(*m.split(":")) for m in sys.argv[3].split(",")]
convert(Path(sys.argv[1]), Path(sys.argv[2]), "csv", models)
"""


def test_output_killed_conversion_leaves_no_file(tmp_path, rows):
    spool = write_spool(tmp_path / "spool.jsonl", rows * 3)
    out = tmp_path / "out.csv"
    models = ",".join(f"{m.name}:{m.version}:{m.task}" for m in MODELS)
    done = subprocess.run([sys.executable, "-c", KILLED, str(spool), str(out), models], capture_output=True)
    assert done.returncode == -9, done.stderr
    assert part_path(out).exists() and not out.exists()  # the half file is under another name
    convert(spool, out, "csv", MODELS)  # a re-run replaces it
    assert out.exists() and not part_path(out).exists()


@pytest.mark.parametrize(
    ("line3", "code"),
    [
        (b"{not json\n", "E821"),
        (b'{"id":"x"}\n', "E821"),
        (b"[1,2]\n", "E821"),
        (b'{"id":NaN}\n', "E821"),
        (b'{"id":"x","source":"s","sha256":null,"characters":null,"pages":null,"meta":{},'
         b'"error":null,"predictions":{}}\n', "E822"),  # a document row without the models' predictions
        (b"", "E821"),  # the line before it is cut short
    ],
)  # fmt: skip
def test_output_bad_spool_line_names_its_line(tmp_path, rows, line3, code):
    good = b"".join(row_bytes(r) for r in rows[:2])
    spool = tmp_path / "spool.jsonl"
    spool.write_bytes(good + line3 + row_bytes(rows[2]) if line3 else good + row_bytes(rows[2])[:-1])
    for fmt in ("jsonl", "csv", "parquet"):
        with pytest.raises(NlpipeError) as err:
            convert(spool, tmp_path / f"out.{fmt}", fmt, MODELS)
        assert (err.value.code, err.value.details["line"]) == (code, 3)
        assert f"{spool}:3" in err.value.message
        assert not (tmp_path / f"out.{fmt}").exists() and not part_path(tmp_path / f"out.{fmt}").exists()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_output_value_of_wrong_type_names_its_line(tmp_path, rows, fmt):
    bad = json.loads(row_bytes(rows[0]))
    bad["predictions"]["topics"]["labels"] = 5
    spool = write_spool(tmp_path / "spool.jsonl", [rows[1], rows[2], bad])
    with pytest.raises(NlpipeError) as err:
        convert(spool, tmp_path / f"out.{fmt}", fmt, MODELS)
    assert (err.value.code, err.value.details["line"]) == ("E821", 3)
    assert not (tmp_path / f"out.{fmt}").exists()


def test_output_refuses_bad_formats_models_and_paths(tmp_path, rows):
    spool = write_spool(tmp_path / "spool.jsonl", rows)
    cases = [
        (lambda: convert(spool, tmp_path / "o", "xlsx", MODELS), "E820"),  # type: ignore[arg-type]
        (lambda: check_output("csv", [TOPICS, ModelInfo("topics", "v4", "classify")]), "E823"),
        (lambda: check_output("parquet", [ModelInfo("meta", "1", "classify")]), "E823"),
        (lambda: convert(spool, tmp_path, "jsonl", MODELS), "E824"),
        (lambda: convert(spool, tmp_path / "no" / "out.csv", "csv", MODELS), "E824"),
        (lambda: convert(tmp_path / "missing.jsonl", tmp_path / "o.csv", "csv", MODELS), "E825"),
        (lambda: convert(spool, tmp_path / "o.csv", "csv", [TOPICS, MOOD]), "E822"),
    ]
    for call, code in cases:
        with pytest.raises(NlpipeError) as err:
            call()
        assert err.value.code == code, err.value
    check_output("csv", [ModelInfo("meta", "1", "classify")])  # only Parquet makes models columns


def test_output_plugin_task_keeps_spans_and_sentiment_columns():
    odd = ModelInfo("odd", "1", "keywords")
    assert csv_columns([odd])[8:] == ["odd.model", "odd.predicted", "odd.score", "odd.labels", "odd.spans",
                                      "odd.sentiment_label", "odd.sentiment_score", "odd.sentiment_confidence",
                                      "odd.sentiment_magnitude"]  # fmt: skip


MEASURED = """
import resource, sys
from pathlib import Path
from nlpipe.batch.output import ModelInfo, convert
models = [ModelInfo("topics", "v3", "classify")]
*spools, out = map(Path, sys.argv[1:])
for spool in spools:  # 100 rows (imports, first allocations), 20k rows, 200k rows
    convert(spool, out, "parquet", models)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def test_output_large_spool_converts_in_flat_memory(tmp_path):
    """A 200k-row spool becomes Parquet (the format that holds rows in batches) with the process's peak RSS
    growing by far less than the spool's size, and by about as much as for 20k rows: a batch of rows is in memory
    at a time, never the spool."""
    [prediction] = predictors()["topics"].predict(["some text"])
    head, _, tail = row_bytes(document_row(unit(0), "some text", None, {"topics": (TOPICS, prediction)})).partition(
        b'"news.zip!000.txt"'
    )
    spools = [tmp_path / f"{n}.jsonl" for n in (100, 20_000, 200_000)]
    for spool, n in zip(spools, (100, 20_000, 200_000), strict=True):
        with spool.open("wb") as f:
            for start in range(0, n, 10_000):
                f.write(b"".join(b'%s"doc-%d"%s' % (head, i, tail) for i in range(start, min(n, start + 10_000))))
    size = spools[-1].stat().st_size
    out = tmp_path / "out.parquet"
    done = subprocess.run([sys.executable, "-c", MEASURED, *map(str, spools), str(out)], capture_output=True,
                          text=True, check=True)  # fmt: skip
    warm, at_20k, at_200k = map(int, done.stdout.split())
    assert size > 60_000_000 and at_200k - warm < size / 3, (size, warm, at_20k, at_200k)
    assert at_200k - at_20k < size / 20, (size, warm, at_20k, at_200k)  # flat: ten times the rows, no more memory
    meta = pq.ParquetFile(out).metadata
    assert (meta.num_rows, meta.num_row_groups) == (200_000, 25)  # 1,024 rows a batch, 8 batches a row group


# ------------------------------------------------------------------------------------------------- summary


def test_output_summary_counts_restores_and_prints(rows):
    summary = Summary()
    for row in [*rows, error_row(unit(9), "E176", "empty")]:
        summary.add(row)
    summary.skip("E190")
    summary.seconds = 2.0
    assert (summary.rows, summary.ok, summary.errors, summary.skipped) == (6, 4, {"E176": 2}, {"E190": 1})
    data = json.loads(json.dumps(summary.to_dict()))
    assert data["docs_per_second"] == 3.0
    assert Summary.from_dict(data) == summary
    assert summary.lines() == ["6 documents: 4 predicted, 2 errors", "errors by code: E176 2",
                               "skipped: 1 (E190 1)", "2.0 s, 3.0 docs/s"]  # fmt: skip
    for damaged in (None, {}, data | {"rows": "6"}, data | {"errors": {"E176": -1}}, data | {"ok": 5}):
        with pytest.raises(NlpipeError) as err:
            Summary.from_dict(damaged)
        assert err.value.code == "E826"


def test_document_rows_written_directly_are_the_canonical_bytes():
    """document_row_bytes (the workers' fast path) writes exactly row_bytes(document_row(...)) -- or raises the same
    E827 -- for rows of every task's shape, with quoting, non-ASCII, lone surrogates, numpy and integer scores,
    -0.0, tiny and huge floats, NaN and infinity."""
    import random

    from nlpipe.batch.output import document_row_bytes
    from nlpipe.types import LabelScore, Prediction, Span

    rng = random.Random(7)
    pieces = ["a", "é", '"q"', "back\\slash", "\n\t", "\u2028", "日本", "\x00", "😀", "", "\ud800"]

    def word() -> str:
        return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))

    def score() -> Any:
        return rng.choice([rng.random(), 1e-7, 0.0, -0.0, 1.0, 1, np.float64(0.123456789), np.float32(0.5), 1e22,
                           12345678.9, float("nan"), float("inf")] + [rng.random()] * 20)  # fmt: skip

    outcomes = set()
    for _ in range(3000):
        spans = [Span(rng.randint(0, 9), rng.randint(0, 9), word(), "model", rng.choice([None, score()]),
                      rng.choice([None, word()]), rng.choice([None, 2]), rng.choice([None, (1.0, 2, 3.5, 4.0)]))
                 for _ in range(rng.randint(0, 2))]  # fmt: skip
        sentiment = rng.choice([None, {"kind": "polarity", "label": word(), "score": score(), "extra": [1, 2]}])
        labels = [LabelScore(word(), score()) for _ in range(rng.randint(0, 5))]
        prediction = Prediction(labels=labels, predicted=[word() for _ in range(rng.randint(0, 2))], spans=spans,
                                sentiment=sentiment)  # fmt: skip
        metas = [{}, {"line": 3, "uri": word()}, {"item": 7, "line": 12}, {word(): 2}, {1: 2}]
        unit = Unit(id=word() + "id", source=word(), kind="text", meta=rng.choice(metas))
        results = {word() + "m": (ModelInfo(word(), "v1", rng.choice(["classify", "sentiment"])), prediction)}
        text, pages = word(), rng.choice([None, 3])
        try:
            expected: bytes | str = row_bytes(document_row(unit, text, pages, results))
        except NlpipeError as exc:
            expected = exc.code
        try:
            got: bytes | str = document_row_bytes(unit, text, pages, results)
        except NlpipeError as exc:
            got = exc.code
        assert got == expected
        outcomes.add("E827" if got == "E827" else "row")
    assert outcomes == {"row", "E827"}  # both kinds were met
