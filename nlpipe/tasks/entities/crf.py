"""The CRF at the heart of the entity model: the spaCy component ``nlpipe_crf_ner`` and how one CRF is fitted.

:class:`CrfEntityRecognizer` tags ``doc.ents`` with one or two linear-chain CRFs (python-crfsuite) over the
features of :mod:`nlpipe.tasks.entities.features`; :func:`train_crf` fits one CRF with L-BFGS and early stopping on
dev documents. :mod:`nlpipe.tasks.entities.model` builds the pipeline and the two passes around them. The CRF
weights are crfsuite's own binary format and the features JSON; nothing is pickled.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pycrfsuite
from spacy.language import Language
from spacy.tokens import Doc as SpacyDoc
from spacy.tokens import Span as SpacySpan
from spacy.util import filter_spans

from nlpipe.errors import ArtifactError
from nlpipe.tasks.entities.clusters import WordClusters
from nlpipe.tasks.entities.crfsuite_file import check_crfsuite
from nlpipe.tasks.entities.extractor import FeatureExtractor
from nlpipe.tasks.entities.gazetteer import Gazetteer
from nlpipe.tasks.entities.tags import bilou_to_spans

FACTORY = "nlpipe_crf_ner"
MAX_SEQUENCE = 400  # tokens in one CRF sequence (a run-on "sentence" is cut)
SCORES_KEY = "nlpipe_scores"

Progress = Callable[[str, int, int], None]


# --------------------------------------------------------------------------------------------- sequences


def token_sequences(doc: SpacyDoc) -> list[list[int]]:
    """The CRF's sequences: token indices of each sentence, whitespace tokens left out, cut at newlines."""
    has_sents = doc.has_annotation("SENT_START")
    seqs: list[list[int]] = []
    cur: list[int] = []
    for tok in doc:
        if tok.is_space:
            if "\n" in tok.text and cur:
                seqs.append(cur)
                cur = []
            continue
        if cur and (len(cur) >= MAX_SEQUENCE or (has_sents and tok.is_sent_start)):
            seqs.append(cur)
            cur = []
        cur.append(tok.i)
        if "\n" in tok.whitespace_:
            seqs.append(cur)
            cur = []
    if cur:
        seqs.append(cur)
    return seqs


def doc_tokens(doc: SpacyDoc, seqs: list[list[int]]) -> list[list[str]]:
    return [[doc[i].text for i in seq] for seq in seqs]


# ----------------------------------------------------------------------------------------- the component


