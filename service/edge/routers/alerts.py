"""Alerts: Server-Sent Events stream (resumable) and recent-alert listing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from service.alerts import alert_json, sse_format
from service.auth import ReadKey
from service.edge.deps import AUTH_RESPONSES, get_store
from service.edge.models import AlertOut

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"], responses=AUTH_RESPONSES)
SiteQ = Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$",
                                    description="cloud: only alerts from this site (edge id)")]


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                     "description": "SSE: `id:` = alert sequence, `event:` = kind, `data:` = alert JSON"}},
)
async def stream(
    request: Request, _key: ReadKey,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=20)] = None,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="resume after this sequence (as Last-Event-ID)")] = None,
    keepalive_s: Annotated[float, Query(ge=0.05, le=300, allow_inf_nan=False)] = 15.0,
    site: SiteQ = None,
):
    """Live alerts as Server-Sent Events.

    ``?site=`` (cloud) keeps only the alerts of one site; ``Last-Event-ID``
    then resumes that site's alerts after the sequence.

    Reconnect with the ``Last-Event-ID`` header (or ``?after=``) to receive
    every alert after that sequence (replayed from the store) before live
    ones.  Without either, only alerts created after connecting are sent.
    The stream opens with ``retry: 2000`` and a ``: connected`` comment
    (sent once the client is subscribed); comment lines (``: keep-alive``)
    follow every ``keepalive_s`` without alerts.
    """
    resume = after
    if resume is None and last_event_id is not None and last_event_id.strip().isdigit():
        resume = int(last_event_id.strip())
    broker = request.app.state.broker

    async def gen():
        first = True
        async for a in broker.stream(resume, keepalive_s=keepalive_s, site=site):
            if first:  # subscribed: from here on no alert can be missed
                first = False
                yield b"retry: 2000\n: connected\n\n"
                continue
            if await request.is_disconnected():
                break
            yield b": keep-alive\n\n" if a is None else sse_format(a)

    return StreamingResponse(gen(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("", response_model=list[AlertOut])
def recent(
    request: Request, _key: ReadKey,
    after: Annotated[int, Query(ge=0, le=2**62, description="return alerts with a larger sequence")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    site: SiteQ = None,
):
    """Alerts after a sequence number (polling alternative to the stream); ``?site=`` as on the stream."""
    return [alert_json(a) for a in get_store(request).alerts_after(after, limit, site_id=site)]
