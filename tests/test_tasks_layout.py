"""The layout task: invoice PDFs generated with reportlab, read by the real ingest, fields learned from word boxes."""

from __future__ import annotations

import json

import pytest
import skops.io as sio
from typer.testing import CliRunner

from nlpipe import artifacts
from nlpipe.cli.main import app
from nlpipe.errors import InputError, TrainingError
from nlpipe.evaluate import evaluate_model
from nlpipe.ingest import documents_for_prediction, ingest_paths
from nlpipe.label.formats import read_records
from nlpipe.metrics.fields import field_metrics
from nlpipe.predict import load_predictor
from nlpipe.store.importing import import_records
from nlpipe.tasks.layout.features import label_like, shape
from nlpipe.tasks.layout.task import TRUSTED_TYPES, load_annotated
from nlpipe.tasks.layout.words import document_words, spans_from_boxes
from nlpipe.train import train
from nlpipe.types import Span
from tests.conftest import DATA
from tests.invoicegen import FIELDS, TEMPLATES, annotate, make_invoice

INVOICES = DATA / "invoices"


def read_invoice(settings, template: str, seed: int):
    inv = make_invoice(template, seed)
    [doc], failures = documents_for_prediction(inv.pdf, settings, name=f"invoice-{template}{seed}.pdf")
    assert not failures
    return inv, doc


def test_layout_features_tie_every_word_to_its_characters(settings):
    for template in TEMPLATES:
        _, doc = read_invoice(settings, template, 5)
        dw = document_words(doc)
        assert len(dw) == sum(len(p.words) for p in doc.pages) > 50
        assert all(doc.text[s:e] == w.text for w, s, e in zip(dw.words, dw.starts, dw.ends, strict=True))
        # reading order on a page: lines top to bottom, words left to right within a line
        first = [i for i in range(len(dw)) if i == 0 or dw.line[i] != dw.line[i - 1]]
        tops = [dw.words[i].y0 for i in first]
        assert tops == sorted(tops)


def test_layout_spans_from_boxes_read_back_every_drawn_field(settings):
    for template in TEMPLATES:
        inv, doc = read_invoice(settings, template, 11)
        spans = spans_from_boxes(doc, [(k, f.page, f.bbox) for k, f in inv.fields.items()])
        assert {s.label: doc.text[s.start : s.end] for s in spans} == {k: f.text for k, f in inv.fields.items()}
    assert spans_from_boxes(doc, [("total", 1, (0.0, 0.0, 2.0, 2.0))]) == []  # a box with no word in it


def test_layout_committed_annotations_match_what_ingest_reads(settings):
    """data/invoices/annotations.jsonl is what tests/invoicegen.py makes of the committed PDFs today."""
    lines = [json.loads(x) for x in (INVOICES / "annotations.jsonl").read_text().splitlines()]
    assert len(lines) == 24 and {x["template"] for x in lines} == set(TEMPLATES)
    for line in lines[::5]:
        template, seed = line["id"][len("invoice-")], int(line["id"][len("invoice-") + 1 : -len(".pdf")])
        inv = make_invoice(template, seed)
        assert inv.pdf == (INVOICES / "pdf" / line["id"]).read_bytes()
        assert annotate(inv, line["id"])["spans"] == line["spans"]


def test_layout_token_helpers():
    assert shape("INV-2024-0012") == "X-d-d" and shape("$1,234.56") == "$d,d.d"
    assert label_like("Total:") and label_like("No.") and not label_like("EUR") and not label_like("March")
    assert not label_like("INV-1") and not label_like("#")


