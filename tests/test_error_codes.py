"""Every error or warning code the code base uses is in the catalogue (:mod:`nlpipe.error_codes`) with the class
it is raised with, every catalogued code is used, and the README's table is the catalogue's.

How the scanner finds codes (``ast``, no imports of the scanned modules):

- Every string literal that is a whole code (``"E178"``, ``"W301"``) in a ``.py`` file under ``nlpipe/`` or
  ``api/`` is a use, wherever it sits (a raise, a helper call, a dict of codes, a tuple returned to a caller).
  Comparisons (``exc.code != "E153"``) read a code rather than produce it and are not counted.
- The class is taken where it is statically visible: a call of an ``NlpipeError`` subclass with the code as its
  first argument (or ``code=``), or a call of an *error factory*: a function or method of the scanned tree that
  passes one of its parameters, as the code, on to an error class, to a parameter that names the class (``kind``,
  ``error``; the class is then the argument given for it at the call, else its default) or to another factory.
  Factories are found by following calls (``_skip`` -> ``fail`` -> ``kind(code, ...)``), by name within the
  module, through ``from ... import`` and ``module.helper(...)``, and ``obj.fail(...)`` as a method of the
  module's classes, so helpers may move between files.
- Calls of a record class with ``code`` and ``level`` fields (``Check("warning", "W301", ...)``) are training
  checks: a ``warning`` is catalogued with the kind ``warning``.

What it cannot see: codes built at run time (``api/errors.py`` makes ``E6xx`` from an HTTP status it has no
entry for), the class of a code that travels as data (tuples, dicts, a ``Check`` of level ``error`` raised later,
an ingest failure re-raised by ``ingest.documents_for_prediction`` as ``InputError``), and a class chosen at run
time (``kind=None`` defaults resolved in the body).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import nlpipe.errors
from nlpipe import error_codes

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("nlpipe", "api")
CATALOGUE_FILE = Path(error_codes.__file__).resolve()
WHOLE_CODE = re.compile(rf"^(?:{error_codes.PATTERN.pattern})$")


# ------------------------------------------------------------------------------------------------- scanner


@dataclass(frozen=True)
class Use:
    code: str
    where: str  # "path:line"
    kind: str | None  # the class it is raised with, "warning", or None when that is not statically visible


@dataclass
class _Function:
    module: str
    node: ast.FunctionDef | ast.AsyncFunctionDef
    params: list[str]  # positional parameters as a caller passes them (no self/cls)
    kwonly: list[str]
    defaults: dict[str, ast.expr]


@dataclass(frozen=True)
class _Factory:
    code_at: int  # position of the code parameter
    code_name: str
    cls: str | None = None  # the class, when fixed
    kind_param: str | None = None  # else the parameter that names it
    kind_at: int | None = None  # that parameter's position (None: keyword-only)
    kind_default: str | None = None  # the class when the caller does not pass it


@dataclass
class _Module:
    name: str
    path: Path
    tree: ast.Module
    functions: dict[str, _Function] = field(default_factory=dict)  # module-level and nested, by name
    methods: dict[str, list[_Function]] = field(default_factory=lambda: defaultdict(list))  # by method name
    imported: dict[str, tuple[str, str]] = field(default_factory=dict)  # local name -> (module, name)
    module_aliases: dict[str, str] = field(default_factory=dict)  # local name -> module (import a.b as c)
    parents: dict[ast.AST, ast.AST] = field(default_factory=dict)
    classes: list[ast.ClassDef] = field(default_factory=list)
    codes: list[ast.Constant] = field(default_factory=list)  # string literals that are a whole code
    calls: dict[int, list[ast.Call]] = field(default_factory=lambda: defaultdict(list))  # by id(function node)
    outside: list[ast.Call] = field(default_factory=list)  # calls at module or class level
    enclosing: dict[int, _Function] = field(default_factory=dict)  # id(call) -> its innermost function


@dataclass
class Scan:
    uses: list[Use]
    error_classes: set[str]

    def by_code(self) -> dict[str, list[Use]]:
        out: dict[str, list[Use]] = defaultdict(list)
        for u in self.uses:
            out[u.code].append(u)
        return out


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve_relative(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _function(module: str, node: ast.FunctionDef | ast.AsyncFunctionDef, method: bool) -> _Function:
    a = node.args
    every = [p.arg for p in a.posonlyargs + a.args]
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)
    positional = every[1:] if method and not static else every
    defaults = dict(zip(every[len(every) - len(a.defaults) :], a.defaults, strict=True))
    defaults |= {p.arg: d for p, d in zip(a.kwonlyargs, a.kw_defaults, strict=True) if d is not None}
    return _Function(module, node, positional, [p.arg for p in a.kwonlyargs], defaults)


def _load(root: Path, packages: tuple[str, ...]) -> dict[str, _Module]:
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if path.resolve() == CATALOGUE_FILE:
                continue  # the catalogue names every code; it is not a use
            name = _module_name(root, path)
            mod = _Module(name, path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
            nested: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
            calls: list[ast.Call] = []
            for node in ast.walk(mod.tree):
                for child in ast.iter_child_nodes(node):
                    mod.parents[child] = node
                if isinstance(node, ast.Call):
                    calls.append(node)
                elif isinstance(node, ast.Constant) and isinstance(node.value, str) and WHOLE_CODE.match(node.value):
                    mod.codes.append(node)
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    nested.append(node)
                elif isinstance(node, ast.ClassDef):
                    mod.classes.append(node)
                    for item in node.body:
                        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                            mod.methods[item.name].append(_function(name, item, method=True))
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.asname:
                            mod.module_aliases[alias.asname] = alias.name
                elif isinstance(node, ast.ImportFrom):
                    source = _resolve_relative(name, path.name == "__init__.py", node)
                    for alias in node.names:
                        mod.imported[alias.asname or alias.name] = (source, alias.name)
            for node in nested:
                if not isinstance(mod.parents.get(node), ast.ClassDef):
                    mod.functions.setdefault(node.name, _function(name, node, method=False))
            for call in calls:
                fn = _enclosing_function(mod, call)
                if fn is None:
                    mod.outside.append(call)
                else:
                    mod.calls[id(fn.node)].append(call)
                    mod.enclosing[id(call)] = fn
            modules[name] = mod
    return modules


def _error_classes(modules: dict[str, _Module]) -> set[str]:
    """``NlpipeError`` and every class of the scanned tree that derives from it (by name, to a fixed point)."""
    known = {"NlpipeError", *nlpipe.errors.__all__}
    bases: dict[str, set[str]] = defaultdict(set)
    for mod in modules.values():
        for node in mod.classes:
            for b in node.bases:
                bases[node.name].add(b.id if isinstance(b, ast.Name) else getattr(b, "attr", ""))
    while True:
        more = {name for name, bs in bases.items() if bs & known} - known
        if not more:
            return known
        known |= more


def _record_classes(modules: dict[str, _Module]) -> dict[str, list[str]]:
    """Classes with annotated ``level`` and ``code`` fields (training checks): name -> field order."""
    out = {}
    for mod in modules.values():
        for node in mod.classes:
            fields = [s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
            if {"level", "code"} <= set(fields):
                out[node.name] = fields
    return out


class _Resolver:
    def __init__(self, modules: dict[str, _Module]) -> None:
        self.modules = modules
        self.classes = _error_classes(modules)
        self.records = _record_classes(modules)
        self.factories: dict[int, _Factory] = {}  # id(_Function.node) -> factory
        self._find_factories()

    def _function_named(self, mod: _Module, name: str, hops: int = 5) -> _Function | None:
        """The function a name stands for in a module: defined there, or imported (through re-exports)."""
        if name in mod.functions:
            return mod.functions[name]
        if name in mod.imported and hops:
            source, original = mod.imported[name]
            if source in self.modules:
                return self._function_named(self.modules[source], original, hops - 1)
        return None

    def _module_of(self, mod: _Module, local: str) -> str | None:
        """The scanned module a local name stands for (``import a.b as c``, ``from a import b``), if any."""
        if local in mod.module_aliases:
            name = mod.module_aliases[local]
        elif local in mod.imported:
            name = ".".join(mod.imported[local])
        else:
            return None
        return name if name in self.modules else None

    def callee(self, mod: _Module, func: ast.expr, inside: _Function | None) -> tuple[str, object] | None:
        """What a call's function is: ("class", name), ("param", name), ("factory", _Factory), ("record", fields)."""
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name is None:
            return None
        if name in self.classes:
            return "class", name
        if name in self.records:
            return "record", self.records[name]
        if isinstance(func, ast.Name):
            if inside is not None and (name in inside.params or name in inside.kwonly):
                return "param", name
            fn = self._function_named(mod, name)
            candidates = [fn] if fn is not None else []
        elif isinstance(func.value, ast.Name) and self._module_of(mod, func.value.id) is not None:
            fn = self.modules[str(self._module_of(mod, func.value.id))].functions.get(name)  # helpers.fail(...)
            candidates = [fn] if fn is not None else []
        else:
            candidates = mod.methods.get(name, [])  # obj.fail(...): a method of this module's classes
        found = {self.factories.get(id(f.node)) for f in candidates} - {None}
        return ("factory", found.pop()) if len(found) == 1 else None

    @staticmethod
    def arg(call: ast.Call, at: int | None, name: str | None) -> ast.expr | None:
        if at is not None and at < len(call.args) and not any(isinstance(a, ast.Starred) for a in call.args[: at + 1]):
            return call.args[at]
        return next((k.value for k in call.keywords if k.arg == name), None)

    def class_given(self, value: ast.expr | None) -> str | None:
        name = value.id if isinstance(value, ast.Name) else value.attr if isinstance(value, ast.Attribute) else None
        return name if name in self.classes else None

    def code_slot(self, what: tuple[str, object]) -> tuple[int | None, str | None]:
        kind, info = what
        if kind == "factory":
            assert isinstance(info, _Factory)
            return info.code_at, info.code_name
        if kind == "record":
            assert isinstance(info, list)
            return info.index("code"), "code"
        return 0, "code"

    def _find_factories(self) -> None:
        functions = [f for m in self.modules.values() for f in [*m.functions.values(), *sum(m.methods.values(), [])]]
        for _ in range(10):  # factories calling factories: iterate to a fixed point
            changed = False
            for fn in functions:
                if id(fn.node) in self.factories:
                    continue
                made = self._as_factory(self.modules[fn.module], fn)
                if made is not None:
                    self.factories[id(fn.node)] = made
                    changed = True
            if not changed:
                return

    def _as_factory(self, mod: _Module, fn: _Function) -> _Factory | None:
        params = fn.params + fn.kwonly
        for call in mod.calls.get(id(fn.node), []):
            what = self.callee(mod, call.func, fn)
            if what is None or what[0] == "record":
                continue
            at, name = self.code_slot(what)
            value = self.arg(call, at, name)
            if not (isinstance(value, ast.Name) and value.id in params):
                continue
            code = value.id
            code_at = fn.params.index(code) if code in fn.params else -1
            kind, info = what
            if kind == "class":
                return _Factory(code_at, code, cls=str(info))
            if kind == "param":
                return self._kind_param(fn, code_at, code, str(info))
            assert isinstance(info, _Factory)
            if info.cls is not None:
                return _Factory(code_at, code, cls=info.cls)
            given = self.arg(call, info.kind_at, info.kind_param)
            if given is None:
                return _Factory(code_at, code, cls=info.kind_default)
            if isinstance(given, ast.Name) and given.id in params:
                return self._kind_param(fn, code_at, code, given.id)
            return _Factory(code_at, code, cls=self.class_given(given))
        return None

    def _kind_param(self, fn: _Function, code_at: int, code: str, kind: str) -> _Factory:
        at = fn.params.index(kind) if kind in fn.params else None
        return _Factory(
            code_at, code, kind_param=kind, kind_at=at, kind_default=self.class_given(fn.defaults.get(kind))
        )

    def kind_at_call(self, call: ast.Call, what: tuple[str, object], inside: _Function | None) -> str | None:
        kind, info = what
        if kind == "class":
            return str(info)
        if kind == "param":
            return self.class_given(inside.defaults.get(str(info))) if inside else None
        if kind == "record":
            assert isinstance(info, list)
            level = self.arg(call, info.index("level"), "level")
            return "warning" if isinstance(level, ast.Constant) and level.value == "warning" else None
        assert isinstance(info, _Factory)
        if info.cls is not None:
            return info.cls
        given = self.arg(call, info.kind_at, info.kind_param)
        return info.kind_default if given is None else self.class_given(given)


