"""The API server's loaded models: at most ``NLPIPE_MAX_LOADED_MODELS`` predictors, least recently used dropped.

A model that fails to load (damaged, refused by the file checks, another library version) fails only the requests
for it, with its coded error: preloading at start-up logs it and goes on with the other models.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path

from nlpipe import artifacts
from nlpipe.config import DEFAULT_MAX_MODEL_BYTES
from nlpipe.errors import NlpipeError
from nlpipe.predict import predictor_for
from nlpipe.tasks.base import BasePredictor

log = logging.getLogger("nlpipe.api")

Key = tuple[str, str]


class ModelCache:
    """Loaded predictors keyed by (name, version), at most ``max_loaded`` of them (LRU). A version is loaded by one
    thread at a time; loading one model never blocks requests for models already loaded."""

    def __init__(self, models_dir: Path, *, max_loaded: int = 8, max_bytes: int = DEFAULT_MAX_MODEL_BYTES) -> None:
        self.models_dir = models_dir
        self.max_loaded = max(1, max_loaded)
        self.max_bytes = max_bytes
        self._loaded: OrderedDict[Key, BasePredictor] = OrderedDict()
        self._loading: dict[Key, threading.Lock] = {}
        self._lock = threading.Lock()
        #: Models whose serving version failed to load at start-up: name -> {code, message}.
        self.failed: dict[str, dict[str, str]] = {}

    def _cached(self, key: Key) -> BasePredictor | None:
        with self._lock:
            found = self._loaded.get(key)
            if found is not None:
                self._loaded.move_to_end(key)
            return found

    def get(self, name: str, version: str | None = None) -> BasePredictor:
        path = artifacts.resolve(self.models_dir, name, version)
        key = (name, path.name)
        found = self._cached(key)
        if found is not None:
            return found
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            found = self._cached(key)
            if found is not None:
                return found
            try:
                predictor = predictor_for(artifacts.load(path, max_bytes=self.max_bytes))
            finally:
                with self._lock:
                    self._loading.pop(key, None)
            with self._lock:
                self._loaded[key] = predictor
                while len(self._loaded) > self.max_loaded:
                    self._loaded.popitem(last=False)
            return predictor

    def preload(self) -> None:
        """Load the serving version (production, else newest) of each model, up to ``max_loaded`` of them; a model
        that fails is logged with its code (and kept in :attr:`failed`) and the others are still loaded."""
        self.failed.clear()
        names = sorted({row["name"] for row in artifacts.list_models(self.models_dir)})
        for name in names[: self.max_loaded]:
            try:
                self.get(name)
            except NlpipeError as exc:
                self.failed[name] = {"code": exc.code, "message": exc.message}
                log.error("model %s not loaded: [%s] %s", name, exc.code, exc.message)
            except Exception as exc:  # a model must never stop the server: any failure is this model's
                self.failed[name] = {"code": "E410", "message": f"{type(exc).__name__}: {exc}"}
                log.exception("model %s not loaded", name)
        if len(names) > self.max_loaded:
            log.info("%d models not preloaded (NLPIPE_MAX_LOADED_MODELS=%d); they load on first use",
                     len(names) - self.max_loaded, self.max_loaded)  # fmt: skip

    def loaded(self) -> list[Key]:
        """The loaded (name, version) pairs, least recently used first."""
        with self._lock:
            return list(self._loaded)

    def __len__(self) -> int:
        return len(self._loaded)
