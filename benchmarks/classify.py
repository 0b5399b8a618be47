"""Benchmark nlpipe's TextClassifier against fastText and a scikit-learn TF-IDF + LinearSVC baseline.

    .venv/bin/python benchmarks/classify.py [--corpora ag_news,rt_polarity,airline] [--folds N]

Datasets are read in place from ``../shared/datasets`` next to the repository (never copied into it):

- ag_news: ``ag_news/test.csv`` (7,600 news items, 4 topics; title + " " + description), 5-fold CV
- rt_polarity: ``rt_polarity/utf8/rt-polarity.{pos,neg}`` (10,662 review snippets), 10-fold CV
- airline: ``twitter_airline_sentiment/Tweets.csv`` (14,640 tweets, 3 sentiments, imbalanced), 5-fold CV

Every system sees the same seeded stratified folds. Per corpus the table gives accuracy and macro-F1 (mean over
folds), training seconds and predictions per second (median over folds), and training time relative to the
scikit-learn baseline (wall clock, the target; and process CPU time of training plus predicting, which other
load on a shared machine disturbs less), model size (nlpipe: its skops file as `nlpipe train` writes it;
scikit-learn: its weights at float32)
and the median time to predict one text; then PASS/FAIL for nlpipe's targets. nlpipe runs as the product does:
``TextClassifier(seed=...)`` with its defaults (``--time-budget`` overrides the budget).
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"
sys.path.insert(0, str(ROOT))

from nlpipe.artifacts import dump_model  # noqa: E402
from nlpipe.tasks.classify.model import TextClassifier  # noqa: E402


def load_ag_news() -> tuple[list[str], list[str]]:
    names = ["World", "Sports", "Business", "Sci/Tech"]
    texts, labels = [], []
    with open(DATASETS / "ag_news" / "test.csv", newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            texts.append(f"{row[1]} {row[2]}")
            labels.append(names[int(row[0]) - 1])
    return texts, labels


def load_rt_polarity() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for label in ("pos", "neg"):
        path = DATASETS / "rt_polarity" / "utf8" / f"rt-polarity.{label}"
        for line in path.read_text(encoding="utf-8").split("\n"):  # split on \n only (see SOURCE.md)
            if line.strip():
                texts.append(line.strip())
                labels.append(label)
    return texts, labels


def load_airline() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    with open(DATASETS / "twitter_airline_sentiment" / "Tweets.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            texts.append(row["text"])
            labels.append(row["airline_sentiment"])
    return texts, labels


@dataclass
class Corpus:
    load: Callable[[], tuple[list[str], list[str]]]
    folds: int
    min_accuracy: float
    min_macro_f1: float | None = None


CORPORA = {
    "ag_news": Corpus(load_ag_news, 5, 0.895),
    "rt_polarity": Corpus(load_rt_polarity, 10, 0.800),
    "airline": Corpus(load_airline, 5, 0.815, 0.76),
}
MAX_TIME_RATIO = 5.0


@dataclass
class Result:
    accuracy: list[float] = field(default_factory=list)
    macro_f1: list[float] = field(default_factory=list)
    train_s: list[float] = field(default_factory=list)
    train_cpu_s: list[float] = field(default_factory=list)
    pred_per_s: list[float] = field(default_factory=list)
    model_mb: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)

    def add(self, truth: list[str], pred: list[str], train_s: float, cpu_s: float, pred_s: float) -> None:
        self.accuracy.append(accuracy_score(truth, pred))
        self.macro_f1.append(f1_score(truth, pred, average="macro"))
        self.train_s.append(train_s)
        self.train_cpu_s.append(cpu_s)
        self.pred_per_s.append(len(truth) / max(pred_s, 1e-9))


# --------------------------------------------------------------------------------------------- systems

_FT_TOKEN = re.compile(r"\w+|[^\w\s]")


def _ft_line(text: str) -> str:
    return " ".join(_FT_TOKEN.findall(text.lower()))


def one_text_p50_ms(predict: Callable[[list[str]], object], texts: list[str], n: int = 300) -> float:
    """Median milliseconds to predict one text, over the first ``n`` texts (in process, model loaded)."""
    times = []
    for text in texts[:n]:
        t0 = time.perf_counter()
        predict([text])
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def run_sklearn(
    tr_x: list[str], tr_y: list[str], te_x: list[str], sizes: dict | None = None
) -> tuple[list[str], float, float]:
    """Fit and predict; ``sizes`` (when given) gets the weights' size at float32 and the one-text p50."""
    t0 = time.perf_counter()
    model = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LinearSVC()).fit(tr_x, tr_y)
    t1 = time.perf_counter()
    pred = list(model.predict(te_x))
    t2 = time.perf_counter()
    if sizes is not None:
        sizes["model_mb"] = model[-1].coef_.size * 4 / 1e6  # its weights at float32
        sizes["p50_ms"] = one_text_p50_ms(model.predict, te_x)
    return pred, t1 - t0, t2 - t1


