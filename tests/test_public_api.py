"""``import nlpipe``: the curated public API, light to import, and the README's example runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nlpipe

ROOT = Path(__file__).resolve().parents[1]


def test_public_names_resolve_and_are_listed() -> None:
    assert sorted(dir(nlpipe)) == sorted(nlpipe.__all__)
    for name in nlpipe.__all__:
        assert getattr(nlpipe, name) is not None, name
    import importlib

    module = importlib.import_module("nlpipe.train")  # named like the function: the public name is train_model
    assert callable(nlpipe.train_model) and nlpipe.train_model is module.train


def test_import_nlpipe_is_light() -> None:
    code = (
        "import sys, nlpipe; print(sorted(m for m in ('sklearn', 'spacy', 'sqlalchemy', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_readme_python_example_runs(tmp_path) -> None:
    """The README's "Python API" example, run as written from the repository root, with the store and models in a
    temporary folder."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Python API\n", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 14
    code = code.replace('"work"', repr(str(tmp_path))).replace('"work/models"', repr(str(tmp_path / "models")))
    env = {**os.environ, "NLPIPE_TIME_BUDGET": "10"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    accuracy, predicted = out.stdout.strip().splitlines()[-2:]
    assert 0.0 <= float(accuracy) <= 1.0
    assert predicted.startswith("[")
