"""Text classification: the task, :class:`~nlpipe.tasks.classify.model.TextClassifier` and its hashed and shortlist
strategies."""
