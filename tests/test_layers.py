"""The import direction of ARCHITECTURE.md: earlier layers never import later ones; nlpipe never imports api."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Lower number = earlier layer. A module may import modules of its own layer or earlier ones.
LAYERS = {
    "nlpipe.types": 0,
    "nlpipe.errors": 0,
    "nlpipe.config": 0,
    "nlpipe.readers": 1,
    "nlpipe.store": 1,
    "nlpipe.store.jobs": 1,  # jobs with progress counts (uploads now, batch prediction later): store layer
    "nlpipe.label": 1,
    "nlpipe.tasks": 1,
    # each task's glue (store, evaluation metrics and reports) and the registry that imports them: train's layer
    "nlpipe.tasks.classify.task": 2,
    "nlpipe.tasks.entities.task": 2,
    "nlpipe.tasks.sentiment.task": 2,
    "nlpipe.tasks.layout.task": 2,
    "nlpipe.tasks.registry": 2,
    "nlpipe.train": 2,
    "nlpipe.ingest": 2,
    "nlpipe.upload_jobs": 2,  # asynchronous uploads: stage files for a job that runs the ingest later
    "nlpipe.evaluate": 2,
    "nlpipe.artifacts": 2,
    "nlpipe.predict": 3,
    "nlpipe.batch": 3,
    "nlpipe.cli": 4,
}
# Frameworks that belong to the edges only.
EDGE_ONLY = {"fastapi": "api", "starlette": "api", "typer": "nlpipe.cli", "rich": "nlpipe.cli", "click": "nlpipe.cli"}


def _layer(module: str) -> int | None:
    for prefix, layer in sorted(LAYERS.items(), key=lambda kv: -len(kv[0])):
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return None


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{a.name}" for a in node.names]
    return found


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted((ROOT / "nlpipe").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        out.append((".".join(parts), path))
    return out


@pytest.mark.parametrize("module, path", _modules(), ids=[m for m, _ in _modules()])
def test_layers_import_direction(module, path):
    own = _layer(module)
    for imported in _imports(path):
        assert not imported.startswith("api"), f"{module} imports {imported}: nlpipe must never import api"
        top = imported.split(".")[0]
        if top in EDGE_ONLY:
            assert module.startswith(EDGE_ONLY[top]), f"{module} imports {top}, which only {EDGE_ONLY[top]} may"
        theirs = _layer(imported)
        if own is not None and theirs is not None and module != "nlpipe":
            assert theirs <= own, f"{module} (layer {own}) imports {imported} (layer {theirs})"


def test_layers_cli_help_does_not_import_heavy_libraries():
    import subprocess
    import sys

    code = (
        "import sys; from nlpipe.cli.main import app; "
        "heavy = [m for m in ('sklearn', 'fastapi', 'sqlalchemy', 'matplotlib', 'spacy', 'pdfplumber') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
