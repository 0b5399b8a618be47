"""The entity model: a spaCy pipeline whose recogniser is a two-pass CRF over rich token features.

:class:`EntityRecognizer` follows the scikit-learn estimator contract: ``fit(texts, spans, dev_texts, dev_spans)``
then ``predict(texts)``; fitted state ends in ``_``. Inside, ``nlp_`` is a spaCy ``Language``:

- a blank pipeline for ``lang`` (nothing is downloaded) or a base pipeline the user has installed, with a
  ``sentencizer`` added when it has no sentence boundaries of its own;
- ``nlpipe_entity_list`` (spaCy's ``entity_ruler``), when entity lists were given, before or after the recogniser;
- ``nlpipe_crf_ner`` (:class:`~nlpipe.tasks.entities.crf.CrfEntityRecognizer`): two linear-chain CRFs
  (python-crfsuite, L-BFGS with L1+L2).
  The first tags every sentence from word, shape, affix, word-cluster, gazetteer and document-case features
  (:mod:`nlpipe.tasks.entities.features`); the second sees the same features plus the types the first gave the
  other occurrences of each word in the document.

Why a CRF and not spaCy's transition-based ``ner``: with no pretrained vectors (nothing may be downloaded) the
CRF with these features is more accurate on CoNLL-2003 and trains on two cores in minutes; see
``benchmarks/entities.py``, which runs spaCy's own ``ner`` beside it.

Training is seeded and reproducible: L-BFGS is deterministic, and the folds and clusters are seeded. Early
stopping watches entity-tag F1 on the dev documents after every L-BFGS iteration and refits to the best one.
The CRF weights are crfsuite's own binary format; ``to_disk`` writes them next to spaCy's files, and nothing
is pickled. The component and the fitting of one CRF live in :mod:`nlpipe.tasks.entities.crf`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pycrfsuite
import spacy
from spacy.language import Language
from spacy.pipeline import EntityRuler
from spacy.tokens import Span as SpacySpan
from spacy.util import filter_spans

from nlpipe.errors import ArtifactError, ConfigError, InputError, TrainingError
from nlpipe.tasks.entities.clusters import WordClusters
from nlpipe.tasks.entities.crf import (
    FACTORY,
    SCORES_KEY,
    CrfEntityRecognizer,
    CrfRun,
    Progress,
    doc_tokens,
    token_sequences,
    train_crf,
)
from nlpipe.tasks.entities.gazetteer import Gazetteer
from nlpipe.tasks.entities.tags import bilou_to_spans, spans_to_bilou
from nlpipe.tasks.entities.words import case_stats
from nlpipe.types import Span

RULER = "nlpipe_entity_list"
RULER_POSITIONS = ("before", "after")
CHUNK_CHARS = 100_000  # documents longer than this are cut into pieces at paragraph/line/sentence boundaries
__all__ = ["EntityRecognizer", "CrfEntityRecognizer", "read_entity_list", "split_long_text", "FACTORY", "RULER"]


def split_long_text(text: str, limit: int = CHUNK_CHARS) -> list[tuple[int, str]]:
    """``(offset, piece)`` pieces of at most ``limit`` characters, cut at a paragraph break, else a line break,
    else a sentence end, else a space, else anywhere (in that order of preference, as late as possible)."""
    pieces: list[tuple[int, str]] = []
    start = 0
    n = len(text)
    while n - start > limit:
        window = text[start : start + limit]
        cut = -1
        for sep in ("\n\n", "\n", ". ", "? ", "! ", " "):
            pos = window.rfind(sep, limit // 2)
            if pos >= 0:
                cut = pos + len(sep)
                break
        if cut <= 0:
            cut = limit
        pieces.append((start, text[start : start + cut]))
        start += cut
    pieces.append((start, text[start:]))
    return pieces


@dataclass
class Prepared:
    """Documents tokenised by the pipeline: token strings per sentence, BILOU tags, and token char offsets."""

    sents: list[list[list[str]]]
    tags: list[list[list[str]]]
    offsets: list[list[list[tuple[int, int]]]]
    misaligned: int


@dataclass
class _Items:
    """The CRF items of prepared documents: ``component`` holds the fitted clusters and lower-case shares; a
    training document's items (``cross``) use the gazetteer of the folds it is not in (``gaz_folds``, by
    ``fold_of``), so that its own entities are no more known to it than a new document's; others ``gaz_full``."""

    component: CrfEntityRecognizer
    gaz_full: Gazetteer
    gaz_folds: list[Gazetteer]
    fold_of: list[int]

    def __call__(
        self,
        prep: Prepared,
        docs: Iterable[int],
        first_pass: list[list[list[str]]] | None = None,
        cross: bool = False,
    ) -> list[list[list[bytes]]]:
        out = []
        for d in docs:
            self.component.gazetteer = self.gaz_folds[self.fold_of[d]] if cross else self.gaz_full
            out += self.component.features(prep.sents[d], None if first_pass is None else first_pass[d])
        return out