def _enclosing_function(mod: _Module, node: ast.AST) -> _Function | None:
    while node in mod.parents:
        node = mod.parents[node]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if isinstance(mod.parents.get(node), ast.ClassDef):
                return next((f for f in mod.methods[node.name] if f.node is node), None)
            fn = mod.functions.get(node.name)
            return fn if fn is not None and fn.node is node else _function(mod.name, node, method=False)
    return None


def scan(root: Path = ROOT, packages: tuple[str, ...] = SCANNED) -> Scan:
    modules = _load(root, packages)
    resolver = _Resolver(modules)
    uses = []
    for mod in modules.values():
        rel = mod.path.relative_to(root)
        placed: set[int] = set()
        for call in [*mod.outside, *(c for calls in mod.calls.values() for c in calls)]:
            inside = mod.enclosing.get(id(call))
            what = resolver.callee(mod, call.func, inside)
            if what is None:
                continue
            value = resolver.arg(call, *resolver.code_slot(what))
            if isinstance(value, ast.Constant) and isinstance(value.value, str) and WHOLE_CODE.match(value.value):
                uses.append(Use(value.value, f"{rel}:{value.lineno}", resolver.kind_at_call(call, what, inside)))
                placed.add(id(value))
        for node in mod.codes:
            if id(node) not in placed and not isinstance(mod.parents.get(node), ast.Compare):
                uses.append(Use(node.value, f"{rel}:{node.lineno}", None))
    return Scan(uses, resolver.classes)


