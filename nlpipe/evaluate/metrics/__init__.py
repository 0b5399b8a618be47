"""Metrics of the evaluate stage: pure functions, no disk access.

:mod:`~nlpipe.evaluate.metrics.classification` scores a classifier (its entry point,
:func:`~nlpipe.evaluate.metrics.classification.classification_metrics`), from the input checks (``checks``), the
counting passes over the examples (``passes``), the P/R/F1 tables (``scores``, whose :func:`prf` the entity and
field evaluations share too), the confusion section (``confusion``) and ROC AUC / PR curves (``ranking``).
"""
