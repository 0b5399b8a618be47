"""nlpipe: self-hosted text classification, sentiment and entity extraction.

The public Python API, for notebooks and scripts (the CLI and the HTTP API call the same functions)::

    from pathlib import Path

    import nlpipe

    settings = nlpipe.Settings(home="work", models_dir="work/models")
    store = nlpipe.open_store(settings)
    records = nlpipe.read_records(Path("data/news.jsonl"))
    nlpipe.import_records(store, "news", records, create=True)
    result = nlpipe.train_model(store, settings, "news", "topics")
    print(result.metrics["accuracy"])
    predictor = nlpipe.load_predictor(settings.models_dir, "topics")
    print(predictor.predict(["Shares rose after the central bank cut rates"])[0].predicted)

The names load their modules on first use, so ``import nlpipe`` stays light (``nlpipe --help`` imports no
scikit-learn, spaCy or SQLAlchemy).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nlpipe.version import __version__

#: Public name -> (the module that defines it, its name there). ``train_model`` is ``nlpipe.train.train``: a
#: package attribute named like a submodule would be replaced by that module once anything imports it.
_PUBLIC: dict[str, tuple[str, str]] = {
    "Settings": ("nlpipe.config", "Settings"),  # where the store, the models and the limits live (NLPIPE_* variables)
    "open_store": ("nlpipe.store.db", "open_store"),  # open, create or upgrade the database named by the settings
    "read_records": ("nlpipe.label.formats", "read_records"),  # labeled records from a file, any format
    "import_records": ("nlpipe.store.importing", "import_records"),  # store records in a dataset, with seeded splits
    "ingest_paths": ("nlpipe.ingest", "ingest_paths"),  # files, folders, archives into a dataset
    "train_model": ("nlpipe.train", "train"),  # train, evaluate on the test split and save a model version
    "evaluate_model": ("nlpipe.evaluate", "evaluate_model"),  # metrics and report of a saved model on a split
    "load_predictor": ("nlpipe.predict", "load_predictor"),  # a saved model's predictor: predict(texts) -> predictions
    "predict_inputs": ("nlpipe.predict", "predict_inputs"),  # texts, a stream or a file's documents -> predictions
    "NlpipeError": ("nlpipe.errors", "NlpipeError"),  # every error nlpipe raises, with a stable .code
}

__all__ = [
    "__version__",
    "Settings",
    "open_store",
    "read_records",
    "import_records",
    "ingest_paths",
    "train_model",
    "evaluate_model",
    "load_predictor",
    "predict_inputs",
    "NlpipeError",
]

if TYPE_CHECKING:  # the same names, seen by type checkers and editors
    from nlpipe.config import Settings
    from nlpipe.errors import NlpipeError
    from nlpipe.evaluate import evaluate_model
    from nlpipe.ingest import ingest_paths
    from nlpipe.label.formats import read_records
    from nlpipe.predict import load_predictor, predict_inputs
    from nlpipe.store.db import open_store
    from nlpipe.store.importing import import_records
    from nlpipe.train import train as train_model


def __getattr__(name: str) -> Any:
    found = _PUBLIC.get(name)
    if found is None:
        raise AttributeError(f"module 'nlpipe' has no attribute {name!r}")
    value = getattr(importlib.import_module(found[0]), found[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
