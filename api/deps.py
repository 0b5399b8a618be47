"""Dependencies the routes declare: settings, the store, the model cache, and API-key auth for write endpoints."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from api.model_cache import ModelCache
from nlpipe.config import Settings
from nlpipe.errors import AuthError
from nlpipe.store.db import Store


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_store(request: Request) -> Store:
    """The app's store, opened when the app starts (``api.main.create_app``)."""
    return request.app.state.store


def get_models(request: Request) -> ModelCache:
    return request.app.state.models


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
ModelsDep = Annotated[ModelCache, Depends(get_models)]

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Key from NLPIPE_API_KEYS.")


def _known_key(settings: Settings, key: str | None) -> str:
    """``key`` when it is one of NLPIPE_API_KEYS (compared in constant time), else E601."""
    if key is None:
        raise AuthError("E601", "This endpoint needs an API key in the X-API-Key header.")
    if not any(hmac.compare_digest(key.encode(), k.encode()) for k in settings.api_key_names):
        raise AuthError("E601", "The API key in X-API-Key is not valid.")
    return key


def require_api_key(settings: SettingsDep, key: Annotated[str | None, Depends(api_key_header)]) -> str:
    """Write endpoints: the request must carry one of NLPIPE_API_KEYS in the X-API-Key header."""
    if not settings.api_keys:
        raise AuthError("E601", "Write endpoints are disabled: no API keys are configured. Set NLPIPE_API_KEYS.")
    return _known_key(settings, key)


def require_read_key(settings: SettingsDep, key: Annotated[str | None, Depends(api_key_header)]) -> str | None:
    """Reads of annotators' work (annotations, queues, document text): a valid key once any key is configured.

    Without NLPIPE_API_KEYS the service has no writers and these reads stay open, like the other GET endpoints.
    """
    if not settings.api_keys:
        return None
    return _known_key(settings, key)


ApiKeyDep = Annotated[str, Depends(require_api_key)]
ReadKeyDep = Annotated[str | None, Depends(require_read_key)]