def test_layout_field_metrics_count_exact_matches_only():
    truth = [[Span(0, 5, "total"), Span(10, 14, "date")], [Span(3, 8, "total")]]
    pred = [[Span(0, 5, "total"), Span(10, 13, "date")], [Span(20, 25, "issuer")]]
    m = field_metrics(truth, pred, ["date", "issuer", "total"], texts=["0123456789abcdefghij" * 2] * 2)
    assert m["per_label"]["total"] == {"precision": 1.0, "recall": 0.5, "f1": 0.666667, "support": 2,
                                           "tp": 1, "fp": 0, "fn": 1}  # fmt: skip
    assert (m["per_label"]["date"]["tp"], m["per_label"]["date"]["fp"], m["per_label"]["date"]["fn"]) == (0, 1, 1)
    assert m["per_label"]["issuer"]["precision"] == 0.0 and m["per_label"]["issuer"]["support"] == 0
    # pooled: 1 right of 3 predicted, 1 found of 3 annotated
    assert (m["micro_precision"], m["micro_recall"]) == (pytest.approx(1 / 3, abs=1e-6), pytest.approx(1 / 3, abs=1e-6))
    wrong = {(e["field"], e["true"], e["predicted"]) for e in m["errors"]}
    assert wrong == {("date", "abcd", "abc"), ("issuer", None, "01234"), ("total", "34567", None)}
    with pytest.raises(InputError) as exc:
        field_metrics(truth, pred[:1], ["total"])
    assert exc.value.code == "E575"


def test_layout_trained_model_finds_fields_with_page_and_box(trained_layout):
    """Fresh invoices (seeds not in data/invoices) of every layout: most fields exact, each with page and box."""
    predictor = load_predictor(trained_layout.models_dir, "invoices")
    assert predictor.task == "layout" and sorted(predictor.labels) == sorted(FIELDS)
    correct = total = 0
    for template in TEMPLATES:
        inv, doc = read_invoice(trained_layout, template, 40)
        [pred] = predictor.predict_documents([doc])
        assert pred.predicted == sorted({s.label for s in pred.spans})
        assert len({s.label for s in pred.spans}) == len(pred.spans)  # one span per field: each is single-valued
        for sp in pred.spans:
            assert sp.text == doc.text[sp.start : sp.end] and sp.source == "model" and 0 < sp.score <= 1
            assert sp.page == 1
            x0, y0, x1, y1 = sp.bbox
            assert 0 <= x0 < x1 <= doc.pages[0].width and 0 <= y0 < y1 <= doc.pages[0].height
            if sp.text == inv.fields[sp.label].text:  # the box of a right field covers where it was drawn
                gx0, gy0, gx1, gy1 = inv.fields[sp.label].bbox
                assert x0 <= (gx0 + gx1) / 2 <= x1 and y0 <= (gy0 + gy1) / 2 <= y1
                correct += 1
        total += len(FIELDS)
    assert correct >= 0.75 * total, f"{correct} of {total} fields right"


def test_layout_fields_on_a_later_page_get_that_page(trained_layout):
    import io

    import pypdfium2 as pdfium

    from tests.pdfgen import Placed, text_pdf

    inv = make_invoice("A", 44)
    merged = pdfium.PdfDocument(text_pdf([[Placed("Remittance advice", 72, 72), Placed("Total 12.00", 72, 100)]]))
    merged.import_pages(pdfium.PdfDocument(inv.pdf))
    buf = io.BytesIO()
    merged.save(buf)
    [doc], _ = documents_for_prediction(buf.getvalue(), trained_layout, name="two-pages.pdf")
    assert len(doc.pages) == 2
    [pred] = load_predictor(trained_layout.models_dir, "invoices").predict_documents([doc])
    assert pred.spans and all(s.page == 2 and s.start >= len(doc.pages[0].text) for s in pred.spans)
    total = next(s for s in pred.spans if s.label == "total")
    assert total.text == inv.fields["total"].text == doc.text[total.start : total.end]


