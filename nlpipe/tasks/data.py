"""What training reads of a labeled dataset, shared by the tasks: the data checks before fitting and the
fingerprint of the documents a model was trained on."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator

from nlpipe.errors import InputError
from nlpipe.store.datasets import LabeledData, load_dataset
from nlpipe.store.db import Store
from nlpipe.tasks.base import Check

MIN_EXAMPLES = 10
MAX_IMBALANCE = 100.0
#: The classification metrics a model's meta.json keeps (``metrics``), for classify and sentiment.
HEADLINE = ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "log_loss")


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def data_checks(train: LabeledData, test: LabeledData, *, multi_label: bool) -> list[Check]:
    """What is wrong with the data before training: errors stop training, warnings are reported."""
    checks: list[Check] = []
    if len(train) == 0:
        return [Check("error", "E310", "The train split has no labeled documents; import labeled data first.")]
    counts = Counter(lab for labs in train.labels for lab in labs)
    if len(counts) < 2:
        checks.append(
            Check(
                "error",
                "E311",
                f"Training needs at least 2 labels; the train split has {len(counts)} ({', '.join(counts) or 'none'}).",
            )
        )
        return checks
    if not multi_label:
        multi = sum(1 for labs in train.labels if len(labs) > 1)
        if multi:
            checks.append(
                Check(
                    "error", "E312", f"{multi} training documents have more than one label; train with --multi-label."
                )
            )
    few = sorted((n, lab) for lab, n in counts.items() if n < MIN_EXAMPLES)
    if few:
        listed = ", ".join(f"{lab!r} ({n})" for n, lab in few[:10])
        checks.append(
            Check(
                "warning",
                "W301",
                f"{len(few)} labels have fewer than {MIN_EXAMPLES} training "
                f"examples: {listed}{' ...' if len(few) > 10 else ''}. Their "
                "scores will be unreliable; label more examples.",
            )
        )
    largest, smallest = max(counts.values()), min(counts.values())
    if largest / smallest > MAX_IMBALANCE:
        big = max(counts, key=lambda k: counts[k])
        small = min(counts, key=lambda k: counts[k])
        checks.append(
            Check(
                "warning",
                "W302",
                f"Classes are imbalanced {largest / smallest:.0f}:1 ({big!r} "
                f"{largest} vs {small!r} {smallest}); class weights are "
                "applied, but consider labeling more of the small classes.",
            )
        )
    seen = {normalise(t) for t in train.texts}  # empty for streamed training: checked while reading
    dup = sum(1 for t in test.texts if normalise(t) in seen)
    if dup:
        checks.append(Check("warning", "W303", duplicates_message(dup)))
    unseen = sorted({lab for labs in test.labels for lab in labs} - set(counts))
    if unseen:
        checks.append(
            Check(
                "warning",
                "W304",
                f"Labels in the test split but not in train are ignored in evaluation: {', '.join(unseen[:10])}.",
            )
        )
    return checks


def duplicates_message(dup: int) -> str:
    return f"{dup} test documents repeat a training text (ignoring case and spacing); test scores will be optimistic."


def concat(parts: Iterable[LabeledData]) -> LabeledData:
    out = LabeledData([], [], [], [], [])
    for p in parts:
        out.doc_ids += p.doc_ids
        out.texts += p.texts
        out.labels += p.labels
        out.splits += p.splits
        out.external_ids += p.external_ids
    return out


def tracked(
    parts: Iterable[LabeledData], seen: set[bytes], rows: list[tuple[str, list[str], str]]
) -> Iterator[tuple[list[str], list[list[str]]]]:
    """(texts, labels) batches for :meth:`TextClassifier.fit_stream`, noting on the way what the checks and the
    fingerprint need: each text's normalised SHA-1 (duplicates in test) and its SHA-256 row."""
    for p in parts:
        for t, labs in zip(p.texts, p.labels, strict=True):
            seen.add(hashlib.sha1(normalise(t).encode()).digest())
            rows.append((hashlib.sha256(t.encode()).hexdigest(), labs, "train"))
        yield p.texts, p.labels


def fingerprint(data: LabeledData) -> str:
    """SHA-256 over the documents' (text hash, labels, split), in sorted order: the same data, the same value."""
    return fingerprint_rows(
        (hashlib.sha256(t.encode()).hexdigest(), labs, sp)
        for t, labs, sp in zip(data.texts, data.labels, data.splits, strict=True)
    )


def fingerprint_rows(rows: Iterable[tuple[str, list[str], str]]) -> str:
    """:func:`fingerprint` from (text SHA-256, labels, split) rows, for data read a batch at a time."""
    h = hashlib.sha256()
    for row in sorted(rows):
        h.update(json.dumps(list(row)).encode())
    return h.hexdigest()


def read_labeled_split(
    store: Store, dataset: str, split: str, *, require: bool = True
) -> tuple[LabeledData, LabeledData]:
    """The labeled documents of ``split`` (``all``: every one; E531 when none and ``require``) and the train and
    validation ones among them."""
    with store.session() as s:
        data = load_dataset(s, dataset)
    part = data if split == "all" else data.subset(split)
    if require and not len(part):
        raise InputError("E531", f"Dataset {dataset!r} has no labeled documents in the {split!r} split.", field="split")
    return part, data.subset(["train", "validation"])
