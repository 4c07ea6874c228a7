"""The seismic processing chain shared by the batch CLI and the streaming worker.

blocks -> :class:`~.picking.StreamPicker` (picks, once each) -> sliding-window
association (:func:`~.associate.associate_picks`, re-run after every picker
window) -> :class:`~.alerts.EventTracker` (new / update / final messages).
Results depend only on the data, not on how it was cut into blocks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from dasedge.block import DASBlock
from dasedge.records import Pick, SeismicEvent

from .alerts import EventTracker
from .associate import AssocConfig, associate_picks
from .geometry import FiberGeometry
from .magnitude import DEFAULT, ScalingRelation
from .picking import PickerConfig, StreamPicker


@dataclass
class SeismicProcessor:
    annotator: Any
    picker_cfg: PickerConfig = field(default_factory=PickerConfig)
    assoc_cfg: AssocConfig = field(default_factory=AssocConfig)
    geometry: FiberGeometry | None = None
    relation: ScalingRelation = DEFAULT
    assoc_window_s: float = 60.0
    final_after_s: float = 30.0
    young_s: float = 10.0  # events younger than this may be single-phase (S not arrived yet)
    clock: Callable[[], int] | None = None  # wall clock for first_emitted_ns (None: data time)
    fiber_id: str | None = None

    def __post_init__(self) -> None:
        self.picker = StreamPicker(self.annotator, self.picker_cfg, fiber_id=self.fiber_id)
        self.tracker = EventTracker(final_after_s=self.final_after_s)
        self.buffer: list[Pick] = []
        self.assoc_seconds = 0.0

    def _associate(self, horizon_ns: int, *, final: bool = False) -> list[SeismicEvent]:
        lo = horizon_ns - int(self.assoc_window_s * 1e9)
        self.buffer = [p for p in self.buffer if p.t_ns >= lo]
        t = time.perf_counter()
        # young events may still be P-only (the S wave has not arrived): the both-phases rule
        # (AssocConfig.min_phase_fraction) applies once the origin is `young_s` old, or at the end
        cfg = replace(self.assoc_cfg, min_phase_fraction=0.0)
        res = associate_picks(self.buffer, self.geometry, cfg, self.relation, fiber_id=self.picker.fiber_id)
        frac = self.assoc_cfg.min_phase_fraction
        young = horizon_ns - int(self.young_s * 1e9)
        keep = [e for e in res.events
                if (e.origin_ns > young and not final) or min(e.num_p, e.num_s) >= frac * e.num_picks]
        if len(keep) != len(res.events):
            ids = {e.id for e in keep}
            res = type(res)(keep, res.input_picks, [x if x in ids else None for x in res.event_of], res.raw)
        self.assoc_seconds += time.perf_counter() - t
        now = self.clock() if self.clock else horizon_ns
        msgs = self.tracker.update(res.events, horizon_ns, now, res.members())
        self.last_association = res
        if final:
            msgs += self.tracker.finalize()
        return msgs

    def push(self, block: DASBlock) -> tuple[list[Pick], list[SeismicEvent]]:
        """Process one block; returns new picks and event messages."""
        picks: list[Pick] = []
        msgs: list[SeismicEvent] = []
        for window_picks in self.picker.push_windows(block):
            picks += window_picks
            self.buffer += window_picks
            horizon = self.picker.picked_to_ns
            assert horizon is not None
            if window_picks:
                msgs += self._associate(horizon)
            else:  # nothing new to associate: only let old events become final
                msgs += self.tracker.finalize(before_ns=horizon - int(self.final_after_s * 1e9))
        return picks, msgs

    def flush(self) -> tuple[list[Pick], list[SeismicEvent]]:
        picks = self.picker.flush()
        self.buffer += picks
        horizon = self.picker.picked_to_ns
        if horizon is None:
            return picks, self.tracker.finalize()
        return picks, self._associate(horizon, final=True)


def final_events(messages: list[SeismicEvent]) -> list[SeismicEvent]:
    """The last message of every event (its final state)."""
    last: dict[str, SeismicEvent] = {}
    for m in messages:
        last[m.id] = m
    return sorted(last.values(), key=lambda e: e.origin_ns)
