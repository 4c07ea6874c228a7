"""The seismic processing chain shared by the batch CLI and the streaming worker.

blocks -> :class:`~.picking.StreamPicker` (picks, once each) -> sliding-window
association (:func:`~.associate.associate_picks`, re-run after every picker
window) -> :class:`~.alerts.EventTracker` (new / update / final messages).
Results depend only on the data, not on how it was cut into blocks.

Restart state
-------------
:meth:`SeismicProcessor.state_dict` / :meth:`SeismicProcessor.load_state` carry
what the processor needs to continue after a crash (``kill -9``) from a
JSON document: the tracker's open events (ids, versions, last emitted
status), recently finalised events (so their re-solutions stay suppressed),
pick membership of every tracked event, and the association pick buffer
(compact: zlib-compressed columns, base64; pick ids are re-derived), and the
picker's resume point (window-grid origin and emitted-picks mark,
:meth:`~.picking.StreamPicker.resume_point`): fed again with
:meth:`~.picking.StreamPicker.context_s` of data before the crash (the worker's
runtime windows hold that much back from the committed offset), the restarted
picker emits exactly the picks the uninterrupted one would have.  The
streaming runtime persists it with every offset commit as the per-stream
``state`` (see :mod:`dasedge.streaming.runtime`, ``max_state_bytes``), so a
restarted worker finalises every event exactly once under its first id.
If the document would exceed ``max_bytes`` the oldest buffered picks are
left out (the tracker part is always kept).
"""

from __future__ import annotations

import base64
import json
import time
import zlib
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

import numpy as np

from dasedge.block import DASBlock
from dasedge.records import Pick, SeismicEvent, stable_id

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
        self._restored_ids: set[str] = set()  # buffer picks restored from a state document

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
            if self._restored_ids:  # a restarted picker may re-emit picks the restored buffer holds
                window_picks = [p for p in window_picks if p.id not in self._restored_ids]
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
        if self._restored_ids:
            picks = [p for p in picks if p.id not in self._restored_ids]
        self.buffer += picks
        horizon = self.picker.picked_to_ns
        if horizon is None:
            return picks, self.tracker.finalize()
        return picks, self._associate(horizon, final=True)

    # ------------------------------------------------------------------ restart state
    def state_dict(self, max_bytes: int = 40000) -> dict[str, Any]:
        """JSON-serialisable restart state (see the module docstring).

        Parameters
        ----------
        max_bytes
            Upper bound of the JSON size; the oldest buffered picks are dropped to fit.

        Returns
        -------
        dict
            ``{"v": 1, "events": [...], "n_active": int, "buf": str, "n_buf": int, ...}``;
            empty if there is nothing to carry over.
        """
        tr = self.tracker
        point = self.picker.resume_point()
        if not tr.active and not self.buffer:
            return {"v": 1, "picker": point} if point else {}
        # finalised events still matter while their picks can be re-solved from the buffer
        lo = min((p.t_ns for p in self.buffer), default=None)
        keep_final = [e for e in tr.finalized
                      if lo is None or e.origin_ns >= lo - int((self.assoc_window_s + self.final_after_s) * 1e9)]
        events = list(tr.active.values()) + keep_final
        doc: dict[str, Any] = {"v": 1, "events": [asdict(e) for e in events], "n_active": len(tr.active),
                               "picker": point}
        n = len(self.buffer)
        while True:
            buf = self.buffer[len(self.buffer) - n:] if n else []
            doc.update(_encode_picks(buf, [tr.members.get(e.id, set()) for e in events]))
            size = len(json.dumps(doc, separators=(",", ":")))
            if size <= max_bytes or n == 0:
                break
            n = min(n - 1, int(n * max_bytes / size * 0.9))
        return doc

    def load_state(self, doc: dict[str, Any] | None) -> None:
        """Continue from a :meth:`state_dict` document (no-op for an empty / unknown one)."""
        if not doc or doc.get("v") != 1:
            return
        # the picker continues the previous window grid and emits nothing before its mark
        self.picker.resume_from(doc.get("picker"))
        if "events" not in doc:
            return
        events = [SeismicEvent(**e) for e in doc["events"]]
        n_active = int(doc["n_active"])
        buf, members = _decode_picks(doc)
        self.buffer = buf
        self._restored_ids = {p.id for p in buf}
        tr = self.tracker
        tr.active = {e.id: e for e in events[:n_active]}
        tr.finalized = events[n_active:]
        tr.members = {e.id: m for e, m in zip(events, members) if m}

    def save_state(self, state: dict[str, Any], max_bytes: int = 40000) -> None:
        """Replace the contents of the runtime's per-stream ``state`` dict with :meth:`state_dict`."""
        state.clear()
        state.update(self.state_dict(max_bytes))


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.ascontiguousarray(a).tobytes(), 6)).decode("ascii")


