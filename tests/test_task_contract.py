"""The task contract is real: a fifth task defined here, registered at run time, goes through `nlpipe train`,
`nlpipe evaluate`, `nlpipe predict` and the API's predict route with no other file knowing of it.

The task, ``keywords``, learns each label's most telling words from the train split and predicts the label whose
words a text uses most; it saves itself as one JSON file (no skops, no pickle).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.main import create_app
from nlpipe.cli.main import app
from nlpipe.config import get_settings
from nlpipe.errors import InputError
from nlpipe.store.datasets import LabeledData, load_dataset
from nlpipe.store.db import Store
from nlpipe.tasks import registry
from nlpipe.tasks.base import (
    BasePredictor,
    Check,
    Task,
    TrainContext,
    TrainingData,
    check_texts,
    reject_unknown_options,
)
from nlpipe.types import LabelScore, Prediction
from tests.conftest import DATA

runner = CliRunner()
WORD = re.compile(r"[a-z]{3,}")


class KeywordModel:
    """Per label, its ``top`` most frequent words that are rarer in the other labels."""

    def __init__(self, top: int = 30) -> None:
        self.top = top
        self.words_: dict[str, list[str]] = {}

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> KeywordModel:
        counts: dict[str, Counter] = {}
        for text, label in zip(texts, labels, strict=True):
            counts.setdefault(label, Counter()).update(WORD.findall(text.lower()))
        total = sum(counts.values(), Counter())
        for label, c in sorted(counts.items()):
            ranked = sorted(c, key=lambda w: (-(c[w] / total[w]) * c[w], w))
            self.words_[label] = ranked[: self.top]
        return self

    def scores(self, text: str) -> dict[str, float]:
        words = set(WORD.findall(text.lower()))
        hits = {label: len(words & set(ws)) for label, ws in self.words_.items()}
        total = sum(hits.values()) or 1
        return {label: n / total for label, n in hits.items()}

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [max(sorted(s), key=s.__getitem__) for s in map(self.scores, texts)]


class KeywordPredictor(BasePredictor):
    task = "keywords"
    options = ("top_k",)

    def predict(self, texts: Sequence[str], *, top_k: int | None = None) -> list[Prediction]:
        check_texts(texts)
        out = []
        for text in texts:
            scores = sorted(self.model.scores(text).items(), key=lambda kv: (-kv[1], kv[0]))[: top_k or None]
            out.append(Prediction(labels=[LabelScore(k, v) for k, v in scores], predicted=[scores[0][0]]))
        return out


def _single(part: LabeledData) -> tuple[list[str], list[str]]:
    keep = [i for i, labs in enumerate(part.labels) if len(labs) == 1]
    return [part.texts[i] for i in keep], [part.labels[i][0] for i in keep]


class KeywordTask(Task):
    name = "keywords"
    format = "tests.keywords.v1"
    options = ("top",)
    predictor = KeywordPredictor

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        reject_unknown_options(options, self.options, task=self.name, code="E315", listing=".")
        return {"top": options.get("top") or 30}

    def read_training_data(self, ctx: TrainContext) -> TrainingData:
        with ctx.store.session() as s:
            data = load_dataset(s, ctx.dataset)
        test = data.subset("test")
        return TrainingData(train=data.subset(["train", "validation"]), validation=None, test=test, reference=None,
                            has_test=bool(len(test)), fingerprint=f"{len(data)} documents")  # fmt: skip

    def check_data(self, data: TrainingData, ctx: TrainContext) -> list[Check]:
        return [] if len(data.train) else [Check("error", "E310", "no training documents")]

    def fit(self, data: TrainingData, ctx: TrainContext, checks: list[Check]) -> Any:
        if ctx.progress:
            ctx.progress("count words", 0, 1)
        return KeywordModel(ctx.options["top"]).fit(*_single(data.train))

    def model_meta(self, model: Any, data: TrainingData, ctx: TrainContext) -> dict[str, Any]:
        return {"labels": sorted(model.words_), "multi_label": False}

    def headline(self, metrics: dict[str, Any] | None) -> dict[str, Any]:
        return {"metrics": {"accuracy": metrics["accuracy"]} if metrics else None}

    def training_fields(self, model: Any, data: TrainingData, ctx: TrainContext, checks: list[Check]) -> dict:
        return {"n_train": len(data.train)}

    def read_split(self, store: Store, dataset: str, split: str) -> tuple[Any, Any]:
        with store.session() as s:
            data = load_dataset(s, dataset)
        part = data if split == "all" else data.subset(split)
        if not len(part):
            raise InputError("E531", f"no documents in {split!r}", field="split")
        return part, None

    def score(
        self,
        model: Any,
        meta: Mapping[str, Any],
        part: Any,
        reference: Any,
        *,
        out_dir: Path,
        title: str,
        report_meta: dict[str, Any],
    ) -> tuple[dict[str, Any], Path, int]:
        texts, truth = _single(part)
        right = sum(p == t for p, t in zip(model.predict(texts), truth, strict=True))
        metrics = {"accuracy": right / len(truth), "n": len(truth)}
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "metrics.json").write_text(json.dumps(metrics))
        return metrics, out_dir / "metrics.json", len(part) - len(truth)

    def save_artifact(self, model: Any, folder: Path) -> None:
        (folder / "keywords.json").write_text(json.dumps({"top": model.top, "words": model.words_}))

    def load_artifact(self, folder: Path, meta: dict[str, Any]) -> Any:
        saved = json.loads((folder / "keywords.json").read_text())
        model = KeywordModel(saved["top"])
        model.words_ = saved["words"]
        return model


@pytest.fixture
def keywords_task():
    task = registry.register(KeywordTask())
    yield task
    registry.unregister(task.name)


def ok(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return result


def test_task_contract_a_fifth_task_trains_evaluates_and_predicts(keywords_task):
    ok("datasets", "import", "news", str(DATA / "news.jsonl"))
    trained = ok("train", "news", "--name", "kw", "--task", "keywords")
    assert "Saved kw v1" in trained.output
    meta = json.loads((get_settings().models_dir / "kw" / "v1" / "meta.json").read_text())
    assert meta["task"] == "keywords" and meta["format"] == "tests.keywords.v1"
    assert meta["training"]["dataset"] == "news" and meta["training"]["n_train"] > 0
    assert (get_settings().models_dir / "kw" / "v1" / "keywords.json").is_file()

    metrics = json.loads(ok("evaluate", "kw", "news", "--json").output)
    assert metrics["accuracy"] > 0.5 and metrics["accuracy"] == meta["metrics"]["accuracy"]

    sports = "The striker scored twice as the home team won the cup final in extra time"
    out = json.loads(ok("predict", "kw", sports, "--top-k", "2").output)
    assert out["model"] == "kw" and out["predicted"] == ["sports"] and len(out["labels"]) == 2
    refused = runner.invoke(app, ["predict", "kw", sports, "--explain"])
    assert refused.exit_code == 1 and "[E415]" in refused.stderr

    with TestClient(create_app(get_settings())) as client:
        r = client.post("/v1/models/kw:predict", json={"text": sports})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"][0]["predicted"] == ["sports"]


def test_task_contract_unregistered_tasks_are_unknown(keywords_task):
    registry.unregister("keywords")
    result = runner.invoke(app, ["train", "news", "--name", "kw", "--task", "keywords"])
    assert result.exit_code == 1 and "[E313]" in result.stderr
    registry.register(keywords_task)
    assert "keywords" in registry.names() and registry.for_format("tests.keywords.v1") is keywords_task
