"""Throttled pipeline heartbeats into the store's status table (feeds ``/ready`` and ``/api/v1/status``)."""

from __future__ import annotations

import time
from typing import Any, Callable


class WorkerHeartbeat:
    """Call on every sink invocation; writes ``store.heartbeat(component, ...)`` at most every ``every_s``.

    Parameters
    ----------
    store
        A store from :func:`service.store.open_store`, or ``None`` (then a no-op).
    component
        Status row name, e.g. ``"traffic-worker"``.
    detail
        Conventional keys: ``model_loaded`` (bool), ``partitions_assigned`` (int).
    """

    def __init__(self, store: Any | None, component: str, *, every_s: float = 5.0,
                 detail: dict[str, Any] | None = None, model_version: str | None = None,
                 clock: Callable[[], int] = time.time_ns) -> None:
        self.store = store
        self.component = component
        self.every_ns = int(every_s * 1e9)
        self.detail = dict(detail or {})
        self.model_version = model_version
        self.clock = clock
        self._last_ns: int | None = None

    def __call__(self, *, last_data_ns: int | None = None, lag_s: float | None = None,
                 force: bool = False) -> bool:
        """Beat if due (or ``force``); returns whether a row was written."""
        if self.store is None:
            return False
        now = self.clock()
        if not force and self._last_ns is not None and now - self._last_ns < self.every_ns:
            return False
        self.store.heartbeat(self.component, last_data_ns=last_data_ns, lag_s=lag_s,
                             model_version=self.model_version, detail=self.detail, at_ns=now)
        self._last_ns = now
        return True

    def on_poll(self, worker: Any) -> bool:
        """Hook for :class:`dasedge.streaming.runtime.Worker` (``on_poll=``): reports the partitions
        the consumer owns, its lag and the newest data time; beats at once when the assignment changes."""
        n = len(worker.assigned)
        changed = self.detail.get("partitions_assigned") != n
        self.detail["partitions_assigned"] = n
        return self(last_data_ns=worker.last_data_end_ns, lag_s=worker.metrics.lag_seconds, force=changed)