class CrfEntityRecognizer:
    """spaCy pipeline component ``nlpipe_crf_ner``: tags ``doc.ents`` with the two-pass CRF.

    Entities already on the doc (an entity list that runs first) are kept; predictions overlapping them are
    dropped. Each predicted entity's score (mean marginal probability of its tags) goes to
    ``doc.user_data["nlpipe_scores"][(start_char, end_char, label)]``.
    """

    def __init__(self, vocab: Any, name: str = FACTORY) -> None:
        self.vocab = vocab
        self.name = name
        self.clusters: WordClusters | None = None
        self.gazetteer: Gazetteer | None = None
        self.lower_share: dict[str, float] = {}
        self.models: list[bytes] = []  # crfsuite model files: first pass, then (optionally) second pass
        self._taggers: list[pycrfsuite.Tagger] = []
        self._extractor: FeatureExtractor | None = None
        self._lock = threading.Lock()

    # --- state
    def set_models(self, models: list[bytes]) -> None:
        self.models = list(models)
        self._taggers = []
        for i, data in enumerate(self.models):
            check_crfsuite(data, f"pass{i + 1}.crfsuite")  # crfsuite trusts its input: a bad file crashes it
            tagger = pycrfsuite.Tagger()
            tagger.open_inmemory(data)  # keeps a pointer into ``data``, which self.models holds
            tagger.set([{}])  # every label found by its name, as marginal() looks tags up (a damaged key is not)
            try:
                for label in tagger.labels():
                    tagger.marginal(label, 0)
            except RuntimeError:
                raise ArtifactError("E431", f"pass{i + 1}.crfsuite is damaged: a label cannot be looked up by its "
                                    "name.") from None  # fmt: skip
            self._taggers.append(tagger)

    @property
    def labels(self) -> list[str]:
        if not self._taggers:
            return []
        return sorted({t.split("-", 1)[1] for t in self._taggers[0].labels() if "-" in t})

    def extractor(self) -> FeatureExtractor:
        """The feature extractor for the current clusters and case shares (a new one, with an empty word cache,
        when either has been replaced)."""
        ex = self._extractor
        if ex is None or ex.clusters is not self.clusters or ex.lower_share is not self.lower_share:
            ex = self._extractor = FeatureExtractor(self.clusters, self.lower_share)
        return ex

    def features(self, sents: list[list[str]], first_pass: list[list[str]] | None = None) -> list[list[list[bytes]]]:
        """CRF items of a document: :func:`~nlpipe.tasks.entities.features.document_features` with this
        component's clusters, gazetteer and case shares (UTF-8 encoded, as crfsuite reads them)."""
        return self.extractor()(sents, self.gazetteer, first_pass)

    # --- tagging
    def tag_tokens(self, sents: list[list[str]]) -> tuple[list[list[str]], list[list[float | None]]]:
        """BILOU tags for token-string sentences and, per token, the marginal probability of its tag where that
        tag is an entity's (None for ``O``)."""
        if not self._taggers:
            raise ArtifactError("E430", "The entity recogniser has no trained CRF; train the model first.")
        with self._lock:  # a crfsuite tagger holds the current sequence: one caller at a time
            ex = self.extractor()
            items, marks = ex.base(sents, self.gazetteer)
            if len(self._taggers) > 1:  # the second pass sees the first pass's items plus its votes
                first = self._taggers[0]
                items = ex.with_votes(sents, items, marks, [first.tag(x) for x in items])
            tagger = self._taggers[-1]
            tags: list[list[str]] = []
            probs: list[list[float | None]] = []
            for x in items:
                tagger.set(x)  # once per sequence: for the tags and, when there are entities, their marginals
                t = tagger.tag()
                tags.append(t)
                if t.count("O") == len(t):
                    probs.append([None] * len(t))
                else:
                    probs.append([None if tag == "O" else tagger.marginal(tag, i) for i, tag in enumerate(t)])
        return tags, probs

    def __call__(self, doc: SpacyDoc) -> SpacyDoc:
        seqs = token_sequences(doc)
        if not seqs:
            return doc
        tags, probs = self.tag_tokens(doc_tokens(doc, seqs))
        scores: dict[tuple[int, int, str], float] = doc.user_data.setdefault(SCORES_KEY, {})
        taken: set[int] = set()
        for ent in doc.ents:
            taken.update(range(ent.start, ent.end))
        new = []
        for seq, seq_tags, seq_probs in zip(seqs, tags, probs, strict=True):
            if seq_tags.count("O") == len(seq_tags):
                continue
            for start, end, label in bilou_to_spans(seq_tags):
                first, last = seq[start], seq[end - 1]
                if any(i in taken for i in range(first, last + 1)):
                    continue
                span = SpacySpan(doc, first, last + 1, label=label)
                new.append(span)
                score = sum(p for p in seq_probs[start:end] if p is not None) / (end - start)  # None only for O
                scores[(span.start_char, span.end_char, label)] = round(float(score), 6)
        if new:
            doc.ents = filter_spans(list(doc.ents) + new)
        return doc

    # --- spaCy serialisation (called by nlp.to_disk / spacy.load)
    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for i, data in enumerate(self.models):
            (path / f"pass{i + 1}.crfsuite").write_bytes(data)
        features = {
            "format": "nlpipe.crf_features.v1",
            "passes": len(self.models),
            "clusters": self.clusters.to_dict() if self.clusters else None,
            "gazetteer": self.gazetteer.to_dict() if self.gazetteer else None,
            "lower_share": self.lower_share,
        }
        (path / "features.json").write_text(json.dumps(features))

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> CrfEntityRecognizer:
        path = Path(path)
        try:
            features = json.loads((path / "features.json").read_text())
            models = [(path / f"pass{i + 1}.crfsuite").read_bytes() for i in range(int(features["passes"]))]
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise ArtifactError("E431", f"{path} is not a complete nlpipe entity recogniser ({exc!r:.200}).") from exc
        if features.get("format") != "nlpipe.crf_features.v1":
            raise ArtifactError("E431", f"{path}/features.json has unknown format {features.get('format')!r}.")
        self.clusters = WordClusters.from_dict(features["clusters"]) if features["clusters"] else None
        self.gazetteer = Gazetteer.from_dict(features["gazetteer"]) if features["gazetteer"] else None
        self.lower_share = {str(k): float(v) for k, v in features["lower_share"].items()}
        for i, data in enumerate(models):
            check_crfsuite(data, str(path / f"pass{i + 1}.crfsuite"))
        try:
            self.set_models(models)
        except (ValueError, OSError) as exc:
            raise ArtifactError("E431", f"{path} holds a damaged CRF model ({exc}).") from exc
        return self


