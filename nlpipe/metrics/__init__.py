"""Metrics and reports: gold and predicted labels, spans or fields in, JSON-ready dicts and report.html out.

Pure functions with no task, store or model (the tasks' ``score`` calls them; :mod:`nlpipe.evaluate` drives a
saved model through its task). :mod:`~nlpipe.metrics.classification` scores a classifier (its entry point,
:func:`~nlpipe.metrics.classification.classification_metrics`), from the input checks (``checks``), the counting
passes over the examples (``passes``), the P/R/F1 tables (``scores``, whose :func:`prf` the entity and field
evaluations share too), the confusion section (``confusion``) and ROC AUC / PR curves (``ranking``).
``entities``, ``ordinal`` and ``fields`` score the other tasks; ``report`` (with ``htmlparts``) writes
metrics.json and report.html. The package imports none of its modules.
"""
