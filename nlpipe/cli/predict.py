"""`nlpipe predict`: labels or sentiment of texts, stdin lines or a document file, as JSON lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from nlpipe.cli.common import err, settings
from nlpipe.errors import InputError


def predict(
    model: Annotated[
        str | None, typer.Argument(help="Model name. Leave it out with --lexicon: the first argument is then TEXT.")
    ] = None,
    text: Annotated[
        str | None, typer.Argument(help="Text to classify, or '-' to read one text per line from stdin.")
    ] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="Classify a document file (text, HTML, DOCX, PDF, ...) or archive.")
    ] = None,
    version: Annotated[str | None, typer.Option(help="Version or alias (default: production, else newest).")] = None,
    top_k: Annotated[int | None, typer.Option(help="Labels to list per text.")] = None,
    threshold: Annotated[float | None, typer.Option(help="Predict every label scoring at least this.")] = None,
    explain: Annotated[bool, typer.Option(help="List the terms that pushed each predicted label up.")] = False,
    sentences: Annotated[
        bool, typer.Option(help="Sentiment: add each sentence's sentiment with its character offsets.")
    ] = False,
    lexicon: Annotated[
        bool, typer.Option(help="Sentiment with the VADER lexicon: no trained model needed (give no MODEL).")
    ] = False,
    ocr: Annotated[str | None, typer.Option(help="With --file: OCR of scanned PDF pages: auto, always, never.")] = None,
    password: Annotated[str | None, typer.Option(help="With --file: password of an encrypted PDF.")] = None,
) -> None:
    """Predict labels or sentiment; prints one JSON object per text (per document for --file, with its source)."""
    from nlpipe.ingest import documents_for_prediction
    from nlpipe.predict import load_predictor

    if lexicon:
        if (model is not None and text is not None) or version is not None:
            raise InputError("E423", "--lexicon uses no model: give only TEXT, '-' or --file, e.g. "
                             "nlpipe predict --lexicon \"Great service\" (and no --version).")  # fmt: skip
        model, text = None, model if text is None else text
    elif model is None:
        raise InputError("E420", "Give the MODEL to predict with, or --lexicon for sentiment from the VADER lexicon "
                         "(no trained model needed).", field="model")  # fmt: skip
    given = [x for x in (text, file) if x is not None]
    if len(given) != 1:
        raise InputError("E414", "Give exactly one of TEXT, '-' (stdin, one text per line) or --file PATH.")
    cfg = settings()
    sources: list[str | None]
    documents = None
    if file is not None:
        docs, failures = documents_for_prediction(file, cfg, password=password, ocr=ocr)
        for f in failures:
            err.print(f"[yellow]warning {f.code}:[/yellow] {f.message}")
        texts = [d.text for d in docs]
        sources = [d.source for d in docs]
        documents = docs
    elif text == "-":
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
        sources = [None] * len(texts)
    else:
        texts = [str(text)]
        sources = [None]
    if lexicon:
        from nlpipe.tasks.sentiment.predictor import lexicon_predictor

        predictor = lexicon_predictor()
    else:
        predictor = load_predictor(cfg.models_dir, str(model), version)
    options = predictor.check_options({"top_k": top_k, "threshold": threshold, "explain": explain,
                                       "sentences": sentences})  # fmt: skip
    preds = predictor.predict_documents(documents, **options) if documents else predictor.predict(texts, **options)
    for src, p in zip(sources, preds, strict=True):
        head = {"model": predictor.name, "version": predictor.version} | ({"source": src} if src else {})
        print(json.dumps(head | p.to_dict()))


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