def run_fasttext(tr_x: list[str], tr_y: list[str], te_x: list[str], seed: int) -> tuple[list[str], float, float]:
    import fasttext

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.txt"
        t0 = time.perf_counter()
        order = np.random.default_rng(seed).permutation(len(tr_x))  # fastText's SGD needs shuffled lines
        path.write_text(
            "".join(f"__label__{tr_y[i].replace(' ', '_')} {_ft_line(tr_x[i])}\n" for i in order), encoding="utf-8"
        )
        model = fasttext.train_supervised(
            input=str(path), wordNgrams=2, epoch=25, lr=0.5, dim=50, minCount=1, thread=1, seed=seed, verbose=0
        )
        t1 = time.perf_counter()
    back = {y.replace(" ", "_"): y for y in set(tr_y)}
    labels, _ = model.predict([_ft_line(x) for x in te_x], k=1)
    pred = [back[lab[0].removeprefix("__label__")] for lab in labels]
    return pred, t1 - t0, time.perf_counter() - t1


def run_nlpipe(
    tr_x: list[str], tr_y: list[str], te_x: list[str], seed: int, budget: float | None, sizes: dict
) -> tuple[list[str], float, float, str]:
    t0 = time.perf_counter()
    clf = TextClassifier(seed=seed) if budget is None else TextClassifier(seed=seed, time_budget=budget)
    clf.fit(tr_x, [[y] for y in tr_y])
    t1 = time.perf_counter()
    pred = [p[0] for p in clf.predict(te_x)]
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        dump_model(clf, Path(tmp) / "model.skops")  # as `nlpipe train` writes it
        sizes["model_mb"] = (Path(tmp) / "model.skops").stat().st_size / 1e6
    sizes["p50_ms"] = one_text_p50_ms(clf.predict, te_x)
    return pred, t1 - t0, t2 - t1, clf.best_


