"""nlpipe's version (the one in pyproject.toml), in a module of its own so any layer can read it without importing
the public API package."""

__version__ = "0.1.0"
