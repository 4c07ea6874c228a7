"""API key administration (admin scope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response

from dasedge.block import iso_utc
from service.auth import AdminKey, create_key
from service.edge.deps import AUTH_RESPONSES, BODY_RESPONSES, get_store
from service.edge.models import KeyIn, KeyOut

router = APIRouter(prefix="/api/v1/keys", tags=["keys"], responses=AUTH_RESPONSES)


def _out(r: dict, key: str | None = None) -> dict:
    return {"key_id": r["key_id"], "scopes": r["scopes"], "name": r["name"], "created": iso_utc(r["created_ns"]),
            "revoked": None if r["revoked_ns"] is None else iso_utc(r["revoked_ns"]), "key": key}


@router.get("", response_model=list[KeyOut])
def list_(request: Request, _key: AdminKey):
    """All keys (ids, scopes, state; never secrets)."""
    return [_out(r) for r in get_store(request).list_api_keys()]


@router.post("", response_model=KeyOut, status_code=201, responses=BODY_RESPONSES)
def create(request: Request, body: KeyIn, _key: AdminKey):
    """Create a key; the plain key is in this response only."""
    store = get_store(request)
    key_id, plain = create_key(store, body.scopes, name=body.name)
    return _out(store.get_api_key(key_id), plain)


@router.delete("/{key_id}", status_code=204, responses={404: {"description": "unknown or revoked key"}})
def revoke(request: Request, key_id: Annotated[str, Path(max_length=64)], key: AdminKey):
    """Revoke a key."""
    if not get_store(request).revoke_api_key(key_id):
        raise HTTPException(status_code=404, detail=f"no active key {key_id!r}")
    return Response(status_code=204)