SCAN = scan()
USES = SCAN.by_code()
CATALOGUED = error_codes.CODES
ERROR_CLASSES = SCAN.error_classes


def _sites(uses: list[Use]) -> str:
    return ", ".join(f"{u.where} ({u.kind or 'class not visible'})" for u in uses)


# --------------------------------------------------------------------------------------------- the checks


def test_error_codes_scanner_sees_the_code_base():
    """Guards the checks below against a scanner that stopped finding codes or classes (files moved, helpers
    renamed): it must see hundreds of uses and the class of nearly every code raised as an exception."""
    assert len(SCAN.uses) > 300 and len(USES) > 200
    raised = [c for c, (kind, _) in CATALOGUED.items() if kind in ERROR_CLASSES]
    visible = [c for c in raised if any(u.kind is not None for u in USES.get(c, []))]
    assert len(visible) >= 0.9 * len(raised), sorted(set(raised) - set(visible))


def test_error_codes_every_used_code_is_catalogued():
    missing = {code: _sites(uses) for code, uses in USES.items() if code not in CATALOGUED}
    assert not missing, f"codes used but not in nlpipe/error_codes.py CODES: {missing}"


def test_error_codes_each_code_has_one_class():
    """A code raised with class X is catalogued with X; a second class only where ALSO_RAISED_AS says why."""
    wrong = {}
    for code, uses in USES.items():
        if code not in CATALOGUED:
            continue  # reported by the test above
        seen = {u.kind for u in uses} - {None}
        expected = {CATALOGUED[code][0]}
        if code in error_codes.ALSO_RAISED_AS:
            expected.add(error_codes.ALSO_RAISED_AS[code][0])
            if seen != expected:
                wrong[code] = f"catalogued as {sorted(expected)} (ALSO_RAISED_AS), raised as {sorted(seen)}"
        elif not seen <= expected:
            wrong[code] = f"catalogued as {CATALOGUED[code][0]}, raised at {_sites(uses)}"
    assert not wrong, wrong


