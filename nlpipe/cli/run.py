"""`nlpipe train`, `evaluate`, `predict`, `serve`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from nlpipe.cli.common import err, fmt, out, print_json, progress_bar, settings, store
from nlpipe.errors import InputError

SUMMARY_KEYS = ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "log_loss")


def metrics_table(metrics: dict[str, Any], title: str) -> Table:
    base = metrics.get("baseline") or {}
    table = Table("metric", "model", f"baseline ({base.get('name') or 'most frequent'})", title=title)
    keys = SUMMARY_KEYS + (("hamming_loss", "subset_accuracy") if metrics.get("multi_label") else ())
    for key in keys:
        if key in metrics:
            table.add_row(key, fmt(metrics[key]), fmt(base.get(key)))
    return table


def ordinal_table(ordinal: dict[str, Any]) -> Table:
    """Sentiment on a scale: MAE, MSE and weighted kappas beside the median-score baseline."""
    table = Table("metric", "model", f"baseline (always {ordinal['baseline']['predicts']})",
                  title=f"Ordinal scale 0..{ordinal['scale']}")  # fmt: skip
    for key in ("mae", "mse", "kappa_linear", "kappa_quadratic"):
        table.add_row(key, fmt(ordinal.get(key)), fmt(ordinal["baseline"].get(key)))
    return table


def per_label_table(metrics: dict[str, Any], limit: int = 30) -> Table:
    table = Table("label", "precision", "recall", "F1", "support")
    rows = sorted(metrics["per_label"].items(), key=lambda kv: -kv[1]["support"])
    for lab, m in rows[:limit]:
        table.add_row(lab, fmt(m["precision"], 3), fmt(m["recall"], 3), fmt(m["f1"], 3), str(m["support"]))
    if len(rows) > limit:
        table.caption = f"{len(rows) - limit} more labels in metrics.json"
    return table


def train(
    dataset: str,
    name: Annotated[str, typer.Option("--name", "-n", help="Model name (folder under the models dir).")],
    task: Annotated[
        str, typer.Option(help="What to train: classify, sentiment, entities or layout (fields from PDF word boxes).")
    ] = "classify",
    multi_label: Annotated[
        bool | None,
        typer.Option("--multi-label/--single-label", help="Default: multi-label if any document has several labels."),
    ] = None,
    time_budget: Annotated[
        float | None, typer.Option(help="Seconds the model search may spend (default: NLPIPE_TIME_BUDGET).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: NLPIPE_SEED).")] = None,
    scale: Annotated[
        int | None, typer.Option(help="Sentiment: an ordinal score 0..N (N from 1 to 10) instead of categories.")
    ] = None,
    base: Annotated[
        str | None, typer.Option(help="Entities: an installed spaCy pipeline to start from (default: blank).")
    ] = None,
    entity_list: Annotated[
        list[Path] | None,
        typer.Option("--entity-list", help="Entities: a Text,Type CSV entity list (gazetteer); repeatable."),
    ] = None,
    ruler: Annotated[
        str | None,
        typer.Option(help="Entities: run the entity lists before the model (lists win), after it, or none."),
    ] = None,
) -> None:
    """Train a model on a dataset's train split and evaluate it on its test split."""
    from nlpipe.train import train as do_train

    with store() as st, progress_bar() as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        result = do_train(
            st,
            settings(),
            dataset,
            name,
            task=task,
            multi_label=multi_label,
            time_budget=time_budget,
            seed=seed,
            progress=progress,
            **{
                k: v
                for k, v in {"scale": scale, "base": base, "entity_lists": entity_list, "ruler": ruler}.items()
                if v or (k == "scale" and v is not None)
            },  # fmt: skip
        )
    for c in result.checks:
        err.print(f"[yellow]warning {c.code}:[/yellow] {c.message}")
    if result.search:
        search = Table("candidate", "validation score", "seconds", title="Model search")
        for row in result.search:
            mark = " *" if row["name"] == result.best else ""
            search.add_row(row["name"] + mark, fmt(row.get("score")), fmt(row.get("seconds"), 2))
        out.print(search)
    if result.metrics:
        out.print(metrics_table(result.metrics, f"{result.name} {result.version} on the test split"))
        if "ordinal" in result.metrics:
            out.print(ordinal_table(result.metrics["ordinal"]))
        if "per_label" in result.metrics:
            out.print(per_label_table(result.metrics))
        out.print(f"Report: {result.path / 'report' / 'report.html'}")
    else:
        err.print("[yellow]warning:[/yellow] the dataset has no test split documents; no evaluation was made.")
    out.print(f"Saved [bold]{result.name}[/bold] {result.version} to {result.path} ({result.seconds:.1f} s)")


def evaluate(
    model: str,
    dataset: str,
    split: Annotated[str, typer.Option(help="train, validation, test or all.")] = "test",
    version: Annotated[str | None, typer.Option(help="Version or alias (default: production, else newest).")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Folder for metrics.json and report.html.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics JSON on stdout.")] = False,
) -> None:
    """Evaluate a model on a dataset split: metrics, baseline, report."""
    from nlpipe.evaluate.run import evaluate_model

    with store() as st:
        result = evaluate_model(st, settings(), model, dataset, version=version, split=split, out=out_dir)
    if as_json:
        print_json(result.metrics)
        return
    out.print(metrics_table(result.metrics, f"{result.model} {result.version} on {dataset} ({split})"))
    if "ordinal" in result.metrics:
        out.print(ordinal_table(result.metrics["ordinal"]))
    if "per_label" in result.metrics:
        out.print(per_label_table(result.metrics))
    if result.skipped:
        err.print(f"[yellow]warning:[/yellow] {result.skipped} documents have labels the model does not know; skipped.")
    out.print(f"Report: {result.report}")


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


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: NLPIPE_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: NLPIPE_PORT).")] = None,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    cfg = settings()
    # The app is named by import string so that nlpipe never imports the api package.
    uvicorn.run("api.main:create_app", factory=True, host=host or cfg.host, port=port or cfg.port)


def register(app: typer.Typer) -> None:
    for fn in (train, evaluate, predict, serve):
        app.command(fn.__name__)(fn)
