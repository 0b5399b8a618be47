"""No import cycles among the modules of nlpipe/ and api/ (issue 12, part 7).

Every ``import`` counts, top level or inside a function (an import inside a function only hides a cycle from
the first import; the arrows are the same). Importing ``a.b.c`` from outside the package ``a.b`` also runs
``a/b/__init__.py``, so that counts as an import of ``a.b`` too; a module inside a package never "imports" its
own packages that way (their ``__init__`` has started before it). Names that are not modules here (attributes,
C extensions) count as their nearest enclosing module.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_files(root: Path, packages: tuple[str, ...] = ("nlpipe", "api")) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for top in packages:
        for path in sorted((root / top).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _nearest(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _targets(importer: str, node: ast.Import | ast.ImportFrom, modules: dict[str, Path]) -> set[str]:
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            package = importer if modules[importer].name == "__init__.py" else importer.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{node.module}" if node.module else package
        else:
            base = node.module or ""
        names = [f"{base}.{alias.name}" for alias in node.names]
    found: set[str] = set()
    for name in names:
        target = _nearest(name, modules)
        if target is None:
            continue
        found.add(target)
        parent = target.rpartition(".")[0]
        while parent:  # the packages whose __init__ importing the target runs
            if parent in modules:
                found.add(parent)
            parent = parent.rpartition(".")[0]
    # a module's own packages have started importing before it: never an arrow back to them
    return {t for t in found if t != importer and not importer.startswith(t + ".")}


def import_graph(root: Path, packages: tuple[str, ...] = ("nlpipe", "api")) -> dict[str, set[str]]:
    modules = module_files(root, packages)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= _targets(name, node, modules)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_in_nlpipe_and_api() -> None:
    graph = import_graph(ROOT)
    assert len(graph) > 100  # the scan found the project's modules
    assert cycles(graph) == []


def _tree(tmp_path: Path, files: dict[str, str]) -> dict[str, set[str]]:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return import_graph(tmp_path, ("pkg",))


def test_cycle_check_sees_imports_inside_functions_and_package_inits(tmp_path) -> None:
    """The check can fail: a cycle kept alive by an import inside a function, and one closed by a package's
    ``__init__`` that re-exports a module which imports back into the package from outside."""
    graph = _tree(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg.b import x\n",
            "pkg/b.py": "def f():\n    from pkg import a\n",
            "pkg/sub/__init__.py": "from pkg.sub.reader import read\n",
            "pkg/sub/reader.py": "from pkg import ocr\nfrom . import bindings\n",
            "pkg/sub/bindings.py": "",
            "pkg/ocr.py": "def g():\n    from pkg.sub.bindings import lock\n",
            "pkg/fine.py": "import pkg.sub.bindings\nfrom pkg.sub import reader\n",
        },
    )
    assert cycles(graph) == [["pkg.a", "pkg.b"], ["pkg.ocr", "pkg.sub", "pkg.sub.reader"]]
    assert "pkg.sub" not in graph["pkg.sub.reader"]  # no arrow back to a module's own package