def test_error_codes_every_catalogued_code_is_used():
    dead = sorted(c for c in CATALOGUED if c not in USES and c not in error_codes.RESERVED)
    assert not dead, f"catalogued but never used (remove them, or mark them RESERVED with a reason): {dead}"
    stale = sorted(c for c in error_codes.RESERVED if c in USES or c not in CATALOGUED)
    assert not stale, f"RESERVED codes that are used, or not catalogued: {stale}"
    assert all(reason.strip() for reason in error_codes.RESERVED.values())


def test_error_codes_catalogue_entries_are_well_formed():
    for code, (kind, meaning) in CATALOGUED.items():
        assert WHOLE_CODE.match(code), code
        assert code[:2] in error_codes.FAMILIES, f"{code}: no family {code[:2]} in FAMILIES"
        assert kind in ERROR_CLASSES or kind in error_codes.OTHER_KINDS, f"{code}: unknown kind {kind!r}"
        assert (kind == "warning") == code.startswith("W"), f"{code}: W codes, and only they, are warnings"
        assert meaning.strip() and "\n" not in meaning and "|" not in meaning, f"{code}: one line, no '|'"
    for code, (other, why) in error_codes.ALSO_RAISED_AS.items():
        assert code in CATALOGUED and other in ERROR_CLASSES and other != CATALOGUED[code][0] and why.strip()
    meanings = [m for _, m in CATALOGUED.values()]
    assert len(set(meanings)) == len(meanings), "two codes with one meaning"


