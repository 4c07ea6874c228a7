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
        # data-time coverage (completeness of interval statistics): the span [a, b) seen gap-free
        # since the last flush, the newest data end and the worker's gap counter at the last poll
        self._cov: list[int] | None = None
        self._cov_end: int | None = None
        self._cov_gaps: int | None = None

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
        the consumer owns, its lag and the newest data time; beats at once when the assignment changes.

        Also records the data time the worker processed (``store.add_coverage(component, t0, t1)``,
        the basis of ``completeness_pct`` of interval statistics): between two polls the span from
        the previous newest block end to the new one is covered when the worker's gap counter did not
        change; a gap leaves that span uncovered (conservative: the exact resume point inside it is
        not visible from here).  Spans are buffered and written with the heartbeat (at most every
        ``every_s``) or when a discontinuity starts a new span.
        """
        n = len(worker.assigned)
        changed = self.detail.get("partitions_assigned") != n
        self.detail["partitions_assigned"] = n
        self._track_coverage(worker.last_data_end_ns, int(getattr(worker.metrics, "gaps", 0) or 0))
        beat = self(last_data_ns=worker.last_data_end_ns, lag_s=worker.metrics.lag_seconds, force=changed)
        if beat:
            self.flush_coverage()
        return beat

    def _track_coverage(self, end: int | None, gaps: int) -> None:
        if end is None:
            return
        prev, prev_gaps = self._cov_end, self._cov_gaps
        self._cov_gaps = gaps
        if prev is None or end <= prev:
            self._cov_end = end if prev is None else prev
            return
        self._cov_end = end
        if gaps != prev_gaps:  # a gap somewhere in (prev, end]: start a new span at end
            self.flush_coverage()
            return
        if self._cov is not None and self._cov[1] == prev:
            self._cov[1] = end
        else:
            self.flush_coverage()
            self._cov = [prev, end]  # touching the previous span: the store merges them

    def flush_coverage(self) -> None:
        """Write the buffered coverage span (if any) to the store."""
        if self._cov is not None and self.store is not None and hasattr(self.store, "add_coverage"):
            self.store.add_coverage(self.component, self._cov[0], self._cov[1])
        self._cov = None
