"""Sentiment: the task, the trained model, the VADER lexicon and the sentence splitter."""
