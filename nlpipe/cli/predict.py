"""`nlpipe predict`: labels or sentiment of texts, stdin lines or a document file, as JSON lines.

`predict MODEL -` streams: one line out per line in, each with its ``line`` number, written as soon as it is
predicted (:func:`nlpipe.predict.predict_lines`).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nlpipe.cli.common import err, settings
from nlpipe.errors import InputError

if TYPE_CHECKING:
    from nlpipe.tasks.base import BasePredictor


def predict(
    model: Annotated[
        str | None, typer.Argument(help="Model name. Leave it out with --lexicon: the first argument is then TEXT.")
    ] = None,
    text: Annotated[
        str | None,
        typer.Argument(
            help="Text to classify, or '-': one text per stdin line, each answered (with its line number) as soon as "
            "it is predicted."
        ),
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
    """Predict labels or sentiment; prints one JSON object per text (per document for --file, with its source;
    per stdin line for '-', with its line number, as soon as it is predicted)."""
    from nlpipe.predict import load_predictor, predict_inputs

    if lexicon:
        if (model is not None and text is not None) or version is not None:
            raise InputError("E423", "--lexicon uses no model: give only TEXT, '-' or --file, e.g. "
                             "nlpipe predict --lexicon \"Great service\" (and no --version).")  # fmt: skip
        model, text = None, model if text is None else text
    elif model is None:
        raise InputError("E420", "Give the MODEL to predict with, or --lexicon for sentiment from the VADER lexicon "
                         "(no trained model needed).", field="model")  # fmt: skip
    cfg = settings()

    def load() -> BasePredictor:
        if lexicon:
            from nlpipe.tasks.sentiment.predictor import lexicon_predictor

            return lexicon_predictor()
        return load_predictor(cfg.models_dir, str(model), version, max_bytes=cfg.max_model_bytes)

    options = {"top_k": top_k, "threshold": threshold, "explain": explain, "sentences": sentences}
    if text == "-" and file is None:
        stream_stdin(load(), options, cfg.max_document_bytes)
        return
    texts = None if text is None else [text]  # '-' with --file: predict_inputs refuses both (E414)
    run = predict_inputs(load, texts=texts, file=file, settings=cfg, password=password, ocr=ocr, options=options)
    for f in run.failures:
        err.print(f"[yellow]warning {f.code}:[/yellow] {f.message}")
    for row in run.rows():
        print(json.dumps({"model": run.model, "version": run.version} | row))


def stream_stdin(predictor: BasePredictor, options: dict[str, Any], max_bytes: int) -> None:
    """`predict MODEL -`: one JSON line per stdin line, written and flushed as soon as it is predicted. A reader
    that stops early (``| head -3``) ends the command quietly, with status 0."""
    from nlpipe.predict import LineReader, predict_lines

    reader = LineReader(sys.stdin.buffer, max_bytes)
    rows = predict_lines(predictor, reader, options=options, max_bytes=max_bytes, ready=reader.ready)
    head = {"model": predictor.name, "version": predictor.version}
    try:
        for row in rows:
            sys.stdout.write(json.dumps(head | row) + "\n")
            sys.stdout.flush()
    except BrokenPipeError:
        # Whatever is still buffered goes nowhere: without this, Python's own flush at exit fails again, loudly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
