"""Webhook subscriptions (HMAC-signed POSTs of alerts, JSON or CAP 1.2)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request, Response

from dasedge.block import iso_utc
from service.auth import ReadKey, WriteKey
from service.edge.deps import AUTH_RESPONSES, BODY_RESPONSES, get_store
from service.edge.models import SubscriptionIn, SubscriptionOut

router = APIRouter(prefix="/api/v1/subscriptions", tags=["subscriptions"], responses=AUTH_RESPONSES)
SubId = Annotated[str, Path(max_length=64)]


def _out(row: dict, secret: str | None = None) -> dict:
    return {"id": row["id"], "url": row["url"], "filters": row["filters"], "format": row["format"],
            "created": iso_utc(row["created_ns"]), "active": row["active"], "secret": secret}


@router.post("", response_model=SubscriptionOut, status_code=201, responses=BODY_RESPONSES)
def create(request: Request, body: SubscriptionIn, _key: WriteKey):
    """Subscribe a URL to alerts created from now on.

    Each delivery is a POST signed with ``X-Dasedge-Signature: t=<ts>,v1=<hex>``
    (HMAC-SHA256 of ``"<ts>." + body`` with the subscription secret).  The
    secret is returned only here.
    """
    secret = body.secret or secrets.token_urlsafe(32)
    row = get_store(request).create_subscription(
        body.url, filters=body.filters.model_dump(exclude_none=True), fmt=body.format, secret=secret)
    return _out(row, secret)


@router.get("", response_model=list[SubscriptionOut])
def list_(request: Request, _key: ReadKey):
    """Active subscriptions (secrets are never listed)."""
    return [_out(r) for r in get_store(request).list_subscriptions()]


@router.get("/{sub_id}", response_model=SubscriptionOut, responses={404: {"description": "unknown subscription"}})
def get(request: Request, sub_id: SubId, _key: ReadKey):
    row = get_store(request).get_subscription(sub_id)
    if row is None:
        raise HTTPException(status_code=404, detail=f"no subscription {sub_id!r}")
    return _out(row)


@router.get("/{sub_id}/deliveries", responses={404: {"description": "unknown subscription"}})
def deliveries(request: Request, sub_id: SubId, _key: ReadKey) -> list[dict]:
    """Delivery state (pending/delivered/failed/cancelled, attempts, last HTTP status)."""
    store = get_store(request)
    if store.get_subscription(sub_id) is None:
        raise HTTPException(status_code=404, detail=f"no subscription {sub_id!r}")
    return store.list_deliveries(sub_id)


@router.delete("/{sub_id}", status_code=204, responses={404: {"description": "unknown subscription"}})
def delete(request: Request, sub_id: SubId, _key: WriteKey):
    """Unsubscribe (pending deliveries are cancelled)."""
    if not get_store(request).delete_subscription(sub_id):
        raise HTTPException(status_code=404, detail=f"no active subscription {sub_id!r}")
    return Response(status_code=204)
