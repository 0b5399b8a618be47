"""nlpipe's version, read by pyproject.toml from here: a module of its own so any layer can read it without
importing the public API package."""

__version__ = "0.1.0"