def test_layout_saved_model_reloads_with_identical_predictions(trained_layout):
    path = artifacts.resolve(trained_layout.models_dir, "invoices")
    assert sorted(sio.get_untrusted_types(file=path / "model.skops")) == sorted(TRUSTED_TYPES)
    meta = artifacts.read_meta(path)
    assert meta["task"] == "layout" and meta["format"] == "nlpipe.layout.v1"
    assert meta["single_valued"] == sorted(FIELDS) and meta["training"]["n_train"] + meta["training"]["n_test"] == 24
    assert 0 < meta["metrics"]["micro_f1"] <= 1 and meta["baseline"]["name"] == "text-only"
    _, doc = read_invoice(trained_layout, "C", 41)
    first = load_predictor(trained_layout.models_dir, "invoices").predict_documents([doc])
    again = load_predictor(trained_layout.models_dir, "invoices").predict_documents([doc])
    assert [p.to_dict() for p in first] == [p.to_dict() for p in again] and first[0].spans


def test_layout_evaluate_reports_fields_beside_the_text_only_baseline(trained_layout, tmp_path):
    from nlpipe.store.db import open_store

    st = open_store(trained_layout)
    try:
        result = evaluate_model(st, trained_layout, "invoices", "invoices", split="all", out=tmp_path / "ev")
    finally:
        st.close()
    m = result.metrics
    assert m["n_documents"] == 24 and set(m["per_label"]) == set(FIELDS)
    assert sum(v["support"] for v in m["per_label"].values()) == 96
    for v in m["per_label"].values():
        assert set(v) == {"precision", "recall", "f1", "support", "tp", "fp", "fn"}
    assert m["baseline"]["name"] == "text-only" and set(m["baseline"]["per_label"]) == set(FIELDS)
    assert m["micro_f1"] > m["baseline"]["micro_f1"]
    saved = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert saved["micro_f1"] == m["micro_f1"]
    html = result.report.read_text()
    assert result.report == tmp_path / "ev" / "report.html" and "Per field" in html and "text-only" in html


def test_layout_cli_predict_file_prints_spans_and_refuses_text(trained_layout, tmp_path, monkeypatch):
    monkeypatch.setenv("NLPIPE_HOME", str(trained_layout.home))
    monkeypatch.setenv("NLPIPE_MODELS_DIR", str(trained_layout.models_dir))
    pdf = tmp_path / "invoice.pdf"
    inv = make_invoice("A", 42)
    pdf.write_bytes(inv.pdf)
    runner = CliRunner()
    result = runner.invoke(app, ["predict", "invoices", "--file", str(pdf)])
    assert result.exit_code == 0, result.output
    [line] = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["model"] == "invoices" and line["source"].endswith("invoice.pdf")
    spans = {s["label"]: s for s in line["spans"]}
    assert spans["total"]["text"] == inv.fields["total"].text and spans["total"]["page"] == 1
    assert len(spans["total"]["bbox"]) == 4
    refused = runner.invoke(app, ["predict", "invoices", "Invoice No 12"])
    assert refused.exit_code == 1 and "[E440]" in refused.stderr
    ev = runner.invoke(app, ["evaluate", "invoices", "invoices", "--out", str(tmp_path / "ev")])
    assert ev.exit_code == 0, ev.output
    assert "micro_f1" in ev.stdout and "text-only" in ev.stdout and "invoice_number" in ev.stdout


def test_layout_predictor_errors(trained_layout, tmp_path):
    predictor = load_predictor(trained_layout.models_dir, "invoices")
    with pytest.raises(InputError) as exc:
        predictor.predict(["Invoice No 12"])
    assert exc.value.code == "E440"
    [txt], _ = documents_for_prediction(b"Invoice No 12\nTotal 5.00\n", trained_layout, name="note.txt")
    with pytest.raises(InputError) as exc:
        predictor.predict_documents([txt])
    assert exc.value.code == "E441" and "note.txt" in exc.value.message
    _, doc = read_invoice(trained_layout, "B", 43)
    with pytest.raises(InputError) as exc:
        predictor.predict_documents([doc], threshold=1.5)
    assert exc.value.code == "E443"
    assert predictor.predict_documents([doc], threshold=1.0)[0].spans == []


def _ingest_some(store, settings, tmp_path, names):
    folder = tmp_path / "pdf"
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes((INVOICES / "pdf" / name).read_bytes())
    ingest_paths(store, settings, "inv", [folder])


