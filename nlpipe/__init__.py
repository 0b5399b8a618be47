"""nlpipe: self-hosted text classification, sentiment and entity extraction."""

__version__ = "0.1.0"
