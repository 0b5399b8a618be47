"""API keys with names and scopes (``nlpipe keys create|list|revoke``), stored hashed in the store.

A key is 32 random bytes (URL-safe base64, prefixed ``nlp_``), shown once when it is made; the store keeps its
SHA-256 only, so a leaked database gives no key (the keys are random, so a plain hash is enough: there is nothing
to guess). Each key has a name -- the annotator its labeling writes are made as, and what logs and jobs record --
and scopes, which the API checks route by route:

- ``predict``: the predict routes, model listings, batch jobs;
- ``read``: document text, queues, labels, progress, datasets;
- ``label``: annotations and reviews;
- ``ingest``: document uploads;
- ``train``: training (reserved for the training routes);
- ``admin``: promoting models, and the jobs of other keys.

Keys in ``NLPIPE_API_KEYS`` keep working, with every scope.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from nlpipe.errors import ConflictError, InputError, NotFoundError
from nlpipe.store.db import Store
from nlpipe.store.schema import ApiKey, utcnow

__all__ = ["SCOPES", "KeyInfo", "create_key", "hash_key", "list_keys", "parse_scopes", "revoke_key", "stored_keys"]

SCOPES: tuple[str, ...] = ("predict", "read", "label", "ingest", "train", "admin")
PREFIX = "nlp_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@ -]{0,99}")


@dataclass(frozen=True)
class KeyInfo:
    """A stored key, without the key: its name, scopes, when it was made and revoked (None while it works)."""

    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def parse_scopes(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Scopes from ``predict,read`` (or a list), in :data:`SCOPES` order; E251 for none or an unknown one."""
    items = text.replace(",", " ").split() if isinstance(text, str) else [s.strip() for s in text]
    unknown = [s for s in items if s not in SCOPES]
    if unknown or not items:
        what = f"unknown scope {', '.join(repr(s) for s in unknown)}" if unknown else "no scope given"
        raise InputError("E251", f"{what}; give one or more of {', '.join(SCOPES)} (comma-separated)",
                         field="scopes")  # fmt: skip
    return tuple(s for s in SCOPES if s in items)


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name.strip()):
        raise InputError("E250", f"Invalid key name {name!r}: use 1-100 letters, digits, spaces, '_', '.', '@' or "
                         "'-', starting with a letter or digit (it is also the annotator name the key writes as).",
                         field="name")  # fmt: skip
    return name.strip()


def create_key(store: Store, name: str, scopes: str | list[str] | tuple[str, ...]) -> str:
    """Make a key named ``name`` with ``scopes``; returns the key, which is not stored and cannot be shown again.
    E252 when a key of that name exists (revoked ones included: names stay in logs and jobs)."""
    name, wanted = _check_name(name), parse_scopes(scopes)
    key = PREFIX + secrets.token_urlsafe(32)
    with store.session() as s:
        if s.scalar(select(ApiKey.id).where(ApiKey.name == name)) is not None:
            raise ConflictError("E252", f"A key named {name!r} exists; revoke it and choose another name, or list "
                                "them with `nlpipe keys list`.", field="name")  # fmt: skip
        s.add(ApiKey(name=name, key_hash=hash_key(key), scopes=" ".join(wanted)))
    return key


def list_keys(store: Store) -> list[KeyInfo]:
    """Every stored key (never the key itself), by name."""
    with store.session() as s:
        rows = s.scalars(select(ApiKey).order_by(ApiKey.name)).all()
        return [KeyInfo(r.name, tuple(r.scopes.split()), r.created_at, r.revoked_at) for r in rows]


def revoke_key(store: Store, name: str) -> KeyInfo:
    """Revoke the key ``name`` (E253 when there is none; revoking twice keeps the first time). Servers stop
    accepting it within seconds: they re-read the keys every ``api.deps.KeyRing.REFRESH`` seconds."""
    with store.session() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.name == name.strip()))
        if row is None:
            raise NotFoundError("E253", f"No key named {name!r}; see `nlpipe keys list`.", field="name")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        return KeyInfo(row.name, tuple(row.scopes.split()), row.created_at, row.revoked_at)


def stored_keys(store: Store) -> dict[str, tuple[str, tuple[str, ...]]]:
    """The working keys: key hash -> (name, scopes)."""
    with store.session() as s:
        rows = s.execute(select(ApiKey.key_hash, ApiKey.name, ApiKey.scopes).where(ApiKey.revoked_at.is_(None)))
        return {h: (n, tuple(sc.split())) for h, n, sc in rows}