@Language.factory(FACTORY)
def make_crf_ner(nlp: Language, name: str) -> CrfEntityRecognizer:
    return CrfEntityRecognizer(nlp.vocab, name)


# ----------------------------------------------------------------------------------------------- training


class _Stop(Exception):
    pass


class _Trainer(pycrfsuite.Trainer):
    """Records entity-tag F1 on the holdout (dev) group after every iteration; stops when it stalls."""

    def __init__(
        self,
        *,
        patience: int,
        min_iterations: int,
        deadline: float | None,
        progress: Progress | None,
        stage: str,
        total: int,
    ):
        super().__init__(verbose=True)  # pycrfsuite reports iterations only when verbose; the printing is off below
        self.patience = patience
        self.min_iterations = min_iterations
        self.deadline = deadline
        self.progress = progress
        self.stage = stage
        self.total = total
        self.history: list[float] = []
        self.best_iteration = 0
        self.stopped = ""

    def message(self, message: str) -> None:
        event = self.logparser.feed(message)
        if event == "iteration":
            self.on_iteration(self.logparser.last_log, self.logparser.last_iteration)

    def on_iteration(self, log: Any, info: dict[str, Any]) -> None:
        num = int(info.get("num", len(self.history) + 1))
        scores = info.get("scores") or {}
        if scores:
            match = sum(s.match for tag, s in scores.items() if tag != "O")
            model = sum(s.model for tag, s in scores.items() if tag != "O")
            ref = sum(s.ref for tag, s in scores.items() if tag != "O")
            f1 = 2 * match / (model + ref) if model + ref else 0.0
            self.history.append(round(f1, 5))
            if f1 >= max(self.history[:-1], default=-1.0):  # a tie goes to the later, longer-trained model
                self.best_iteration = num
        else:
            self.best_iteration = num
        if self.progress:
            self.progress(self.stage, min(num, self.total), self.total)
        if scores and num >= self.min_iterations and num - self.best_iteration >= self.patience:
            self.stopped = "patience"
            raise _Stop
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.stopped = "time budget"
            raise _Stop


@dataclass
class CrfRun:
    """What one CRF fit did: the iterations run and kept, the dev curve, why it stopped."""

    iterations: int
    kept: int
    history: list[float]
    stopped: str
    seconds: float


def train_crf(
    items: Sequence[list[list[bytes]]],
    tags: Sequence[list[str]],
    *,
    dev: tuple[Sequence[list[list[bytes]]], Sequence[list[str]]] | None,
    c1: float,
    c2: float,
    max_iterations: int,
    patience: int,
    min_iterations: int = 0,
    deadline: float | None = None,
    progress: Progress | None = None,
    stage: str = "train",
) -> tuple[bytes, CrfRun]:
    """Fit one CRF; with ``dev``, stop when dev entity-tag F1 has not improved for ``patience`` iterations (not
    before ``min_iterations``: L-BFGS stalls now and then early on), or at ``deadline``, and refit to the best
    iteration (L-BFGS is deterministic, so that is the model the first fit had at that iteration)."""
    started = time.monotonic()

    def fit(n_iter: int, with_dev: bool) -> tuple[bytes | None, _Trainer]:
        trainer = _Trainer(
            patience=patience,
            min_iterations=min_iterations,
            deadline=deadline if with_dev else None,
            progress=progress,
            stage=stage,
            total=n_iter,
        )
        for x, y in zip(items, tags, strict=True):
            trainer.append(x, y, 0)
        if with_dev and dev is not None:
            for x, y in zip(*dev, strict=True):
                trainer.append(x, y, 1)
        trainer.set_params({"c1": c1, "c2": c2, "max_iterations": n_iter, "feature.possible_transitions": True})
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.crfsuite"
            try:
                trainer.train(str(path), holdout=1 if with_dev and dev is not None else -1)
            except _Stop:
                return None, trainer
            return path.read_bytes(), trainer

    data, trainer = fit(max_iterations, dev is not None and len(dev[0]) > 0)
    history, stopped = trainer.history, trainer.stopped
    iterations = len(trainer.history) or max_iterations
    kept = trainer.best_iteration or iterations
    if data is None:  # stopped early: refit to the best iteration seen on dev
        kept = max(kept, 1)
        data, _ = fit(kept, False)
        assert data is not None
    return data, CrfRun(iterations, kept, history, stopped or "max iterations", round(time.monotonic() - started, 2))
