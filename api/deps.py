"""Dependencies the routes declare: settings, the store, the model cache, API keys with scopes (:func:`authorize`)."""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, SecurityScopes

from api.model_cache import ModelCache
from api.observe import note
from api.ratelimit import caller
from nlpipe.config import Settings
from nlpipe.errors import AuthError, ForbiddenError
from nlpipe.keys import SCOPES, hash_key, stored_keys
from nlpipe.store.db import Store


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_store(request: Request) -> Store:
    """The app's store, opened when the app starts (``api.main.create_app``)."""
    return request.app.state.store


async def get_models(request: Request) -> ModelCache:
    return request.app.state.models


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
ModelsDep = Annotated[ModelCache, Depends(get_models)]

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key: `nlpipe keys create`, or one of NLPIPE_API_KEYS."
)
#: Scopes a route may need without any key existing (a fresh install: reads and predictions stay open).
OPEN_WITHOUT_KEYS = frozenset({"predict", "read"})


@dataclass(frozen=True)
class Principal:
    """Who a request's key is: its name (a stored key's name, or NAME of an ``NLPIPE_API_KEYS`` entry NAME:KEY;
    None for a plain entry) -- also the annotator it writes as -- and its scopes (every scope for env keys)."""

    name: str | None
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def label(self) -> str:
        return repr(self.name) if self.name else "from NLPIPE_API_KEYS"

    @property
    def who(self) -> str:
        """The name the access log and the rate limit know the key by."""
        return self.name or "NLPIPE_API_KEYS"


class KeyRing:
    """The keys a server accepts: ``NLPIPE_API_KEYS`` (every scope) and the store's keys, re-read at most every
    :data:`REFRESH` seconds, so a key made or revoked by ``nlpipe keys`` (on this machine or another replica sharing
    the database) is seen within seconds without a restart. Keys are compared by their SHA-256 (env keys in
    constant time)."""

    REFRESH = 2.0

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store, self.settings = store, settings
        self._stored: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def _keys(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        now = time.monotonic()
        with self._lock:
            if self._read_at is None or now - self._read_at >= self.REFRESH:
                self._stored, self._read_at = stored_keys(self.store), now
            return self._stored

    def any_keys(self) -> bool:
        return bool(self.settings.api_keys) or bool(self._keys())

    def names(self) -> set[str]:
        """The annotator names keys carry (case-folded): a plain key may not act as one of them."""
        env = {n for n in self.settings.api_key_names.values() if n is not None}
        return {n.casefold() for n in env | {name for name, _ in self._keys().values()}}

    def lookup(self, key: str) -> Principal | None:
        for known, name in self.settings.api_key_names.items():
            if hmac.compare_digest(key.encode("utf-8", "surrogatepass"), known.encode("utf-8", "surrogatepass")):
                return Principal(name, frozenset(SCOPES))
        found = self._keys().get(hash_key(key))
        return None if found is None else Principal(found[0], frozenset(found[1]))


async def get_keys(request: Request) -> KeyRing:
    return request.app.state.keys


def authorize(
    security_scopes: SecurityScopes,
    request: Request,
    settings: SettingsDep,
    key: Annotated[str | None, Depends(api_key_header)],
) -> Principal | None:
    """The caller of a route that declares its scope with ``Security(authorize, scopes=[SCOPE])`` (no scope: any
    valid key, for routes that check ownership themselves). 401 E601 without a key or with one that is unknown or
    revoked; 403 E640 for a key without the scope. Before any key exists, ``predict`` and ``read`` routes (and the
    GET routes without a scope) are open and the others disabled; ``NLPIPE_ANONYMOUS_PREDICT`` opens ``predict`` to
    callers without a key when keys exist. Returns None for an open call. The call is then counted against the
    key's rate limit (:mod:`api.ratelimit`; 429 E616 past it)."""
    principal = _principal(security_scopes, request, settings, key)
    limits = getattr(request.app.state, "rate_limits", None)
    if limits is not None:
        limits.check(caller(request, None if principal is None else principal.who))
    return principal


def _principal(
    security_scopes: SecurityScopes, request: Request, settings: Settings, key: str | None
) -> Principal | None:
    scope = security_scopes.scopes[0] if security_scopes.scopes else None
    ring: KeyRing = request.app.state.keys
    if key is None:
        if not ring.any_keys():
            if scope in OPEN_WITHOUT_KEYS or (scope is None and request.method in ("GET", "HEAD")):
                return None
            raise AuthError("E601", "This endpoint is disabled: no API keys exist. Make one with `nlpipe keys create "
                            "NAME --scopes ...` (or set NLPIPE_API_KEYS) and send it in X-API-Key.")  # fmt: skip
        if scope == "predict" and settings.anonymous_predict:
            return None
        raise AuthError("E601", "This endpoint needs an API key in the X-API-Key header.")
    principal = ring.lookup(key)
    if principal is None:
        raise AuthError("E601", "The API key in X-API-Key is not valid (unknown, or revoked).")
    note(request, key=principal.who)
    if scope is not None and not principal.allows(scope):
        raise ForbiddenError("E640", f"The API key {principal.label} lacks the {scope!r} scope this endpoint needs; "
                             f"it has {', '.join(sorted(principal.scopes))}. Use a key with that scope (`nlpipe keys "
                             "create NAME --scopes ...`).")  # fmt: skip
    return principal


def _scoped(scope: str | None) -> Any:
    return Annotated[Principal | None, Security(authorize, scopes=[scope] if scope else [])]


PredictAuth = _scoped("predict")
ReadAuth = _scoped("read")
LabelAuth = _scoped("label")
IngestAuth = _scoped("ingest")
AdminAuth = _scoped("admin")
AnyKeyAuth = _scoped(None)  # a valid key of any scope; the route checks what the key may see (its own jobs)
KeysDep = Annotated[KeyRing, Depends(get_keys)]
