"""``--into-dataset NAME``: a batch run's documents and predictions stored in a dataset, the predictions as ``model``
annotations (author ``NAME@VERSION``), so the labeling queue offers them for review.

The runner keeps each document's text in a side spool (``texts.jsonl``, one line per output row that is not an
error, checkpointed with the rows). Once every unit is done, each model's predictions are imported in one
transaction per model (:func:`~nlpipe.store.importing.import_records`): documents are deduplicated by their text and
an annotation already there is not added again, so a run killed while storing stores the rest when run again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from nlpipe.batch.output import ModelInfo, read_rows
from nlpipe.config import Settings
from nlpipe.store.db import open_store
from nlpipe.store.importing import import_records
from nlpipe.types import Record, Span

TEXTS = "texts.jsonl"


def text_line(text: str) -> bytes:
    return (json.dumps({"text": text}, ensure_ascii=False) + "\n").encode("utf-8")


def _records(spool: Path, texts: Path, model: ModelInfo) -> Iterator[Record]:
    with texts.open(encoding="utf-8") as tf:
        for row in read_rows(spool):
            if row["error"] is not None:
                continue
            stored = json.loads(tf.readline())  # one line per row that is not an error, in the same order
            result = row["predictions"].get(model.name) or {}
            spans = [Span(s["start"], s["end"], s["label"], source="model", score=s.get("score"))
                     for s in result.get("spans") or []]  # fmt: skip
            labels = [] if spans else list(result.get("predicted") or [])
            yield Record(text=stored["text"], labels=labels, external_id=row["id"], file=row["source"], spans=spans)


def store_predictions(settings: Settings, folder: Path, models: Sequence[ModelInfo], dataset: str) -> int:
    """Import the run's documents with each model's predictions as ``model`` annotations; returns the number of
    documents read from the spool."""
    spool, texts = folder / "rows.jsonl", folder / TEXTS
    if not texts.exists() or texts.stat().st_size == 0:
        return 0  # every row is an error: nothing to store
    store = open_store(settings)
    stored = 0
    try:
        for model in models:
            summary = import_records(store, dataset, _records(spool, texts, model), source="model",
                                     author=f"{model.name}@{model.version}", create=True)  # fmt: skip
            stored = summary.records
    finally:
        store.close()
    return stored