def test_layout_train_refuses_data_it_cannot_learn_from(store, settings, tmp_path):
    names = ["invoice-A00.pdf", "invoice-B00.pdf", "invoice-C00.pdf"]
    _ingest_some(store, settings, tmp_path, names)
    with pytest.raises(TrainingError) as exc:  # PDFs but no annotations
        train(store, settings, "inv", "m", task="layout")
    assert exc.value.code == "E390"
    # annotations imported on their own, without the PDFs: texts but no word boxes
    lines = [x for x in (INVOICES / "annotations.jsonl").read_text().splitlines() if '"invoice-D0' in x]
    (tmp_path / "d.jsonl").write_text("\n".join(lines) + "\n")
    import_records(store, "texts", read_records(tmp_path / "d.jsonl"), create=True, seed=0)
    with pytest.raises(TrainingError) as exc:
        train(store, settings, "texts", "m", task="layout")
    assert exc.value.code == "E392" and "nlpipe ingest" in exc.value.message
    with pytest.raises(InputError) as exc:
        train(store, settings, "inv", "m", task="layout", base="en_core_web_sm")
    assert exc.value.code == "E394"
    assert artifacts.versions(settings.models_dir, "m") == []


def test_layout_evaluate_refuses_a_split_without_annotations(trained_layout, store, settings, tmp_path):
    _ingest_some(store, settings, tmp_path, ["invoice-A01.pdf"])
    cfg = settings.model_copy(update={"models_dir": trained_layout.models_dir})
    with pytest.raises(InputError) as exc:
        evaluate_model(store, cfg, "invoices", "inv", split="all", out=tmp_path / "ev")
    assert exc.value.code == "E570"


def test_layout_load_annotated_reads_pages_and_spans_of_annotated_documents(store, settings, tmp_path):
    _ingest_some(store, settings, tmp_path, ["invoice-E00.pdf", "invoice-F00.pdf", "invoice-F01.pdf"])
    lines = [
        x
        for x in (INVOICES / "annotations.jsonl").read_text().splitlines()
        if '"invoice-F00' in x or '"invoice-F01' in x
    ]
    (tmp_path / "f.jsonl").write_text("\n".join(lines) + "\n")
    summary = import_records(store, "inv", read_records(tmp_path / "f.jsonl"))
    assert summary.already_present == 2 and summary.added == 0  # the spans joined the ingested documents
    docs, spans = load_annotated(store, "inv", ["train", "validation", "test"])
    assert sorted(d.source.rsplit("/", 1)[-1] for d in docs) == ["invoice-F00.pdf", "invoice-F01.pdf"]
    assert all(d.pages[0].words for d in docs) and [len(s) for s in spans] == [4, 4]


@pytest.mark.slow
def test_layout_cli_ingest_import_train_evaluate(tmp_path, monkeypatch):
    """The README's session: ingest the PDFs, import their annotations, train, evaluate, predict."""
    monkeypatch.setenv("NLPIPE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("NLPIPE_MODELS_DIR", str(tmp_path / "models"))
    runner = CliRunner()
    steps = [
        ["ingest", "invoices", str(INVOICES / "pdf")],
        ["datasets", "import", "invoices", str(INVOICES / "annotations.jsonl")],
        ["train", "invoices", "--task", "layout", "--name", "inv", "--seed", "3"],
        ["evaluate", "inv", "invoices", "--json"],
    ]
    results = [runner.invoke(app, args) for args in steps]
    for args, result in zip(steps, results, strict=True):
        assert result.exit_code == 0, (args, result.output)
    assert "baseline (text-only)" in results[2].stdout and "Saved inv v1" in results[2].stdout
    metrics = json.loads(results[3].stdout)
    assert metrics["task"] == "layout" and metrics["micro_f1"] > metrics["baseline"]["micro_f1"]
    meta = artifacts.read_meta(artifacts.resolve(tmp_path / "models", "inv"))
    assert meta["training"]["seed"] == 3 and meta["training"]["n_train"] + meta["training"]["n_test"] == 24
