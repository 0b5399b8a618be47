import json
import re

import numpy as np
import pytest

from nlpipe.errors import InputError
from nlpipe.metrics.classification import classification_metrics
from nlpipe.metrics.report import write_report

EVIL = "<script>alert('x')</script> & \"quotes\""
META = {
    "model": "news-clf",
    "model_version": 3,
    "dataset": "news<2024>",
    "split": "test",
    "created_at": "2024-05-01T12:00:00Z",
}


def single_metrics(n_labels=4, n=60, seed=0):
    rng = np.random.default_rng(seed)
    labels = [f"label_{j}" for j in range(n_labels)]
    y = rng.integers(0, n_labels, n)
    P = rng.dirichlet(np.ones(n_labels), size=n)
    P[np.arange(n), y] += 0.5
    P /= P.sum(axis=1, keepdims=True)
    texts = [EVIL] + [f"example {i}" for i in range(1, n)]
    P[0] = 0.0
    P[0, (y[0] + 1) % n_labels] = 1.0  # example 0 is the most confidently wrong one
    return classification_metrics([[labels[i]] for i in y], P, labels, multi_label=False, texts=texts)


def multi_metrics(seed=1):
    rng = np.random.default_rng(seed)
    labels = ["sport", "politics", "tech", "<b>bold</b>"]
    Y = rng.random((50, 4)) < 0.4
    P = np.clip(Y * 0.3 + rng.random((50, 4)) * 0.7, 0, 1)
    y_true = [[labels[j] for j in np.flatnonzero(row)] for row in Y]
    return classification_metrics(y_true, P, labels, multi_label=True, texts=[EVIL] * 50)


def test_report_writes_metrics_json_round_trip(tmp_path):
    m = single_metrics()
    path = write_report(m, tmp_path / "out", title="Eval", meta=META)
    assert path == tmp_path / "out" / "report.html" and path.is_file()
    raw = (tmp_path / "out" / "metrics.json").read_text()
    assert json.loads(raw) == m
    assert raw == json.dumps(m, indent=2, sort_keys=True) + "\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["metrics.json", "report.html"]


def test_report_html_contains_numbers_meta_and_plots(tmp_path):
    m = single_metrics()
    html = write_report(m, tmp_path, title="Eval <v1>", meta=META).read_text()
    assert "<title>Eval &lt;v1&gt;</title>" in html
    for key in ("accuracy", "macro_f1", "micro_f1", "weighted_f1"):
        assert f"{m[key]:.4f}" in html
        assert f"{m['baseline'][key]:.4f}" in html
    assert f"{m['log_loss']:.4f}" in html
    for lab, row in m["per_label"].items():
        assert lab in html and f"{row['f1']:.4f}" in html
    assert "news-clf" in html and "news&lt;2024&gt;" in html and "2024-05-01T12:00:00Z" in html
    assert html.count('src="data:image/png;base64,') == 3  # confusion, PR curves, thresholds


def test_report_is_self_contained(tmp_path):
    html = write_report(single_metrics(), tmp_path, title="Eval", meta=META).read_text()
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(?!data:)[^"'\s>]+""", html)
    assert "<link" not in html and "@import" not in html and "url(" not in html
    assert "<img" in html or "<svg" in html


def test_report_escapes_worst_error_text(tmp_path):
    m = single_metrics()
    assert m["worst_errors"][0]["text"] == EVIL
    html = write_report(m, tmp_path, title="Eval").read_text()
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quotes&quot;" in html


def test_report_multi_label(tmp_path):
    m = multi_metrics()
    html = write_report(m, tmp_path, title="Multi").read_text()
    assert "multi-label" in html and f"{m['hamming_loss']:.4f}" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    assert "<script" not in html
    assert html.count("<img") == 3
    assert json.loads((tmp_path / "metrics.json").read_text()) == m


def test_report_many_labels_restricted_confusion(tmp_path):
    m = single_metrics(n_labels=45, n=400)
    assert m["confusion"]["restricted"] is True and len(m["confusion"]["labels"]) == 30
    labels = [f"label_{j}" for j in range(45)]
    P = np.full((3, 45), 0.5 / 44)
    P[:, 7] = 0.5
    m = classification_metrics(
        [["label_0"], ["label_1"], ["label_7"]], P, labels, multi_label=False, max_confusion_labels=10
    )
    html = write_report(m, tmp_path, title="Many").read_text()
    assert "Showing the 10 of 45 labels" in html
    assert html.count("<img") == 3


def test_report_numpy_values_and_nan_are_stored_as_json(tmp_path):
    m = {"n_examples": np.int64(3), "labels": ["a"], "accuracy": np.float64("nan"), "extra": np.arange(2)}
    write_report(m, tmp_path, title="Odd")
    assert json.loads((tmp_path / "metrics.json").read_text()) == {
        "n_examples": 3,
        "labels": ["a"],
        "accuracy": None,
        "extra": [0, 1],
    }


def test_report_bad_arguments(tmp_path):
    with pytest.raises(InputError) as info:
        write_report([1, 2], tmp_path, title="x")
    assert info.value.code == "E520"
    with pytest.raises(InputError) as info:
        write_report({"labels": object()}, tmp_path, title="x")
    assert info.value.code == "E521"
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError) as info:
        write_report({"labels": []}, tmp_path / "file", title="x")
    assert info.value.code == "E522"


def test_report_import_does_not_load_matplotlib():
    import subprocess
    import sys

    modules = "nlpipe.metrics.report, nlpipe.metrics.classification"
    code = f"import sys, {modules}; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