# ------------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpora", default=",".join(CORPORA), help=f"comma-separated, from: {', '.join(CORPORA)}")
    ap.add_argument("--folds", type=int, default=None, help="run only the first N folds of each corpus")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-budget", type=float, default=None, help="nlpipe's time_budget (default: its own)")
    ap.add_argument("--systems", default="nlpipe,fasttext,sklearn")
    args = ap.parse_args(argv)
    names = [c.strip() for c in args.corpora.split(",") if c.strip()]
    for n in names:
        if n not in CORPORA:
            ap.error(f"unknown corpus {n!r}; choose from {', '.join(CORPORA)}")
    systems = [s.strip() for s in args.systems.split(",")]
    if not DATASETS.is_dir():
        print(f"Datasets not found at {DATASETS}", file=sys.stderr)
        return 2

    all_pass = True
    for name in names:
        corpus = CORPORA[name]
        texts, labels = corpus.load()
        x = np.array(texts, dtype=object)
        yv = np.array(labels, dtype=object)
        results = {s: Result() for s in systems}
        best: Counter[str] = Counter()
        folds = StratifiedKFold(corpus.folds, shuffle=True, random_state=args.seed).split(x, yv)
        n_folds = corpus.folds if args.folds is None else min(args.folds, corpus.folds)
        for i, (tr, te) in enumerate(folds):
            if i >= n_folds:
                break
            tr_x, tr_y, te_x, te_y = list(x[tr]), list(yv[tr]), list(x[te]), list(yv[te])
            for s in systems:
                cpu0 = time.process_time()
                sizes: dict[str, float] = {}
                if s == "sklearn":
                    pred, t_train, t_pred = run_sklearn(tr_x, tr_y, te_x, sizes)
                elif s == "fasttext":
                    pred, t_train, t_pred = run_fasttext(tr_x, tr_y, te_x, args.seed)
                else:
                    pred, t_train, t_pred, chosen = run_nlpipe(tr_x, tr_y, te_x, args.seed, args.time_budget, sizes)
                    best[chosen] += 1
                cpu = time.process_time() - cpu0  # training and prediction; prediction is a small part
                results[s].add(te_y, pred, t_train, cpu, t_pred)
                for key, value in sizes.items():
                    getattr(results[s], key).append(value)
            print(
                f"  {name} fold {i + 1}/{n_folds}: "
                + ", ".join(
                    f"{s} acc {results[s].accuracy[-1]:.4f} train {results[s].train_s[-1]:.2f}s" for s in systems
                ),
                file=sys.stderr,
                flush=True,
            )

        base_t = statistics.median(results["sklearn"].train_s) if "sklearn" in results else None
        base_cpu = statistics.median(results["sklearn"].train_cpu_s) if "sklearn" in results else None
        print(f"\n{name}: {len(texts)} texts, {len(set(labels))} labels, {n_folds} of {corpus.folds} folds")
        print(
            f"{'system':<10} {'accuracy':>9} {'macro-F1':>9} {'train s':>8} {'pred/s':>9} {'train x sklearn':>16}"
            f" {'cpu s':>7} {'cpu x sklearn':>14} {'model MB':>9} {'1 text p50 ms':>14}"
        )
        for s, r in results.items():
            t = statistics.median(r.train_s)
            c = statistics.median(r.train_cpu_s)
            ratio = f"{t / base_t:.2f}" if base_t else "-"
            cpu_ratio = f"{c / base_cpu:.2f}" if base_cpu else "-"
            mb = f"{statistics.median(r.model_mb):.1f}" if r.model_mb else "-"
            p50 = f"{statistics.median(r.p50_ms):.2f}" if r.p50_ms else "-"
            print(
                f"{s:<10} {np.mean(r.accuracy):>9.4f} {np.mean(r.macro_f1):>9.4f} {t:>8.2f} "
                f"{statistics.median(r.pred_per_s):>9.0f} {ratio:>16} {c:>7.2f} {cpu_ratio:>14} {mb:>9} {p50:>14}"
            )
        if "nlpipe" not in results:
            continue
        print(f"nlpipe chose: {', '.join(f'{k} x{v}' for k, v in best.most_common())}")
        nl = results["nlpipe"]
        acc, f1 = float(np.mean(nl.accuracy)), float(np.mean(nl.macro_f1))
        checks = [(f"accuracy {acc:.4f} >= {corpus.min_accuracy}", acc >= corpus.min_accuracy)]
        if corpus.min_macro_f1 is not None:
            checks.append((f"macro-F1 {f1:.4f} >= {corpus.min_macro_f1}", f1 >= corpus.min_macro_f1))
        others = [s for s in results if s != "nlpipe"]
        if others:
            best_acc = max(float(np.mean(results[s].accuracy)) for s in others)
            best_f1 = max(float(np.mean(results[s].macro_f1)) for s in others)
            checks.append((f"accuracy {acc:.4f} >= best baseline {best_acc:.4f}", acc >= best_acc))
            checks.append((f"macro-F1 {f1:.4f} >= best baseline {best_f1:.4f}", f1 >= best_f1))
        if base_t:
            ratio = statistics.median(nl.train_s) / base_t
            checks.append((f"training time {ratio:.2f}x sklearn <= {MAX_TIME_RATIO:g}x", ratio <= MAX_TIME_RATIO))
        if "sklearn" in results:
            sk = results["sklearn"]
            tps, sk_tps = statistics.median(nl.pred_per_s), statistics.median(sk.pred_per_s)
            checks.append((f"batch texts/s {tps:.0f} >= sklearn {sk_tps:.0f} ({tps / sk_tps:.2f}x)", tps >= sk_tps))
            mb, sk_mb = statistics.median(nl.model_mb), statistics.median(sk.model_mb)
            checks.append((f"model {mb:.1f} MB <= 2x sklearn's float32 weights {sk_mb:.1f} MB", mb <= 2 * sk_mb))
        p50 = statistics.median(nl.p50_ms)
        checks.append((f"one text p50 {p50:.2f} ms <= 2 ms", p50 <= 2.0))
        for text, ok in checks:
            all_pass &= ok
            print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    print(f"\n{'ALL TARGETS MET' if all_pass else 'SOME TARGETS MISSED'}")
    return 0 if all_pass else 1


if __name__ == "__main__":
    sys.exit(main())