def _unb64(s: str, dtype: Any) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(s)), dtype=dtype)


def _encode_picks(buf: list[Pick], members: list[set[str]]) -> dict[str, Any]:
    """Compact columns of the buffered picks and, per event, the buffer indices of its member picks."""
    if not buf:
        return {"n_buf": 0, "fid": None, "buf": "", "mem": ["" for _ in members]}
    t = np.array([p.t_ns for p in buf], np.int64)
    chan = np.array([p.channel for p in buf], np.int64)
    uc, inv = np.unique(chan, return_inverse=True)
    dist = np.array([p.distance_m for p in buf], np.float64)
    udist = np.zeros(uc.size)
    udist[inv] = dist
    cols = {
        "dt": _b64(np.diff(t, prepend=t[0])),
        "t0": int(t[0]),
        "uc": _b64(uc.astype(np.int64)),
        "ud": _b64(udist),
        "ci": _b64(inv.astype(np.int32)),
        "s": _b64(np.array([p.phase == "S" for p in buf], np.uint8)),
        "sc": _b64(np.array([p.score for p in buf], np.float64)),
        "a": _b64(np.array([np.nan if p.amplitude is None else p.amplitude for p in buf], np.float64)),
    }
    pos = {p.id: i for i, p in enumerate(buf)}
    mem = [_b64(np.array(sorted(pos[x] for x in m if x in pos), np.int32)) for m in members]
    return {"n_buf": len(buf), "fid": buf[0].fiber_id, "buf": cols, "mem": mem}


def _decode_picks(doc: dict[str, Any]) -> tuple[list[Pick], list[set[str]]]:
    n = int(doc.get("n_buf", 0))
    if n == 0:
        return [], [set() for _ in doc.get("mem", [])]
    c, fid = doc["buf"], doc["fid"]
    t = (c["t0"] + np.cumsum(_unb64(c["dt"], np.int64))).tolist()
    ci = _unb64(c["ci"], np.int32)
    chan = _unb64(c["uc"], np.int64)[ci].tolist()
    dist = _unb64(c["ud"], np.float64)[ci].tolist()
    is_s = _unb64(c["s"], np.uint8).tolist()
    score = _unb64(c["sc"], np.float64).tolist()
    amp = _unb64(c["a"], np.float64).tolist()
    buf = []
    for ti, ch, d, s, sc, a in zip(t, chan, dist, is_s, score, amp):
        ph = "S" if s else "P"
        buf.append(Pick(id=stable_id(fid, ch, ph, ti, prefix="pk_"), fiber_id=fid, channel=ch, distance_m=d,
                        t_ns=ti, phase=ph, score=sc, amplitude=None if a != a else a))  # type: ignore[arg-type]
    members = [{buf[i].id for i in _unb64(m, np.int32).tolist()} if m else set() for m in doc["mem"]]
    return buf, members


def final_events(messages: list[SeismicEvent]) -> list[SeismicEvent]:
    """The last message of every event (its final state)."""
    last: dict[str, SeismicEvent] = {}
    for m in messages:
        last[m.id] = m
    return sorted(last.values(), key=lambda e: e.origin_ns)
