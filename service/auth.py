"""API keys: creation, verification and FastAPI scope dependencies.

Key format: ``dk_<8 hex key id>.<43-char urlsafe secret>``.  Only the key id
(visible prefix, safe for logs) and ``sha256(salt || secret)`` with a random
per-key 16-byte salt are stored; verification recomputes the hash and
compares with :func:`hmac.compare_digest`.  The plain key is shown once, by
``dasedge keys create``.

Scopes: ``read`` < ``write`` < ``admin`` (each includes the lower ones).

FastAPI usage (the app must set ``app.state.store`` to a
:class:`service.store.Store`)::

    from service.auth import ReadKey, WriteKey, AdminKey, require_scope

    @router.get("/things")
    def things(key: ReadKey): ...

    @router.post("/things", dependencies=[Depends(require_scope("write"))])
    def make(): ...

Missing/unknown/revoked/malformed key -> 401 (with ``WWW-Authenticate:
APIKey``); valid key without the scope -> 403.  Public routes (no key):
``/health``, ``/ready``, ``/api/v1/version``, ``/docs``, ``/redoc``,
``/openapi.json`` and the fdsnws ``version``/``application.wadl`` documents.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Annotated, Sequence

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader

log = logging.getLogger(__name__)

SCOPES: tuple[str, ...] = ("read", "write", "admin")
_RANK = {s: i for i, s in enumerate(SCOPES)}
_KEY_RE = re.compile(r"^(dk_[0-9a-f]{8})\.([A-Za-z0-9_-]{20,100})$")

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="dasedge API key (dk_xxxxxxxx.secret)")


@dataclass(frozen=True)
class ApiKey:
    """An authenticated key (never holds the secret)."""

    key_id: str
    scopes: tuple[str, ...]
    name: str = ""

    def has(self, scope: str) -> bool:
        """True if any of the key's scopes is ``scope`` or a higher one."""
        need = _RANK[scope]
        return any(_RANK.get(s, -1) >= need for s in self.scopes)


def _hash(salt: bytes, secret: str) -> str:
    return hashlib.sha256(salt + secret.encode()).hexdigest()


def create_key(store, scopes: Sequence[str], name: str = "") -> tuple[str, str]:
    """Create and store a key; returns ``(key_id, plain_key)`` (show the plain key once)."""
    scopes = tuple(dict.fromkeys(scopes))
    bad = [s for s in scopes if s not in _RANK]
    if not scopes or bad:
        raise ValueError(f"scopes must be a non-empty subset of {SCOPES}; got {list(scopes)}")
    key_id = "dk_" + secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    store.add_api_key(key_id, salt=salt.hex(), hash=_hash(salt, secret), scopes=scopes, name=name)
    log.info("created API key %s scopes=%s", key_id, ",".join(scopes))
    return key_id, f"{key_id}.{secret}"


def verify_key(store, presented: str | None) -> ApiKey | None:
    """Return the :class:`ApiKey` for a presented key, or ``None`` if invalid/revoked."""
    if not presented:
        return None
    m = _KEY_RE.match(presented.strip())
    if m is None:
        return None
    key_id, secret = m.groups()
    row = store.get_api_key(key_id)
    if row is None:
        # burn comparable time so unknown ids are not distinguishable by timing
        hmac.compare_digest(_hash(b"\0" * 16, secret), "0" * 64)
        return None
    ok = hmac.compare_digest(_hash(bytes.fromhex(row["salt"]), secret), row["hash"])
    if not ok or row["revoked_ns"] is not None:
        return None
    return ApiKey(key_id=key_id, scopes=tuple(row["scopes"]), name=row.get("name") or "")


def require_scope(scope: str):
    """FastAPI dependency factory: authenticate ``X-API-Key`` and require ``scope``."""
    if scope not in _RANK:
        raise ValueError(f"unknown scope {scope!r}")

    def dependency(request: Request, key: Annotated[str | None, Security(api_key_header)] = None) -> ApiKey:
        store = request.app.state.store
        api_key = verify_key(store, key)
        if api_key is None:
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="missing or invalid API key (header X-API-Key)",
                headers={"WWW-Authenticate": "APIKey"},
            )
        if not api_key.has(scope):
            log.info("key %s refused: needs scope %s", api_key.key_id, scope)
            raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=f"API key lacks scope '{scope}'")
        request.state.api_key = api_key
        return api_key

    dependency.__name__ = f"require_{scope}"
    return dependency


ReadKey = Annotated[ApiKey, Depends(require_scope("read"))]
WriteKey = Annotated[ApiKey, Depends(require_scope("write"))]
AdminKey = Annotated[ApiKey, Depends(require_scope("admin"))]
