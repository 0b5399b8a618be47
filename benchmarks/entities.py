"""Benchmark nlpipe's entity recogniser against spaCy's own ``ner`` and a plain CRF on CoNLL-2003 English.

    .venv/bin/python benchmarks/entities.py [--systems nlpipe,spacy,crf] [--no-memory] [--nlpipe-model DIR]

Read in place from ``../shared/datasets/conll2003`` (never copied): train on ``eng.train``, early-stop on
``eng.testa``, score on ``eng.testb``. Only the words and the NER column are used (no gold POS or chunk tags).
Tags are IOB1 and are turned into entity spans; scoring is CoNLL's strict entity-level P/R/F1.

- **nlpipe**: :class:`nlpipe.tasks.entities.model.EntityRecognizer` with its defaults, as ``nlpipe train --task
  entities`` runs it. It sees each CoNLL document as text (tokens joined by spaces, sentences by newlines),
  tokenises it with spaCy's English tokenizer, and predicts character spans, which are scored against the gold
  character spans.
- **spaCy**: ``python -m spacy init config --pipeline ner --optimize efficiency`` and ``python -m spacy train``
  with that config's defaults, on DocBins of the CoNLL tokens (one Doc per CoNLL document) written to a temp dir.
- **CRF**: sklearn-crfsuite with the usual word, shape and affix features of a +-2 token window (IOB2 tags).

Printed: entity F1 per type and overall, training minutes (wall clock on this shared 2-core machine, and the
process CPU minutes beside it), and words per second at prediction; then nlpipe's peak memory on a 10 MB text,
the layout-aware vs text-only rows of ``benchmarks/layout.py`` when it exists, and PASS/FAIL for the targets.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONLL = ROOT.parent / "shared" / "datasets" / "conll2003"
RESULTS = ROOT / "benchmarks" / "results" / "entities.json"
TYPES = ("PER", "LOC", "ORG", "MISC")
TARGET_F1 = 0.85
TARGET_MINUTES = 20.0
sys.path.insert(0, str(ROOT))

Doc = tuple[str, list[tuple[int, int, str]], list[list[str]], list[list[tuple[int, int, str]]]]


# ------------------------------------------------------------------------------------------------- data


def tag_spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """Token spans (start, end exclusive, type) from IOB1 or IOB2 tags: an entity starts at B-, or at an I- after O
    or another type (as conlleval reads them), and ends before O, B- or another type."""
    spans, start, label = [], -1, ""
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, lab = tag.partition("-")
        if start >= 0 and (prefix in ("O", "B") or lab != label):
            spans.append((start, i, label))
            start = -1
        if prefix in ("I", "B") and start < 0:
            start, label = i, lab
    return spans


def read_conll(name: str) -> list[Doc]:
    """Documents of one CoNLL file: (text, character spans, sentences of tokens, token spans per sentence)."""
    docs: list[Doc] = []
    sents: list[tuple[list[str], list[str]]] = []
    words: list[str] = []
    tags: list[str] = []

    def end_sentence() -> None:
        nonlocal words, tags
        if words:
            sents.append((words, tags))
            words, tags = [], []

    def end_document() -> None:
        end_sentence()
        if not sents:
            return
        lines, spans, offset = [], [], 0
        for toks, tg in sents:
            starts, pos = [], offset
            for t in toks:
                starts.append(pos)
                pos += len(t) + 1
            spans += [(starts[s], starts[e - 1] + len(toks[e - 1]), lab) for s, e, lab in tag_spans(tg)]
            lines.append(" ".join(toks))
            offset = pos
        docs.append(("\n".join(lines), spans, [t for t, _ in sents], [tag_spans(tg) for _, tg in sents]))
        sents.clear()

    for line in (CONLL / name).read_text(encoding="utf-8").split("\n"):
        if line.startswith("-DOCSTART-"):
            end_document()
        elif not line.strip():
            end_sentence()
        else:
            parts = line.split(" ")
            words.append(parts[0])
            tags.append(parts[-1])
    end_document()
    return docs


def score(gold: list[set], pred: list[set]) -> dict[str, float]:
    """Strict entity F1 per type and overall (micro), from per-unit sets of (start, end, type)."""
    tp, fp, fn = Counter(), Counter(), Counter()
    for g, p in zip(gold, pred, strict=True):
        for s in g & p:
            tp[s[2]] += 1
        for s in p - g:
            fp[s[2]] += 1
        for s in g - p:
            fn[s[2]] += 1
    out = {}
    for lab in (*TYPES, "overall"):
        a = sum(tp.values()) if lab == "overall" else tp[lab]
        b = sum(fp.values()) if lab == "overall" else fp[lab]
        c = sum(fn.values()) if lab == "overall" else fn[lab]
        p_, r_ = a / (a + b) if a + b else 0.0, a / (a + c) if a + c else 0.0
        out[lab] = 2 * p_ * r_ / (p_ + r_) if p_ + r_ else 0.0
        if lab == "overall":
            out["precision"], out["recall"] = p_, r_
    return out


def n_words(docs: list[Doc]) -> int:
    return sum(len(s) for d in docs for s in d[2])


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


# ---------------------------------------------------------------------------------------------- systems


def run_nlpipe(train: list[Doc], dev: list[Doc], test: list[Doc], model_dir: Path, saved: Path | None = None) -> dict:
    """Train on ``train`` (early stopping on ``dev``) and save to ``model_dir``, or, with ``saved`` (a folder
    ``EntityRecognizer.save_artifact`` wrote), load that model instead of training; then predict ``test``."""
    from nlpipe.tasks.entities.model import EntityRecognizer
    from nlpipe.types import Span

    if saved is not None:
        model = EntityRecognizer.from_disk(saved / "spacy")
        return _nlpipe_predict(model, test) | {"train_min": None, "train_cpu_min": None, "runs": None}

    def spans(docs: list[Doc]) -> list[list[Span]]:
        return [[Span(s, e, lab) for s, e, lab in d[1]] for d in docs]

    last = [""]

    def progress(stage: str, done: int, total: int) -> None:
        if stage != last[0] or done == total or done % 25 == 0:
            print(f"    nlpipe {stage}: {done}/{total}", file=sys.stderr, flush=True)
            last[0] = stage

    t0, c0 = time.perf_counter(), cpu()
    model = EntityRecognizer(seed=0).fit([d[0] for d in train], spans(train), [d[0] for d in dev], spans(dev),
                                         progress=progress)  # fmt: skip
    train_s, train_cpu = time.perf_counter() - t0, cpu() - c0
    result = _nlpipe_predict(model, test)
    print(
        f"    nlpipe: F1 {result['overall']:.4f} {json.dumps(model.training_['runs'])[:3000]}",
        file=sys.stderr,
        flush=True,
    )
    model_dir.mkdir(parents=True, exist_ok=True)
    model.save_artifact(model_dir)
    runs = {
        k: {x: v[x] for x in ("iterations", "kept", "stopped", "seconds")}
        | {"best_dev_tag_f1": max(v["history"] or [0])}
        for k, v in model.training_["runs"].items()
    }
    return result | {"train_min": train_s / 60, "train_cpu_min": train_cpu / 60, "runs": runs}


def _nlpipe_predict(model: object, test: list[Doc]) -> dict:
    """Scores and words/s of one ``predict`` call over the test texts (a loaded model's first call, as a service's)."""
    t0 = time.perf_counter()
    pred = model.predict([d[0] for d in test])  # type: ignore[attr-defined]
    pred_s = time.perf_counter() - t0
    result = score([set(d[1]) for d in test], [{(s.start, s.end, s.label) for s in p} for p in pred])
    return result | {"words_per_s": n_words(test) / pred_s}


def _docbin(docs: list[Doc], path: Path) -> None:
    import spacy
    from spacy.tokens import Doc as SpacyDoc
    from spacy.tokens import DocBin

    vocab = spacy.blank("en").vocab
    db = DocBin()
    for _, _, sents, sent_spans in docs:
        words, ents = [], []
        for toks, spans in zip(sents, sent_spans, strict=True):
            base = len(words)
            words += toks
            ents += [(base + s, base + e, lab) for s, e, lab in spans]
        tags = ["O"] * len(words)
        for s, e, lab in ents:
            tags[s] = f"B-{lab}"
            for i in range(s + 1, e):
                tags[i] = f"I-{lab}"
        db.add(SpacyDoc(vocab, words=words, ents=tags))
    db.to_disk(path)


def run_spacy(train: list[Doc], dev: list[Doc], test: list[Doc], tmp: Path) -> dict:
    import spacy
    from spacy.tokens import Doc as SpacyDoc

    _docbin(train, tmp / "train.spacy")
    _docbin(dev, tmp / "dev.spacy")
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    py = sys.executable
    subprocess.run([py, "-m", "spacy", "init", "config", str(tmp / "ner.cfg"), "--lang", "en", "--pipeline", "ner",
                    "--optimize", "efficiency", "--force"], check=True, env=env, capture_output=True)  # fmt: skip
    t0, c0 = time.perf_counter(), cpu()
    log = tmp / "spacy-train.log"
    with log.open("w") as fh:
        done = subprocess.run([py, "-m", "spacy", "train", str(tmp / "ner.cfg"), "--output", str(tmp / "out"),
                               "--paths.train", str(tmp / "train.spacy"), "--paths.dev", str(tmp / "dev.spacy")],
                              env=env, stdout=fh, stderr=subprocess.STDOUT)  # fmt: skip
    if done.returncode:
        raise SystemExit(f"spacy train failed; see {log}:\n{log.read_text()[-2000:]}")
    train_s, train_cpu = time.perf_counter() - t0, cpu() - c0
    nlp = spacy.load(tmp / "out" / "model-best")
    gold, pred, words_in = [], [], []
    for _, _, sents, sent_spans in test:
        words, ents = [], set()
        for toks, spans in zip(sents, sent_spans, strict=True):
            base = len(words)
            words += toks
            ents |= {(base + s, base + e, lab) for s, e, lab in spans}
        gold.append(ents)
        words_in.append(words)
    t0 = time.perf_counter()
    docs = [nlp(SpacyDoc(nlp.vocab, words=w)) for w in words_in]
    pred_s = time.perf_counter() - t0
    pred = [{(e.start, e.end, e.label_) for e in d.ents} for d in docs]
    return score(gold, pred) | {"train_min": train_s / 60, "train_cpu_min": train_cpu / 60,
                                "words_per_s": n_words(test) / pred_s}  # fmt: skip


def _crf_word(sent: list[str], i: int, prefix: str) -> dict[str, object]:
    w = sent[i]
    import re

    shape = re.sub(r"[A-Z]", "X", re.sub(r"[a-z]", "x", re.sub(r"\d", "d", w)))
    return {
        f"{prefix}lower": w.lower(),
        f"{prefix}shape": re.sub(r"(.)\1+", r"\1", shape),
        f"{prefix}istitle": w.istitle(),
        f"{prefix}isupper": w.isupper(),
        f"{prefix}isdigit": w.isdigit(),
        f"{prefix}pre3": w[:3],
        f"{prefix}suf3": w[-3:],
        f"{prefix}suf2": w[-2:],
    }


def _crf_features(sent: list[str]) -> list[dict[str, object]]:
    out = []
    for i in range(len(sent)):
        f: dict[str, object] = {"bias": 1.0, **_crf_word(sent, i, "")}
        f["pre2"], f["suf4"], f["pre4"] = sent[i][:2], sent[i][-4:], sent[i][:4]
        for off in (-2, -1, 1, 2):
            j = i + off
            if 0 <= j < len(sent):
                f.update(_crf_word(sent, j, f"{off}:"))
            else:
                f[f"{off}:pad"] = True
        out.append(f)
    return out


def _iob2(n: int, spans: list[tuple[int, int, str]]) -> list[str]:
    tags = ["O"] * n
    for s, e, lab in spans:
        tags[s] = f"B-{lab}"
        for i in range(s + 1, e):
            tags[i] = f"I-{lab}"
    return tags


def run_crf(train: list[Doc], dev: list[Doc], test: list[Doc]) -> dict:
    import sklearn_crfsuite

    x_train = [_crf_features(s) for d in train for s in d[2]]
    y_train = [_iob2(len(s), sp) for d in train for s, sp in zip(d[2], d[3], strict=True)]
    t0, c0 = time.perf_counter(), cpu()
    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.1, c2=0.1, max_iterations=100, all_possible_transitions=True)
    crf.fit(x_train, y_train)
    train_s, train_cpu = time.perf_counter() - t0, cpu() - c0
    sents = [s for d in test for s in d[2]]
    t0 = time.perf_counter()
    tags = crf.predict([_crf_features(s) for s in sents])
    pred_s = time.perf_counter() - t0
    gold = [set(sp) for d in test for sp in d[3]]
    pred = [set(tag_spans(t)) for t in tags]
    return score(gold, pred) | {"train_min": train_s / 60, "train_cpu_min": train_cpu / 60,
                                "words_per_s": n_words(test) / pred_s}  # fmt: skip


def memory_10mb(model_dir: Path) -> dict:
    """Peak RSS of a fresh process that loads the saved nlpipe model and predicts on one 10 MB text."""
    code = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from nlpipe.tasks.entities.model import EntityRecognizer
        model = EntityRecognizer.from_disk(Path({str(model_dir / "spacy")!r}))
        text = open({str(CONLL / "eng.testb")!r}).read()
        words = " ".join(line.split(" ")[0] for line in text.split("\\n") if line and not line.startswith("-DOC"))
        para = words[:5000] + "\\n\\n"
        text = (para * (10_000_000 // len(para) + 1))[:10_000_000]
        t0 = time.perf_counter()
        [spans] = model.predict([text])
        # VmHWM: this process's own peak (ru_maxrss would include the RSS of the parent it was forked from)
        peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
        print(len(text), len(spans), time.perf_counter() - t0, peak)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return {"chars": int(out[0]), "spans": int(out[1]), "seconds": float(out[2]), "peak_rss_mb": int(out[3]) / 1024}


def layout_rows() -> list[dict] | None:
    if not (ROOT / "benchmarks" / "layout.py").is_file():
        return None
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import layout  # type: ignore[import-not-found]

    return list(layout.run())


# ------------------------------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--systems", default="nlpipe,spacy,crf", help="comma-separated: nlpipe, spacy, crf")
    ap.add_argument("--no-memory", action="store_true", help="skip the 10 MB memory measurement")
    ap.add_argument("--no-layout", action="store_true", help="skip benchmarks/layout.py")
    ap.add_argument(
        "--nlpipe-model",
        type=Path,
        metavar="DIR",
        help="load this saved nlpipe entity model (a folder save_artifact wrote, holding spacy/) instead of training "
        "one: F1 and words/s without the training minutes",
    )
    ap.add_argument("--save-nlpipe-model", type=Path, metavar="DIR", help="keep the trained nlpipe model in DIR")
    args = ap.parse_args()
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    train, dev, test = read_conll("eng.train"), read_conll("eng.testa"), read_conll("eng.testb")
    print(f"CoNLL-2003: {len(train)} train / {len(dev)} dev / {len(test)} test documents, "
          f"{n_words(train)} / {n_words(dev)} / {n_words(test)} words", flush=True)  # fmt: skip
    results: dict[str, dict] = {}
    memory = None
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for name in systems:
            print(f"  training {name} ...", file=sys.stderr, flush=True)
            if name == "nlpipe":
                model_dir = args.nlpipe_model or args.save_nlpipe_model or tmp / "nlpipe-model"
                results[name] = run_nlpipe(train, dev, test, model_dir, args.nlpipe_model)
                if not args.no_memory:
                    memory = memory_10mb(model_dir)
            elif name == "spacy":
                results[name] = run_spacy(train, dev, test, tmp)
            elif name == "crf":
                results[name] = run_crf(train, dev, test)
            else:
                raise SystemExit(f"unknown system {name!r}")
            minutes = results[name]["train_min"]
            print(f"  {name}: F1 {results[name]['overall']:.4f}, "
                  + ("loaded" if minutes is None else f"{minutes:.1f} min"), file=sys.stderr, flush=True)  # fmt: skip
    names = {"nlpipe": "nlpipe (2-pass CRF)", "spacy": "spaCy ner (efficiency)", "crf": "sklearn-crfsuite CRF"}
    head = f"{'system':<24}" + "".join(f"{t:>7}" for t in TYPES) + f"{'F1':>8}{'P':>8}{'R':>8}"
    head += f"{'train min':>11}{'cpu min':>9}{'words/s':>10}"
    print("\nEntity F1 on eng.testb (strict, CoNLL)")
    print(head)
    print("-" * len(head))
    for name, r in results.items():
        trained = r["train_min"] is not None
        print(f"{names[name]:<24}" + "".join(f"{r[t]:>7.3f}" for t in TYPES)
              + f"{r['overall']:>8.4f}{r['precision']:>8.3f}{r['recall']:>8.3f}"
              + (f"{r['train_min']:>11.1f}{r['train_cpu_min']:>9.1f}" if trained else f"{'loaded':>11}{'-':>9}")
              + f"{r['words_per_s']:>10.0f}")  # fmt: skip
    if results.get("nlpipe", {}).get("runs"):
        print(f"\nnlpipe CRF fits: {json.dumps(results['nlpipe']['runs'])}")
    if memory:
        print(f"nlpipe on one {memory['chars'] / 1e6:.0f} MB text: {memory['spans']} entities in "
              f"{memory['seconds']:.0f} s, peak RSS {memory['peak_rss_mb']:.0f} MB")  # fmt: skip
    if not args.no_layout:
        rows = layout_rows()
        print("\nLayout-aware vs text-only (benchmarks/layout.py)")
        if rows is None:
            print("  benchmarks/layout.py is missing: no layout result to show.")
        else:
            keys = list(dict.fromkeys(k for r in rows for k in r))
            print("  " + " | ".join(keys))
            for r in rows:
                print("  " + " | ".join(f"{r.get(k):.4f}" if isinstance(r.get(k), float) else str(r.get(k, ""))
                                        for k in keys))  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"results": results, "memory_10mb": memory}, indent=2, sort_keys=True) + "\n")
    ok = True
    if "nlpipe" in results:
        r = results["nlpipe"]
        checks = [(f"nlpipe overall F1 >= {TARGET_F1}", r["overall"] >= TARGET_F1)]
        if r["train_min"] is not None:
            checks.append((f"nlpipe training <= {TARGET_MINUTES:.0f} min", r["train_min"] <= TARGET_MINUTES))
        checks += [(f"nlpipe above {names[b]}", r["overall"] > results[b]["overall"]) for b in ("spacy", "crf")
                   if b in results]  # fmt: skip
        for b in ("spacy", "crf"):
            if b in results:
                faster = r["words_per_s"] >= results[b]["words_per_s"]
                checks.append((f"nlpipe predicts at least as many words/s as {names[b]}", faster))
        if memory:
            checks.append(("10 MB text under 2 GB peak memory", memory["peak_rss_mb"] < 2048))
        print()
        for label, passed in checks:
            print(f"{'PASS' if passed else 'FAIL'}  {label}")
            ok &= passed
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
