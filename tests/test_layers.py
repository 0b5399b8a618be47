"""The import direction of docs/architecture.md: a module imports only from its own layer or earlier ones.

Every module of ``nlpipe/`` and ``api/`` has a layer, chosen by its package alone: there are no per-module
exceptions. The scan counts every import: at module level, inside functions, under ``TYPE_CHECKING``, relative
ones, and string literals that name a submodule of the project (what ``importlib.import_module`` would load, as the
public API's lazy table in ``nlpipe/__init__.py`` does). Every violation is reported, not only the first.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Layers, earliest first: (name, the packages or modules in it).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("nlpipe.types", "nlpipe.errors", "nlpipe.error_codes", "nlpipe.config", "nlpipe.version")),
    ("readers", ("nlpipe.readers",)),  # bytes -> Document
    ("store", ("nlpipe.store",)),  # the database
    ("label", ("nlpipe.label",)),  # labeled-data formats, rules, the labeling queue
    ("metrics", ("nlpipe.metrics",)),  # metrics and reports from gold and predicted labels
    ("tasks", ("nlpipe.tasks",)),  # models, the task contract, each task's side of it, the registry
    # the library behind the commands
    (
        "commands",
        (
            "nlpipe.ingest",
            "nlpipe.upload_jobs",
            "nlpipe.artifacts",
            "nlpipe.train",
            "nlpipe.evaluate",
            "nlpipe.predict",
            "nlpipe.batch",
        ),
    ),  # fmt: skip
    ("edges", ("nlpipe.cli", "api", "nlpipe")),  # the CLI, the HTTP API and the public Python API (nlpipe/__init__)
]
#: Frameworks that belong to one edge only.
EDGE_ONLY = {"fastapi": "api", "starlette": "api", "typer": "nlpipe.cli", "rich": "nlpipe.cli", "click": "nlpipe.cli"}


def layer_of(module: str, layers: list[tuple[str, tuple[str, ...]]] = LAYERS) -> int | None:
    """The index of the layer whose longest matching prefix names ``module`` (None when none does)."""
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(layers):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), index)
    return None if best is None else best[1]


def project_modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of nlpipe/ and api/ under ``root``."""
    found = {}
    for top in ("nlpipe", "api"):
        for path in sorted((root / top).rglob("*.py")):
            parts = [p for p in path.relative_to(root).with_suffix("").parts if p != "__init__"]
            found[".".join(parts)] = path
    return found


def imports_of(module: str, path: Path, known: set[str]) -> list[tuple[int, str]]:
    """(line, module) for each project module ``module`` imports, however it is written."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []

    def add(line: int, name: str) -> None:
        while name and name not in known:  # `from nlpipe.x import function` imports nlpipe.x
            name = name.rpartition(".")[0]
        if name and name != module and (line, name) not in found:
            found.append((line, name))

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                add(node.lineno, f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value and node.value in known
        ):
            add(node.lineno, node.value)  # a module named in a string: importlib.import_module's argument
    return found


def violations(root: Path, layers: list[tuple[str, tuple[str, ...]]] = LAYERS) -> list[str]:
    """Every import against the layers, every module without a layer and every framework outside its edge."""
    modules = project_modules(root)
    known = set(modules)
    problems = []
    for module, path in modules.items():
        own = layer_of(module, layers)
        where = path.relative_to(root)
        if own is None:
            problems.append(f"{where}: {module} has no layer (add its package to LAYERS)")
            continue
        for line, imported in imports_of(module, path, known):
            theirs = layer_of(imported, layers)
            if imported.split(".")[0] == "api" and not module.startswith("api"):
                problems.append(f"{where}:{line}: {module} imports {imported}: nlpipe never imports api")
            elif theirs is not None and theirs > own:
                problems.append(f"{where}:{line}: {module} ({layers[own][0]}) imports {imported} "
                                f"({layers[theirs][0]}), a later layer")  # fmt: skip
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for name in names:
                edge = EDGE_ONLY.get(name.split(".")[0])
                if edge and module != edge and not module.startswith(edge + "."):
                    problems.append(f"{where}:{node.lineno}: {module} imports {name}, which only {edge} may")
    return problems


def test_every_module_imports_only_its_own_or_earlier_layers() -> None:
    found = violations(ROOT)
    assert not found, f"{len(found)} layer violations:\n" + "\n".join(found)


def test_the_registry_imports_every_built_in_task_where_the_scan_sees_it() -> None:
    """The registry's tasks are imported by name in nlpipe/tasks/registry.py, so the scan sees those arrows."""
    from nlpipe.tasks import registry

    modules = project_modules(ROOT)
    seen = {name for _, name in imports_of("nlpipe.tasks.registry", modules["nlpipe.tasks.registry"], set(modules))}
    for name in registry.names():
        task_module = type(registry.get(name)).__module__
        assert task_module in seen, f"task {name!r} ({task_module}) is registered without an import the scan sees"
        assert layer_of(task_module) == layer_of("nlpipe.tasks.registry")


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_scan_finds_every_kind_of_violation(tmp_path: Path) -> None:
    """The checker itself, on a small tree that breaks each rule once (and keeps one legal import of each form)."""
    _write(tmp_path, {
        "nlpipe/__init__.py": "",
        "nlpipe/types.py": "",
        "nlpipe/store/__init__.py": "",
        "nlpipe/store/db.py": "from nlpipe import types\nfrom . import rows\n",
        "nlpipe/store/rows.py": "def f():\n    from nlpipe.train import go\n",
        "nlpipe/store/lazy.py": "import importlib\nX = importlib.import_module('nlpipe.train')\n",
        "nlpipe/store/web.py": "import fastapi\nfrom ..train import go\n",
        "nlpipe/train.py": "import api.main\nfrom nlpipe.store import db\n",
        "nlpipe/orphan.py": "",
        "api/__init__.py": "",
        "api/main.py": "from nlpipe.train import go\n",
    })  # fmt: skip
    layers = [("base", ("nlpipe.types",)), ("store", ("nlpipe.store",)), ("commands", ("nlpipe.train",)),
              ("edges", ("api", "nlpipe"))]  # fmt: skip
    found = violations(tmp_path, layers)
    expected = [  # nlpipe/orphan.py is under the edges' prefix "nlpipe": it has a layer
        "nlpipe/store/rows.py:2: nlpipe.store.rows (store) imports nlpipe.train (commands), a later layer",
        "nlpipe/store/lazy.py:2: nlpipe.store.lazy (store) imports nlpipe.train (commands), a later layer",
        "nlpipe/store/web.py:1: nlpipe.store.web imports fastapi, which only api may",
        "nlpipe/store/web.py:2: nlpipe.store.web (store) imports nlpipe.train (commands), a later layer",
        "nlpipe/train.py:1: nlpipe.train imports api.main: nlpipe never imports api",
    ]
    assert sorted(found) == sorted(expected), found
    found = violations(tmp_path, layers[:-1])  # without the edges, api/ and the top package have no layer
    assert "api/main.py: api.main has no layer (add its package to LAYERS)" in found


@pytest.mark.parametrize("command", ["from nlpipe.cli.main import app", "import nlpipe"])
def test_cli_help_and_import_nlpipe_do_not_import_heavy_libraries(command: str) -> None:
    import subprocess
    import sys

    code = (
        f"import sys; {command}; "
        "heavy = [m for m in ('sklearn', 'fastapi', 'sqlalchemy', 'matplotlib', 'spacy', 'pdfplumber') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
