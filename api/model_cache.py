"""The API server's loaded models: at most ``NLPIPE_MAX_LOADED_MODELS`` predictors (and, when
``NLPIPE_MAX_LOADED_MODEL_BYTES`` is set, at most that much memory as measured when each loaded), least recently
used dropped.

Requests without a version get the version the cache serves for the model; a watcher thread (:meth:`watch`,
every ``NLPIPE_MODEL_REFRESH_SECONDS``) notices a promote or a rollback, loads the new version and only then serves
it, so no request waits for the load and requests already holding the old version finish on it.

A model that fails to load (damaged, refused by the file checks, another library version) fails only the requests
for it, with its coded error: preloading at start-up logs it and goes on with the other models.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple

from nlpipe import artifacts
from nlpipe.config import DEFAULT_MAX_MODEL_BYTES
from nlpipe.errors import NlpipeError
from nlpipe.predict import predictor_for
from nlpipe.tasks.base import BasePredictor

log = logging.getLogger("nlpipe.api")

Key = tuple[str, str]


class LoadStats(NamedTuple):
    """How long a model version took to load, and how much the process's resident memory grew meanwhile (an
    estimate: another thread may allocate at the same time; never negative)."""

    load_seconds: float
    memory_bytes: int


def resident_bytes() -> int:
    """This process's resident set size (0 where /proc is not there)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class ModelCache:
    """Loaded predictors keyed by (name, version), at most ``max_loaded`` of them (LRU). A version is loaded by one
    thread at a time; loading one model never blocks requests for models already loaded."""

    def __init__(
        self,
        models_dir: Path,
        *,
        max_loaded: int = 8,
        max_bytes: int = DEFAULT_MAX_MODEL_BYTES,
        max_memory: int = 0,
    ) -> None:
        self.models_dir = models_dir
        self.max_loaded = max(1, max_loaded)
        self.max_bytes = max_bytes
        self.max_memory = max_memory
        self._watcher: threading.Thread | None = None
        self._stopping = threading.Event()
        self._loaded: OrderedDict[Key, tuple[BasePredictor, LoadStats]] = OrderedDict()
        self._loading: dict[Key, threading.Lock] = {}
        self._serving: dict[str, str] = {}  # name -> the version requests without one get
        self._lock = threading.Lock()
        #: Models whose serving version failed to load at start-up: name -> {code, message}.
        self.failed: dict[str, dict[str, str]] = {}

    def _cached(self, key: Key) -> BasePredictor | None:
        with self._lock:
            found = self._loaded.get(key)
            if found is not None:
                self._loaded.move_to_end(key)
            return None if found is None else found[0]

    def get(self, name: str, version: str | None = None) -> BasePredictor:
        """The predictor of ``name``'s ``version`` (a version or an alias), loaded on first use. Without a version:
        the serving version this cache has settled on (:meth:`refresh` follows promotes), else production, else
        the newest."""
        if version is None:
            with self._lock:
                serving = self._serving.get(name)
            if serving is not None:
                found = self._cached((name, serving))
                if found is not None:
                    return found
        path = artifacts.resolve(self.models_dir, name, version)
        predictor = self._load(name, path)
        if version is None:
            with self._lock:
                self._serving[name] = path.name
        return predictor

    def refresh(self) -> list[tuple[str, str, str]]:
        """Follow promotes and rollbacks: for each model served without a version, load the version its aliases
        now point at, then serve it (the old one is left to the LRU, and requests that hold it finish on it).
        Returns (name, old version, new version) for each change; a model that cannot be resolved or loaded now
        keeps its version (logged)."""
        with self._lock:
            serving = dict(self._serving)
        changed = []
        for name, old in serving.items():
            try:
                path = artifacts.resolve(self.models_dir, name, None)
                if path.name == old:
                    continue
                self._load(name, path)
            except Exception as exc:  # a half-promoted or damaged version: keep serving the old one
                log.error("model %s: the new serving version is not served (%s); %s stays", name, exc, old)
                continue
            with self._lock:
                self._serving[name] = path.name
            log.info("model %s: now serving %s (was %s)", name, path.name, old)
            changed.append((name, old, path.name))
        return changed

    def _load(self, name: str, path: Path) -> BasePredictor:
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
            started, memory = time.perf_counter(), resident_bytes()
            try:
                predictor = predictor_for(artifacts.load(path, max_bytes=self.max_bytes))
            finally:
                with self._lock:
                    self._loading.pop(key, None)
            stats = LoadStats(time.perf_counter() - started, max(0, resident_bytes() - memory))
            log.info("model %s@%s loaded in %.2f s", name, path.name, stats.load_seconds)
            with self._lock:
                self._loaded[key] = (predictor, stats)
                while len(self._loaded) > self.max_loaded or (len(self._loaded) > 1 and self._over_memory()):
                    dropped, _ = self._loaded.popitem(last=False)
                    log.info("model %s@%s dropped (least recently used)", *dropped)
            return predictor

    def _over_memory(self) -> bool:
        """Whether the loaded versions' memory (as measured when each loaded) is over ``max_memory`` (0: no cap)."""
        return self.max_memory > 0 and sum(s.memory_bytes for _, s in self._loaded.values()) > self.max_memory

    def watch(self, interval: float) -> None:
        """Call :meth:`refresh` every ``interval`` seconds in a background thread, until :meth:`stop`."""
        if interval <= 0 or self._watcher is not None:
            return

        def loop() -> None:
            while not self._stopping.wait(interval):
                try:
                    self.refresh()
                except Exception:  # never let the watcher die: the next round tries again
                    log.exception("model refresh failed")

        self._watcher = threading.Thread(target=loop, name="nlpipe-model-watcher", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join(timeout=10)
            self._watcher = None

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

    def stats(self) -> dict[Key, LoadStats]:
        """Load time and memory of each loaded (name, version)."""
        with self._lock:
            return {key: stats for key, (_, stats) in self._loaded.items()}

    def __len__(self) -> int:
        return len(self._loaded)
