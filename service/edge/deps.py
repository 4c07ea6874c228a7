"""Shared FastAPI dependencies and helpers of the edge (and cloud) API."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator

from fastapi import HTTPException, Query, Request
from fastapi.responses import Response

from service.edge.formats import to_csv

_I64_MAX = 2**63 - 1


def get_store(request: Request):
    """The app's :class:`service.store.Store` (``app.state.store``)."""
    return request.app.state.store


def to_ns(dt: datetime | None) -> int | None:
    """Datetime (naive = UTC) to int ns, clamped to the int64 range."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    ns = int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000
    return max(-_I64_MAX, min(_I64_MAX, ns))


def time_range(start: datetime | None, end: datetime | None) -> tuple[int | None, int | None]:
    """Validate a ``[start, end)`` range; 422 when ``end <= start``."""
    s, e = to_ns(start), to_ns(end)
    if s is not None and e is not None and e <= s:
        raise HTTPException(status_code=422, detail="end must be after start")
    return s, e


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|z|[+-]\d{2}:?\d{2})?$")


def _iso_only(v: Any) -> Any:
    if isinstance(v, str) and not _ISO.match(v.strip()):
        raise ValueError("expected an ISO 8601 time such as 2026-01-01T00:00:00Z")
    if isinstance(v, (int, float)):
        raise ValueError("expected an ISO 8601 time, not a number")
    return v


def _in_range(v: datetime) -> datetime:
    if not 1900 <= v.year <= 2200:
        raise ValueError("time outside the supported range 1900..2200")
    return v


#: an ISO 8601 time (date-only allowed; naive = UTC) within 1900..2200
UtcTime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(_in_range)]

StartQ = Annotated[UtcTime | None, Query(description="inclusive start, ISO 8601 (naive = UTC)")]
EndQ = Annotated[UtcTime | None, Query(description="exclusive end, ISO 8601 (naive = UTC)")]
LimitQ = Annotated[int, Query(ge=1, le=10_000, description="page size")]
OffsetQ = Annotated[int, Query(ge=0, le=1_000_000_000, description="rows to skip (0-based)")]
FormatQ = Annotated[Literal["json", "csv"], Query(description="json (default) or csv export")]


def page_or_csv(docs: list, total: int | None, limit: int, offset: int, fmt: str,
                columns: list[str] | None = None, filename: str = "export.csv") -> Response:
    """JSON page ``{data, count, limit, offset}`` or a CSV download.

    For ``fmt="json"`` ``docs`` are the stored JSON strings (``raw=True``
    store queries), spliced into the body without re-parsing; for CSV they
    are dicts.
    """
    if fmt == "csv":
        return Response(to_csv(docs, columns), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    return json_page(docs, {"count": total, "limit": limit, "offset": offset})


def json_page(raw_docs: list[str], extra: dict) -> Response:
    """``{"data": [<raw docs>], **extra}`` as an ``application/json`` response."""
    tail = json.dumps(extra, separators=(",", ":"))[1:]
    body = '{"data":[' + ",".join(raw_docs) + "]" + ("," + tail if tail != "}" else "}")
    return Response(body, media_type="application/json")


BODY_RESPONSES = {400: {"description": "malformed JSON body"}}
CSV_RESPONSE = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON page or CSV"}}


#: documented refusals of every protected route
AUTH_RESPONSES = {
    401: {"description": "missing, unknown or revoked API key (header X-API-Key)"},
    403: {"description": "the API key lacks the required scope"},
}
