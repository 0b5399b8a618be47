"""Rules files: labels from keywords, phrases, regular expressions and token patterns; entities from gazetteers.

A rules file is TOML (``.toml``) or YAML (``.yaml``/``.yml``); both hold the same keys. In TOML::

    [options]                      # all optional
    match = "lower"                # default matching of keywords, phrases and terms: lower | lemma | exact
    multi_label = false            # true: every label with >= min_votes votes; false: the one with the most
    min_votes = 1
    lemmas = "auto"                # auto | lookup | suffix (how "lemma" matching finds lemmas, see below)

    [labels.billing]               # one table per document label
    keywords = ["invoice", "refund"]                 # single words
    phrases = ["direct debit", "charged twice"]      # several words
    regex = ['£\\s?\\d+']                             # Python regular expressions searched in the text
    patterns = [[{LOWER = "not"}, {LEMMA = "work"}]] # spaCy Matcher token patterns
    match = "lemma"                                  # overrides options.match for this label

    [entities.PRODUCT]             # one table per entity type: a gazetteer
    terms = ["mobile app", "broadband"]
    match = "exact"

    [[entity_lists]]               # AWS Comprehend entity lists: CSV with header Text,Type
    file = "gazetteers/products.csv"   # relative to the rules file
    match = "lower"

Each label table gives one *rule* per kind it uses, named ``<label>.<kind>`` (``billing.keywords``,
``billing.regex``...); each gazetteer one rule named ``entities.<TYPE>`` (``<file name>:<TYPE>`` for a list
file). A rule fires on a document when any of its items matches. Rules vote: every label rule that fires gives
its label one vote (:mod:`nlpipe.label.rules_match`).

Matching: ``lower`` compares lower-cased tokens (case-insensitive), ``exact`` the tokens as written, ``lemma``
lower-cased lemmas of text and pattern alike, so "refunds" and "refunded" match the keyword "refund". Lemmas
come from spaCy's English lookup table (package ``spacy-lookups-data``, read offline) when it is installed
(``lemmas = "auto"`` or ``"lookup"``); otherwise (or with ``lemmas = "suffix"``) from nlpipe's suffix rules,
which strip regular English endings (-s, -es, -ies, -ed, -ing, final -e, doubled consonants) from text and
patterns alike: regular forms match, irregular ones ("bought" / "buy") do not. Regular expressions run over
the whole text (so they can cross tokens) and are case-sensitive unless they start with ``(?i)``.

A mistake stops with a coded error naming the file and line (E700-E712); see :func:`load_rules`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlpipe.errors import ConfigError, NlpipeError
from nlpipe.readers.textfile import fail, read_text

__all__ = ["MATCH_MODES", "LabelRule", "EntityRule", "RuleSet", "load_rules", "parse_rules"]

MATCH_MODES: tuple[str, ...] = ("lower", "lemma", "exact")
LEMMA_SOURCES: tuple[str, ...] = ("auto", "lookup", "suffix")
LABEL_KINDS: tuple[str, ...] = ("keywords", "phrases", "regex", "patterns")
_TOP_KEYS = ("options", "labels", "entities", "entity_lists")
_OPTION_KEYS = ("match", "multi_label", "min_votes", "lemmas")


@dataclass(frozen=True)
class LabelRule:
    """One labeling rule: ``items`` (words, phrases or regex sources) or ``patterns`` vote for ``label``."""

    name: str
    label: str
    kind: str
    items: tuple[str, ...] = ()
    patterns: tuple[Any, ...] = ()
    match: str = "lower"
    line: int | None = None


@dataclass(frozen=True)
class EntityRule:
    """A gazetteer: every occurrence of one of ``terms`` is a span of type ``label``."""

    name: str
    label: str
    terms: tuple[str, ...]
    match: str = "lower"
    line: int | None = None


@dataclass
class RuleSet:
    path: Path
    label_rules: list[LabelRule] = field(default_factory=list)
    entity_rules: list[EntityRule] = field(default_factory=list)
    multi_label: bool = False
    min_votes: int = 1
    lemmas: str = "auto"

    @property
    def labels(self) -> list[str]:
        return list(dict.fromkeys(r.label for r in self.label_rules))

    @property
    def entity_types(self) -> list[str]:
        return list(dict.fromkeys(r.label for r in self.entity_rules))

    def uses_lemmas(self) -> bool:
        in_patterns = any(
            str(key).upper() == "LEMMA" for r in self.label_rules for pat in r.patterns for tok in pat for key in tok
        )
        rules: list[LabelRule | EntityRule] = [*self.label_rules, *self.entity_rules]
        return in_patterns or any(r.match == "lemma" for r in rules)


# ----------------------------------------------------------------------------------------------- locating


Path_ = tuple[Any, ...]


def _toml_index(text: str) -> dict[Path_, int]:
    """Line of every table header and key in a TOML source (keys of inline tables are not indexed)."""
    index: dict[Path_, int] = {}
    counts: dict[Path_, int] = {}
    table: Path_ = ()
    key_re = re.compile(r"""^\s*([A-Za-z0-9_\-."' ]+?)\s*=""")
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s.startswith("["):
            try:
                parsed = tomllib.loads(s)
            except tomllib.TOMLDecodeError:
                continue
            path: list[Any] = []
            node: Any = parsed
            while isinstance(node, dict) and len(node) == 1:
                key = next(iter(node))
                path.append(key)
                node = node[key]
                if isinstance(node, list):  # [[array.of.tables]]: the k-th occurrence is index k
                    k = counts.get(tuple(path), 0)
                    counts[tuple(path)] = k + 1
                    path.append(k)
                    node = node[0]
            table = tuple(path)
            index.setdefault(table, n)
            continue
        m = key_re.match(line)
        if m:
            try:
                parsed = tomllib.loads(f"{m.group(1)} = 0")
            except tomllib.TOMLDecodeError:
                continue
            path = list(table)
            node = parsed
            while isinstance(node, dict):
                key = next(iter(node))
                path.append(key)
                node = node[key]
            index.setdefault(tuple(path), n)
    return index


def _yaml_index(node: Any, path: Path_ = (), index: dict[Path_, int] | None = None) -> dict[Path_, int]:
    """Line of every key and list item in a composed YAML node tree."""
    import yaml

    index = {} if index is None else index
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            p = (*path, key_node.value)
            index.setdefault(p, key_node.start_mark.line + 1)
            _yaml_index(value_node, p, index)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            index.setdefault((*path, i), item.start_mark.line + 1)
            _yaml_index(item, (*path, i), index)
    return index


class _Where:
    """Finds the line of a key path; TOML list items are looked up by their text below the key."""

    def __init__(self, path: Path, text: str, index: dict[Path_, int], toml: bool) -> None:
        self.path, self.lines, self.index, self.toml = path, text.splitlines(), index, toml

    def line(self, keys: Path_, needle: str | None = None) -> int | None:
        for cut in range(len(keys), 0, -1):
            found = self.index.get(tuple(keys[:cut]))
            if found is None:
                continue
            if self.toml and needle and cut < len(keys):
                stop = min([v for v in self.index.values() if v > found], default=len(self.lines) + 1)
                for variant in (needle, needle.replace("\\", "\\\\").replace('"', '\\"')):
                    for n in range(found, stop):
                        if variant in self.lines[n - 1]:
                            return n
            return found
        return None

    def fail(self, code: str, message: str, keys: Path_, needle: str | None = None,
             kind: type[NlpipeError] = ConfigError) -> NlpipeError:  # fmt: skip
        name = ".".join(str(k) if not isinstance(k, int) else f"[{k}]" for k in keys).replace(".[", "[")
        return fail(code, message, file=self.path, line=self.line(keys, needle), field=name or None, kind=kind)


# ----------------------------------------------------------------------------------------------- parsing


def load_rules(path: Path) -> RuleSet:
    """Read and check a rules file (``.toml``, ``.yaml`` or ``.yml``).

    E700 file missing; E701 other extension; E702 TOML/YAML syntax; E703 unknown key; E704 wrong type or
    empty list; E705 unknown match mode or lemma source; E706 bad regular expression; E707 bad token pattern;
    E708 a keyword with several words; E709 a label or entity table without any item; E710 an entity list
    file that is missing or malformed; E711 bad option value. All are ``ConfigError`` naming file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise fail("E700", "rules file not found; check the path", file=path, kind=ConfigError)
    return parse_rules(read_text(path), path)


def parse_rules(text: str, path: Path) -> RuleSet:
    """Check a rules file's ``text``; ``path`` names it in errors and decides TOML or YAML by its extension.
    Entity list files are read relative to ``path``'s folder."""
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
            filled = [n for n, ln in enumerate(text.splitlines(), 1) if ln.strip()]
            line = int(m.group(1)) if m else (filled[-1] if filled else None)  # "at end of document"
            raise fail("E702", f"TOML syntax error: {exc}", file=path, line=line, kind=ConfigError) from None
        where = _Where(path, text, _toml_index(text), toml=True)
    elif suffix in (".yaml", ".yml"):
        import yaml

        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text) if node is not None else {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise fail("E702", f"YAML syntax error: {problem}", file=path,
                       line=mark.line + 1 if mark is not None else None, kind=ConfigError) from None  # fmt: skip
        where = _Where(path, text, _yaml_index(node) if node is not None else {}, toml=False)
    else:
        raise fail("E701", f"unknown rules file type '{suffix or '(none)'}'; name it .toml, .yaml or .yml",
                   file=path, kind=ConfigError)  # fmt: skip
    if not isinstance(data, dict):
        raise where.fail("E703", f"the file must hold a table of {', '.join(_TOP_KEYS)}, got {type(data).__name__}",
                         ())  # fmt: skip
    return _build(data, where)


def _table(value: Any, keys: Path_, where: _Where) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise where.fail("E704", f"must be a table (key = value pairs), got {type(value).__name__}", keys)
    return value


def _unknown(table: dict[str, Any], allowed: tuple[str, ...], keys: Path_, where: _Where) -> None:
    for key in table:
        if key not in allowed:
            raise where.fail("E703", f"unknown key {key!r}; allowed here: {', '.join(allowed)}", (*keys, key))


def _strings(value: Any, keys: Path_, where: _Where) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise where.fail("E704", f"must be a non-empty list of strings, got {value!r}", keys)
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise where.fail("E704", f"item {i} must be a non-empty string, got {item!r}", (*keys, i),
                             needle=str(item))  # fmt: skip
    return tuple(dict.fromkeys(item.strip() for item in value))


def _match(value: Any, default: str, keys: Path_, where: _Where) -> str:
    if value is None:
        return default
    if value not in MATCH_MODES:
        raise where.fail("E705", f"unknown match mode {value!r}; use one of {', '.join(MATCH_MODES)}", keys)
    return value


def _build(data: dict[str, Any], where: _Where) -> RuleSet:
    """The RuleSet of a parsed rules file: options, then label rules, entity rules and entity lists, in file order."""
    _unknown(data, _TOP_KEYS, (), where)
    rules = RuleSet(path=where.path)
    default = _options(data, rules, where)
    for label, spec in _table(data.get("labels"), ("labels",), where).items():
        rules.label_rules += _label_rules(str(label), spec, default, where)  # YAML may read a label 1 as a number
    for typ, spec in _table(data.get("entities"), ("entities",), where).items():
        rules.entity_rules.append(_entity_rule(str(typ), spec, default, where))
    _add_entity_lists(data, rules, default, where)
    if not rules.label_rules and not rules.entity_rules:
        raise where.fail("E709", "the file has no rules: add [labels.<label>] or [entities.<TYPE>] tables", ())
    return rules


def _options(data: dict[str, Any], rules: RuleSet, where: _Where) -> str:
    """Check ``[options]`` and set them on ``rules``; returns the default match mode."""
    options = _table(data.get("options"), ("options",), where)
    _unknown(options, _OPTION_KEYS, ("options",), where)
    default = _match(options.get("match"), "lower", ("options", "match"), where)
    multi = options.get("multi_label", False)
    if not isinstance(multi, bool):
        raise where.fail("E711", f"multi_label must be true or false, got {multi!r}", ("options", "multi_label"))
    votes = options.get("min_votes", 1)
    if isinstance(votes, bool) or not isinstance(votes, int) or votes < 1:
        raise where.fail("E711", f"min_votes must be a whole number >= 1, got {votes!r}", ("options", "min_votes"))
    lemmas = options.get("lemmas", "auto")
    if lemmas not in LEMMA_SOURCES:
        raise where.fail("E705", f"unknown lemmas {lemmas!r}; use one of {', '.join(LEMMA_SOURCES)}",
                         ("options", "lemmas"))  # fmt: skip
    rules.multi_label, rules.min_votes, rules.lemmas = multi, votes, lemmas
    return default


def _label_rules(label: str, spec: Any, default: str, where: _Where) -> list[LabelRule]:
    """The rules of ``[labels.<label>]``: one per kind it gives (keywords, phrases, regex, patterns)."""
    keys = ("labels", label)
    spec = _table(spec, keys, where)
    _unknown(spec, (*LABEL_KINDS, "match"), keys, where)
    if not label.strip():
        raise where.fail("E704", "a label name must not be empty", keys)
    match = _match(spec.get("match"), default, (*keys, "match"), where)
    if not any(kind in spec for kind in LABEL_KINDS):
        raise where.fail("E709", f"label {label!r} has no {', '.join(LABEL_KINDS)}; give it at least one", keys)
    out = []
    for kind in LABEL_KINDS:
        if kind not in spec:
            continue
        k = (*keys, kind)
        line = where.line(k)
        name = f"{label}.{kind}"
        if kind == "patterns":
            pats = _patterns(spec[kind], k, where)
            out.append(LabelRule(name, label, kind, patterns=pats, match=match, line=line))
            continue
        items = _strings(spec[kind], k, where)
        if kind == "keywords":
            for i, word in enumerate(items):
                if len(word.split()) > 1:
                    raise where.fail("E708", f"keyword {word!r} has several words; put it under phrases",
                                     (*k, i), needle=word)  # fmt: skip
        if kind == "regex":
            for i, source in enumerate(items):
                try:
                    re.compile(source)
                except re.error as exc:
                    raise where.fail("E706", f"bad regular expression {source!r}: {exc}", (*k, i),
                                     needle=source) from None  # fmt: skip
        out.append(LabelRule(name, label, kind, items=items, match=match, line=line))
    return out


def _entity_rule(typ: str, spec: Any, default: str, where: _Where) -> EntityRule:
    """The gazetteer of ``[entities.<TYPE>]``."""
    keys = ("entities", typ)
    spec = _table(spec, keys, where)
    _unknown(spec, ("terms", "match"), keys, where)
    if not typ.strip() or any(ch.isspace() for ch in typ):
        raise where.fail("E704", f"entity type {typ!r} must be a non-empty name without spaces", keys)
    if "terms" not in spec:
        raise where.fail("E709", f"entity type {typ!r} has no terms", keys)
    terms = _strings(spec["terms"], (*keys, "terms"), where)
    match = _match(spec.get("match"), default, (*keys, "match"), where)
    return EntityRule(f"entities.{typ}", typ, terms, match, where.line(keys))


def _add_entity_lists(data: dict[str, Any], rules: RuleSet, default: str, where: _Where) -> None:
    """One entity rule per type of each ``[[entity_lists]]`` file, named ``<file name>:<TYPE>``."""
    lists = data.get("entity_lists") or []
    if not isinstance(lists, list):
        raise where.fail("E704", "entity_lists must be a list of tables with a 'file' key ([[entity_lists]])",
                         ("entity_lists",))  # fmt: skip
    for i, spec in enumerate(lists):
        keys = ("entity_lists", i)
        spec = _table(spec, keys, where)
        _unknown(spec, ("file", "match"), keys, where)
        if not isinstance(spec.get("file"), str) or not spec["file"].strip():
            raise where.fail("E704", 'needs file = "<path of a Text,Type CSV>"', (*keys, "file"))
        match = _match(spec.get("match"), default, (*keys, "match"), where)
        for typ, terms in _entity_list(spec["file"], (*keys, "file"), where).items():
            name, k = f"{Path(spec['file']).name}:{typ}", 1
            while name in {r.name for r in rules.entity_rules}:  # two lists with one file name: list.csv:ORG#2
                k += 1
                name = f"{Path(spec['file']).name}:{typ}#{k}"
            rules.entity_rules.append(EntityRule(name, typ, terms, match, where.line((*keys, "file"))))


def _patterns(value: Any, keys: Path_, where: _Where) -> tuple[Any, ...]:
    from spacy.errors import MatchPatternError
    from spacy.matcher import Matcher
    from spacy.vocab import Vocab

    if not isinstance(value, list) or not value or not all(isinstance(p, list) and p for p in value):
        raise where.fail("E707", "patterns must be a list of token patterns, each a non-empty list of tables such as "
                         "[{LOWER = \"not\"}, {LEMMA = \"work\"}]", keys)  # fmt: skip
    matcher = Matcher(Vocab(), validate=True)
    for i, pattern in enumerate(value):
        try:
            matcher.add("check", [pattern])
        except (MatchPatternError, ValueError, TypeError, KeyError) as exc:
            detail = " ".join(str(exc).split())
            raise where.fail("E707", f"bad token pattern {i}: {detail}", (*keys, i)) from None
    return tuple(value)


def _entity_list(name: str, keys: Path_, where: _Where) -> dict[str, tuple[str, ...]]:
    """Terms per entity type of an AWS Comprehend entity list (CSV, header ``Text,Type``)."""
    from nlpipe.label.formats import csv_rows

    file = (where.path.parent / name) if not Path(name).is_absolute() else Path(name)
    if not file.is_file():
        raise where.fail("E710", f"entity list {name!r} not found (looked for {file})", keys)
    content = read_text(file)

    def bad(message: str, line: int | None) -> NlpipeError:
        return fail("E710", message, file=file, line=line, kind=ConfigError)

    try:
        rows = list(csv_rows(file, content, ",", 10 * 1024 * 1024))
    except NlpipeError as exc:
        raise bad(exc.message.split(": ", 1)[-1], exc.details.get("line")) from None
    if not rows:
        raise bad("the entity list is empty; it needs a header Text,Type and one row per term", None)
    header_line, header = rows[0]
    names = [h.strip().lower() for h in header]
    if "text" not in names or "type" not in names:
        raise bad(f"the header must name the columns Text and Type, got {', '.join(map(repr, header))}", header_line)
    t, y = names.index("text"), names.index("type")
    out: dict[str, dict[str, None]] = {}
    for n, row in rows[1:]:
        if len(row) <= max(t, y) or not row[t].strip() or not row[y].strip():
            raise bad("each row needs a Text and a Type", n)
        typ = row[y].strip()
        if any(ch.isspace() for ch in typ):
            raise bad(f"entity type {typ!r} must not contain spaces", n)
        out.setdefault(typ, {})[row[t].strip()] = None
    if not out:
        raise bad("the entity list has a header but no terms", header_line)
    return {typ: tuple(terms) for typ, terms in out.items()}
