"""Event life cycle for alerts: ``new`` -> ``update`` (version++) -> ``final``.

Association is re-run on a sliding window of picks; :class:`EventTracker`
matches each solution to the events already announced - first by shared
picks (at least ``min_overlap`` of the smaller pick set), else by origin within
``match_dt_s`` and along-fiber position within ``match_dx_m`` - so an
earthquake keeps its first id even when an early, P-only solution had a
wrong origin/distance trade-off.  An event is announced ``new`` as soon as a
solution exists (``min_picks`` agreeing picks), re-announced ``update``
when it changes, and ``final`` once the data horizon is ``final_after_s``
past its origin (the sliding window has moved past its picks).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from dasedge.records import SeismicEvent


def _changed(a: SeismicEvent, b: SeismicEvent) -> bool:
    return (a.num_picks != b.num_picks or abs(a.origin_ns - b.origin_ns) > 20_000_000
            or (a.x_m or 0) != (b.x_m or 0) or a.magnitude != b.magnitude)


@dataclass
class EventTracker:
    match_dt_s: float = 2.0
    match_dx_m: float = 5000.0
    final_after_s: float = 30.0
    active: dict[str, SeismicEvent] = field(default_factory=dict)
    finalized: list[SeismicEvent] = field(default_factory=list)

    min_overlap: float = 0.3
    members: dict[str, set[str]] = field(default_factory=dict)

    def _match(self, sol: SeismicEvent, pool, picks: set[str] | None = None) -> SeismicEvent | None:
        if picks:
            best_o, best = 0.0, None
            for ev in pool:
                m = self.members.get(ev.id)
                if m:
                    o = len(m & picks) / max(1, min(len(m), len(picks)))
                    if o > best_o:
                        best_o, best = o, ev
            if best is not None and best_o >= self.min_overlap:
                return best
        best, best_dt = None, None
        for ev in pool:
            dt = abs(ev.origin_ns - sol.origin_ns) / 1e9
            dx = abs((ev.x_m or 0.0) - (sol.x_m or 0.0))
            if dt < self.match_dt_s and dx < self.match_dx_m and (best_dt is None or dt < best_dt):
                best, best_dt = ev, dt
        return best

    def update(self, solutions: list[SeismicEvent], horizon_ns: int, now_ns: int,
               members: dict[str, set[str]] | None = None) -> list[SeismicEvent]:
        """Messages caused by a new set of solutions seen at data time ``horizon_ns``.

        ``members`` maps solution ids to their pick ids (for pick-overlap matching).
        """
        members = members or {}
        out: list[SeismicEvent] = []
        cutoff = horizon_ns - int(self.final_after_s * 1e9)
        used: set[str] = set()
        for sol in sorted(solutions, key=lambda e: -e.num_picks):
            picks = members.get(sol.id)
            if self._match(sol, self.finalized, picks) is not None:
                continue
            prev = self._match(sol, [e for e in self.active.values() if e.id not in used], picks)
            if prev is not None:
                used.add(prev.id)
                if picks:
                    self.members[prev.id] = set(picks)
                if _changed(prev, sol):
                    new = replace(sol, id=prev.id, status="update", version=prev.version + 1,
                                  first_emitted_ns=prev.first_emitted_ns)
                    self.active[prev.id] = new
                    out.append(new)
            elif sol.origin_ns >= cutoff:
                new = replace(sol, status="new", version=1, first_emitted_ns=now_ns)
                self.active[new.id] = new
                if picks:
                    self.members[new.id] = set(picks)
                used.add(new.id)
                out.append(new)
        out += self.finalize(before_ns=cutoff)
        return out

    def finalize(self, before_ns: int | None = None) -> list[SeismicEvent]:
        """Mark active events older than ``before_ns`` (all if None) final."""
        out = []
        for eid in sorted(self.active, key=lambda k: self.active[k].origin_ns):
            ev = self.active[eid]
            if before_ns is None or ev.origin_ns < before_ns:
                fin = replace(ev, status="final", version=ev.version + 1)
                out.append(fin)
                self.finalized.append(fin)
                del self.active[eid]
        # keep the suppression list short
        if len(self.finalized) > 200:
            for ev in self.finalized[:-200]:
                self.members.pop(ev.id, None)
            self.finalized = self.finalized[-200:]
        return out