@dataclass
class _Training:
    """One fit's prepared documents and what each of its CRF fits shares (``params``: ``train_crf``'s
    regularisation and early stopping)."""

    train: Prepared
    dev: Prepared
    items: _Items
    params: dict[str, Any]
    deadline: float | None
    progress: Progress | None

    @property
    def train_tags(self) -> list[list[str]]:
        return [t for doc in self.train.tags for t in doc]

    @property
    def dev_tags(self) -> list[list[str]]:
        return [t for doc in self.dev.tags for t in doc]


def read_entity_list(path: Path) -> list[tuple[str, str]]:
    """``(text, type)`` pairs from an AWS Comprehend-style entity list: a CSV with ``Text`` and ``Type`` columns."""
    import csv

    try:
        raw = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError("E372", f"Cannot read entity list {path}: {exc.strerror or exc}.", file=str(path)) from exc
    rows = list(csv.reader(raw.splitlines()))
    if not rows:
        raise InputError("E373", f"Entity list {path} is empty; it needs a header Text,Type and rows.", file=str(path))
    head = [h.strip().lower() for h in rows[0]]
    if "text" not in head or "type" not in head:
        raise InputError(
            "E373",
            f"Entity list {path} needs a header row with columns Text and Type (AWS Comprehend entity list), "
            f"got {rows[0]!r}.",
            file=str(path),
        )
    ti, yi = head.index("text"), head.index("type")
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) <= max(ti, yi) or not row[ti].strip() or not row[yi].strip():
            raise InputError(
                "E373", f"Entity list {path}, line {line}: needs both Text and Type.", file=str(path), line=line
            )
        out.append((row[ti].strip(), row[yi].strip()))
    if not out:
        raise InputError("E373", f"Entity list {path} has a header but no entries.", file=str(path))
    return out


