"""Rich tables of metrics shared by `nlpipe train` and `nlpipe evaluate`."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from nlpipe.cli.common import fmt

SUMMARY_KEYS = ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "log_loss")


def metrics_table(metrics: dict[str, Any], title: str) -> Table:
    base = metrics.get("baseline") or {}
    table = Table("metric", "model", f"baseline ({base.get('name') or 'most frequent'})", title=title)
    keys = SUMMARY_KEYS + (("hamming_loss", "subset_accuracy") if metrics.get("multi_label") else ())
    for key in keys:
        if key in metrics:
            table.add_row(key, fmt(metrics[key]), fmt(base.get(key)))
    return table


def ordinal_table(ordinal: dict[str, Any]) -> Table:
    """Sentiment on a scale: MAE, MSE and weighted kappas beside the median-score baseline."""
    table = Table("metric", "model", f"baseline (always {ordinal['baseline']['predicts']})",
                  title=f"Ordinal scale 0..{ordinal['scale']}")  # fmt: skip
    for key in ("mae", "mse", "kappa_linear", "kappa_quadratic"):
        table.add_row(key, fmt(ordinal.get(key)), fmt(ordinal["baseline"].get(key)))
    return table


def per_label_table(metrics: dict[str, Any], limit: int = 30) -> Table:
    table = Table("label", "precision", "recall", "F1", "support")
    rows = sorted(metrics["per_label"].items(), key=lambda kv: -kv[1]["support"])
    for lab, m in rows[:limit]:
        table.add_row(lab, fmt(m["precision"], 3), fmt(m["recall"], 3), fmt(m["f1"], 3), str(m["support"]))
    if len(rows) > limit:
        table.caption = f"{len(rows) - limit} more labels in metrics.json"
    return table