def test_error_codes_are_defined_once():
    """A dict literal keeps the last of two equal keys without a word: read the source for duplicates."""
    tree = ast.parse(CATALOGUE_FILE.read_text(encoding="utf-8"))
    literal = next(
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.target.id == "CODES"
    )
    assert isinstance(literal, ast.Dict)
    keys = [k.value for k in literal.keys if isinstance(k, ast.Constant)]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    assert not twice, f"codes defined more than once in CODES (the last one wins silently): {twice}"
    assert len(keys) == len(literal.keys) == len(CATALOGUED), "CODES is one dict literal with a code per key"


def test_error_codes_readme_table_is_the_catalogue():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert error_codes.markdown() in readme, "README's error code table is stale: run `make error-codes`"
    for code in CATALOGUED:
        assert f"| {code} |" in readme, code
    mentioned = set(re.findall(rf"\b(?:{error_codes.PATTERN.pattern})\b", readme))
    assert mentioned <= set(CATALOGUED), (
        f"README mentions codes that do not exist: {sorted(mentioned - set(CATALOGUED))}"
    )


def test_error_codes_markdown_command():
    out = subprocess.run(
        [sys.executable, "-m", "nlpipe.error_codes", "--markdown"], capture_output=True, text=True, check=True
    )
    assert out.stdout == error_codes.markdown()


# ---------------------------------------------------------------------------------- the scanner on its own


FAKE = """
from nlpipe.errors import ConfigError, InputError, LimitError, NlpipeError
from fake import fail as reexported, helpers
from fake.helpers import fail


class Check:
    level: str
    code: str
    message: str


class Where:
    def fail(self, code, message, kind=ConfigError):
        return fail(code, message, kind=kind)


def _skip(source, code, why):
    return fail(code, why)


def _param(code, name):
    return InputError(code, name)


def run(where, exc):
    raise InputError("E901", "direct")
    raise LimitError(message="m", code="E902")
    raise fail("E903", "default kind")
    raise fail("E904", "given kind", kind=LimitError)
    raise _skip("src", "E905", "through two helpers")
    raise where.fail("E906", "method, default kind")
    raise where.fail("E907", "method, given kind", LimitError)
    raise _param("E908", "x")
    Check("warning", "W901", "a warning")
    code, hint = ("E909", "a code travelling as data")
    raise helpers.fail("E910", "through the module", kind=ConfigError)
    raise reexported("E911", "re-exported by the package")
    if exc.code == "E999":
        raise
"""

HELPERS = """
from nlpipe.errors import InputError, NlpipeError


def fail(code, message, *, kind: type[NlpipeError] = InputError):
    return kind(code, message)
"""


def test_error_codes_scanner_on_a_made_up_tree(tmp_path):
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "__init__.py").write_text("from fake.helpers import fail\n")
    (tmp_path / "fake" / "helpers.py").write_text(HELPERS)
    (tmp_path / "fake" / "use.py").write_text(FAKE)
    found = {u.code: u.kind for u in scan(tmp_path, ("fake",)).uses}
    assert found == {
        "E901": "InputError",
        "E902": "LimitError",
        "E903": "InputError",
        "E904": "LimitError",
        "E905": "InputError",
        "E906": "ConfigError",
        "E907": "LimitError",
        "E908": "InputError",
        "W901": "warning",
        "E909": None,
        "E910": "ConfigError",
        "E911": "InputError",
    }
