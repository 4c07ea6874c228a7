"""Shared FastAPI dependencies and helpers of the edge (and cloud) API."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

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


StartQ = Annotated[datetime | None, Query(description="inclusive start, ISO 8601 (naive = UTC)")]
EndQ = Annotated[datetime | None, Query(description="exclusive end, ISO 8601 (naive = UTC)")]
LimitQ = Annotated[int, Query(ge=1, le=10_000, description="page size")]
OffsetQ = Annotated[int, Query(ge=0, le=1_000_000_000, description="rows to skip (0-based)")]
FormatQ = Annotated[Literal["json", "csv"], Query(description="json (default) or csv export")]


def page_or_csv(docs: list[dict], total: int | None, limit: int, offset: int, fmt: str,
                columns: list[str] | None = None, filename: str = "export.csv") -> Any:
    """JSON page ``{data, count, limit, offset}`` or a CSV download."""
    if fmt == "csv":
        return Response(to_csv(docs, columns), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    return {"data": docs, "count": total, "limit": limit, "offset": offset}


CSV_RESPONSE = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON page or CSV"}}