class EntityRecognizer:
    """Entity extraction model (see the module docstring).

    Parameters
    ----------
    lang: language of the blank pipeline (ignored with ``base``).
    base: name or path of an installed spaCy pipeline to start from; its own ``ner`` is disabled.
    entity_list: ``(text, type)`` entries; they add training spans where they match a training document without
        overlapping its annotations, go into the gazetteer, and run as an entity ruler at prediction time.
    ruler: where the entity list runs at prediction time: ``"before"`` the recogniser (list matches win),
        ``"after"`` it (the model's entities win), or None (not at prediction time).
    c1, c2: L1 and L2 regularisation of the CRFs. max_iterations, patience, min_iterations: L-BFGS iterations and
        early stopping (stop when dev F1 has not improved for ``patience`` iterations, not before ``min_iterations``).
    two_pass: add the second, document-level pass. seed: folds and clusters.
    """

    def __init__(
        self,
        *,
        lang: str = "en",
        base: str | None = None,
        entity_list: Sequence[tuple[str, str]] = (),
        ruler: str | None = "before",
        c1: float = 0.05,
        c2: float = 0.01,
        max_iterations: int = 150,
        patience: int = 25,
        min_iterations: int = 60,
        two_pass: bool = True,
        folds: int = 5,
        seed: int = 0,
        time_budget: float | None = None,
    ) -> None:
        self.lang = lang
        self.base = base
        self.entity_list = list(entity_list)
        self.ruler = ruler
        self.c1 = c1
        self.c2 = c2
        self.max_iterations = max_iterations
        self.patience = patience
        self.min_iterations = min_iterations
        self.two_pass = two_pass
        self.folds = folds
        self.seed = seed
        self.time_budget = time_budget

    # --------------------------------------------------------------------------------- pipeline set-up
    def _blank_pipeline(self) -> Language:
        if self.ruler not in (*RULER_POSITIONS, None):
            raise ConfigError(
                "E374", f"ruler must be one of {', '.join(RULER_POSITIONS)} or None, got {self.ruler!r}.", field="ruler"
            )
        if self.base:
            try:
                nlp = spacy.load(self.base)
            except OSError as exc:
                raise ConfigError(
                    "E371",
                    f"Base pipeline {self.base!r} is not installed (spaCy: {str(exc).splitlines()[0][:200]}). "
                    "Install it as a package, give the path of a saved pipeline, or train without --base.",
                    field="base",
                ) from None
            for name in [n for n in nlp.pipe_names if n == "ner" or n.startswith("entity_ruler")]:
                nlp.remove_pipe(name)
        else:
            try:
                nlp = spacy.blank(self.lang)
            except Exception as exc:  # spaCy raises ImportError/ValueError for an unknown language code
                raise ConfigError("E371", f"spaCy has no language {self.lang!r} ({exc}).", field="lang") from None
        if not any(n in nlp.pipe_names for n in ("parser", "senter", "sentencizer")):
            nlp.add_pipe("sentencizer")
        return nlp

    def _prepare(
        self, nlp: Language, texts: Sequence[str], spans: Sequence[Sequence[Span]], extra: Sequence[Sequence[Span]]
    ) -> Prepared:
        out = Prepared([], [], [], 0)
        for doc, gold, more in zip(nlp.pipe(texts), spans, extra, strict=True):
            seqs = token_sequences(doc)
            char_spans = []
            for sp in gold:
                s = doc.char_span(sp.start, sp.end, label=sp.label, alignment_mode="expand")
                if s is None or s.text.strip() == "":
                    out.misaligned += 1
                    continue
                char_spans.append(s)
            kept = filter_spans(char_spans)
            out.misaligned += len(char_spans) - len(kept)
            taken = {i for s in kept for i in range(s.start, s.end)}
            for sp in more:  # entity-list matches fill in only where nothing is annotated
                s = doc.char_span(sp.start, sp.end, label=sp.label, alignment_mode="expand")
                if s is not None and not any(i in taken for i in range(s.start, s.end)):
                    kept.append(s)
                    taken.update(range(s.start, s.end))
            position = {tok_i: (k, j) for k, seq in enumerate(seqs) for j, tok_i in enumerate(seq)}
            per_seq: list[list[tuple[int, int, str]]] = [[] for _ in seqs]
            for s in kept:
                toks = [t.i for t in s if not t.is_space]
                if not toks:
                    continue
                k0, j0 = position[toks[0]]
                k1, j1 = position[toks[-1]]
                if k0 != k1:  # crosses a sentence boundary: keep the part in the first sentence
                    j1 = len(seqs[k0]) - 1
                    out.misaligned += 1
                per_seq[k0].append((j0, j1 + 1, s.label_))
            out.sents.append(doc_tokens(doc, seqs))
            out.tags.append([spans_to_bilou(len(seq), ss) for seq, ss in zip(seqs, per_seq, strict=True)])
            out.offsets.append([[(doc[i].idx, doc[i].idx + len(doc[i])) for i in seq] for seq in seqs])
        return out

    def _list_matches(self, nlp: Language, texts: Sequence[str]) -> list[list[Span]]:
        if not self.entity_list:
            return [[] for _ in texts]
        from spacy.matcher import PhraseMatcher

        matcher = PhraseMatcher(nlp.vocab)
        for text, label in self.entity_list:
            matcher.add(label, [nlp.make_doc(text)])
        out = []
        for doc in nlp.pipe(texts):
            found = [SpacySpan(doc, s, e, label=m) for m, s, e in matcher(doc)]
            out.append([Span(s.start_char, s.end_char, s.label_, source="rule") for s in filter_spans(found)])
        return out

    # ------------------------------------------------------------------------------------------- fit
    def fit(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[Span]],
        dev_texts: Sequence[str] = (),
        dev_spans: Sequence[Sequence[Span]] = (),
        progress: Progress | None = None,
    ) -> EntityRecognizer:
        """Prepare the documents and the features' knowledge (:meth:`_features`), fit the first pass, then the
        second (:meth:`_second_pass`) when ``two_pass``, and put the CRFs in the pipeline (:meth:`_assemble`)."""
        started = time.monotonic()
        nlp = self._blank_pipeline()
        if progress:
            progress("prepare", 0, 3)
        listed = self._list_matches(nlp, texts)
        train = self._prepare(nlp, texts, spans, listed)
        dev = self._prepare(nlp, dev_texts, dev_spans, [[] for _ in dev_texts])
        n_entities = sum(len(bilou_to_spans(t)) for doc in train.tags for t in doc)
        if n_entities == 0:
            raise TrainingError(
                "E370",
                'The training documents have no entity spans to learn from: import documents with "spans" '
                "(JSONL) or give --entity-list with entries that occur in them.",
            )
        if progress:
            progress("prepare", 1, 3)
        run = _Training(
            train=train,
            dev=dev,
            items=self._features(nlp, train, dev, progress),
            params={"c1": self.c1, "c2": self.c2, "patience": self.patience, "min_iterations": self.min_iterations},
            deadline=started + self.time_budget if self.time_budget else None,
            progress=progress,
        )
        train_items = run.items(train, range(len(train.sents)), cross=True)
        dev_items = run.items(dev, range(len(dev.sents)))
        model1, run1 = train_crf(train_items, run.train_tags, dev=(dev_items, run.dev_tags) if dev_items else None,
                                 max_iterations=self.max_iterations, deadline=run.deadline, progress=progress,
                                 stage="first pass", **run.params)  # fmt: skip
        models = [model1]
        runs = {"first pass": run1.__dict__}
        if self.two_pass and len(train.sents) >= 2:
            model2, run2 = self._second_pass(run, model1, run1.kept)
            models.append(model2)
            runs["second pass"] = run2.__dict__
        self._assemble(nlp, run.items, models)
        self.training_ = {
            "n_documents": len(texts),
            "n_dev_documents": len(dev_texts),
            "n_entities": n_entities,
            "n_list_spans": sum(len(x) for x in listed),
            "misaligned_spans": train.misaligned + dev.misaligned,
            "runs": runs,
            "seconds": round(time.monotonic() - started, 2),
        }
        return self

    def _features(self, nlp: Language, train: Prepared, dev: Prepared, progress: Progress | None) -> _Items:
        """What the CRF items are built from: word clusters and lower-case shares of the training and dev text,
        the seeded folds of the training documents, and the gazetteer of all of them and of each fold's others."""
        rng = random.Random(self.seed)
        all_sents = [s for doc in train.sents + dev.sents for s in doc]
        clusters = WordClusters(seed=self.seed).fit(all_sents)
        if progress:
            progress("prepare", 2, 3)
        lower_share = case_stats(all_sents)
        fold_of = [i % self.folds for i in range(len(train.sents))]
        rng.shuffle(fold_of)
        gaz_full = self._gazetteer(train, range(len(train.sents)), self.entity_list, nlp)
        component = CrfEntityRecognizer(nlp.vocab)
        component.clusters, component.lower_share = clusters, lower_share
        gaz_folds = [
            self._gazetteer(train, [d for d in range(len(train.sents)) if fold_of[d] != k], self.entity_list, nlp)
            for k in range(self.folds)
        ]
        if progress:
            progress("prepare", 3, 3)
        return _Items(component, gaz_full, gaz_folds, fold_of)

    def _second_pass(self, run: _Training, model1: bytes, kept: int) -> tuple[bytes, CrfRun]:
        """The second CRF: the first pass's features plus the votes of the first pass's tags, out of fold for the
        training documents (:meth:`_out_of_fold_tags`) and from ``model1`` for the dev documents."""
        oof = self._out_of_fold_tags(run, kept)
        component = run.items.component
        component.gazetteer = run.items.gaz_full
        component.set_models([model1])
        dev_first = [component.tag_tokens(doc)[0] for doc in run.dev.sents]
        train_items2 = run.items(run.train, range(len(run.train.sents)), first_pass=oof, cross=True)
        dev_items2 = run.items(run.dev, range(len(run.dev.sents)), first_pass=dev_first)
        return train_crf(train_items2, run.train_tags, dev=(dev_items2, run.dev_tags) if dev_items2 else None,
                         max_iterations=self.max_iterations, deadline=run.deadline, progress=run.progress,
                         stage="second pass", **run.params)  # fmt: skip

    def _out_of_fold_tags(self, run: _Training, iterations: int) -> list[list[list[str]]]:
        """First-pass tags for the training documents, each from a CRF fitted (for ``iterations``, the first
        pass's) on the other half of the folds, so the second pass learns how far to trust them on text the first
        pass has not seen. A document no half could tag gets ``O`` tags."""
        train, items = run.train, run.items
        halves = [[d for d in range(len(train.sents)) if items.fold_of[d] % 2 == h] for h in (0, 1)]
        oof: list[list[list[str]] | None] = [None] * len(train.sents)
        for h in (0, 1):
            fit_docs, tag_docs = halves[1 - h], halves[h]
            if not fit_docs or not tag_docs:
                continue
            tags = [t for d in fit_docs for t in train.tags[d]]
            half_model, _ = train_crf(items(train, fit_docs, cross=True), tags, dev=None, max_iterations=iterations,
                                      deadline=None, progress=run.progress, stage=f"out-of-fold {h + 1}/2",
                                      **run.params)  # fmt: skip
            tagger = pycrfsuite.Tagger()
            tagger.open_inmemory(half_model)
            for d in tag_docs:
                items.component.gazetteer = items.gaz_folds[items.fold_of[d]]
                oof[d] = [tagger.tag(x) for x in items.component.features(train.sents[d])]
        return [o if o is not None else [["O"] * len(s) for s in train.sents[d]] for d, o in enumerate(oof)]

    def _assemble(self, nlp: Language, items: _Items, models: list[bytes]) -> None:
        """Add the recogniser with the fitted knowledge and CRFs (and the entity ruler) to ``nlp``: the model."""
        nlp.add_pipe(FACTORY)
        crf = cast(CrfEntityRecognizer, nlp.get_pipe(FACTORY))
        crf.clusters, crf.gazetteer = items.component.clusters, items.gaz_full
        crf.lower_share = items.component.lower_share
        crf.set_models(models)
        self._add_ruler(nlp)
        self.nlp_ = nlp
        self.labels_ = sorted(set(crf.labels) | {label for _, label in self.entity_list})

    def _gazetteer(
        self, prep: Prepared, docs: Iterable[int], entity_list: Sequence[tuple[str, str]], nlp: Language
    ) -> Gazetteer:
        gaz = Gazetteer()
        docs = list(docs)
        gaz.add_spans([prep.sents[d] for d in docs], [prep.tags[d] for d in docs])
        for text, label in entity_list:
            gaz.add([t.text for t in nlp.make_doc(text) if not t.is_space], label)
        return gaz

    def _add_ruler(self, nlp: Language) -> None:
        if not self.entity_list or self.ruler is None:
            return
        before, after = (FACTORY, None) if self.ruler == "before" else (None, FACTORY)
        ruler = cast(
            EntityRuler,
            nlp.add_pipe("entity_ruler", name=RULER, config={"overwrite_ents": False}, before=before, after=after),
        )
        ruler.add_patterns([{"label": label, "pattern": text} for text, label in self.entity_list])

    # --------------------------------------------------------------------------------------- predict
    def _check_fitted(self) -> None:
        if not hasattr(self, "nlp_"):
            raise ArtifactError("E430", "This EntityRecognizer is not fitted; call fit() first.")

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[list[Span]]:
        """Entities of each text: character offsets (end exclusive), label, text and score."""
        self._check_fitted()
        pieces: list[tuple[int, int, str]] = []  # (text index, offset, piece)
        for i, text in enumerate(texts):
            for offset, piece in split_long_text(text, min(CHUNK_CHARS, self.nlp_.max_length - 1)):
                pieces.append((i, offset, piece))
        out: list[list[Span]] = [[] for _ in texts]
        docs = self.nlp_.pipe((p for _, _, p in pieces), batch_size=batch_size)
        for (i, offset, _), doc in zip(pieces, docs, strict=True):
            scores = doc.user_data.get(SCORES_KEY, {})
            for ent in doc.ents:
                key = (ent.start_char, ent.end_char, ent.label_)
                from_model = key in scores
                out[i].append(
                    Span(
                        ent.start_char + offset,
                        ent.end_char + offset,
                        ent.label_,
                        source="model" if from_model else "rule",
                        score=scores[key] if from_model else 1.0,
                        text=ent.text,
                    )
                )
        return out

    # ------------------------------------------------------------------------------------------- disk
    def save_artifact(self, folder: Path) -> None:
        self._check_fitted()
        Path(folder).mkdir(parents=True, exist_ok=True)
        self.nlp_.to_disk(Path(folder) / "spacy")

    @classmethod
    def from_disk(cls, path: Path, labels: Sequence[str] = ()) -> EntityRecognizer:
        try:
            nlp = spacy.load(path)
        except MemoryError:
            raise
        except Exception as exc:  # a damaged folder: spaCy, confection, srsly and thinc each raise their own kinds
            raise ArtifactError("E431", f"{path} cannot be loaded as a spaCy pipeline ({exc}).") from exc
        if FACTORY not in nlp.pipe_names:
            raise ArtifactError("E431", f"{path} has no {FACTORY} component; it is not an nlpipe entity model.")
        obj = cls()
        obj.nlp_ = nlp
        obj.labels_ = list(labels) or cast(CrfEntityRecognizer, nlp.get_pipe(FACTORY)).labels
        return obj
