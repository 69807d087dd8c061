"""The endpoint power policy: which endpoints to scale to zero, given their states and last invocations.

Pure: no I/O, no clock, like `dashboard.compute.policy`. The caller passes the time in `Snapshot.now`
and keeps `Memory` between calls (Redis for the site, a variable for `bench/power_sim.py`).

Rules
- An endpoint is idle from the latest of: its last invocation, the console's last start of it, and the
  moment it was first seen billing (so one deployed by hand gets the whole idle period too).
- An idle endpoint goes to zero once idle for its `idle_after` seconds (0: never), but never before
  `min_in_service` seconds after the console started it: a start costs minutes of billing before it
  serves, so a quiet moment right after one must not undo it (no flapping).
- A paused endpoint that is billing goes to zero whatever its timers say, and nothing here starts one:
  starts happen on demand (`dashboard.endpoints.demand`), which refuses paused endpoints.
- Only endpoints that bill (Creating, InService, Updating) are scaled; Creating and Updating ones wait
  until InService, Failed ones are left for a person to look at.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dashboard.endpoints.base import BILLED_STATES, IN_SERVICE


@dataclass(frozen=True)
class EndpointView:
    name: str
    state: str
    idle_after: float  # seconds; 0 means never scale to zero for idleness
    last_invocation: float | None = None
    started_at: float | None = None  # the console's last start of it
    paused: bool = False


@dataclass(frozen=True)
class Snapshot:
    now: float
    endpoints: tuple[EndpointView, ...]


@dataclass(frozen=True)
class PolicyConfig:
    min_in_service: float = 600.0


@dataclass(frozen=True)
class Memory:
    seen_since: dict[str, float] = field(default_factory=dict)  # first seen billing, this stretch

    def to_json(self) -> dict:
        return {"seen_since": dict(self.seen_since)}

    @classmethod
    def from_json(cls, data: dict | None) -> Memory:
        return cls(seen_since={k: float(v) for k, v in ((data or {}).get("seen_since") or {}).items()})


@dataclass(frozen=True)
class Decision:
    scale_to_zero: tuple[str, ...] = ()
    reasons: dict[str, str] = field(default_factory=dict)  # why each endpoint goes to zero
    idle_left: dict[str, float] = field(default_factory=dict)  # seconds before an in-service one would


def idle_reference(view: EndpointView, memory: Memory) -> float | None:
    marks = [t for t in (view.last_invocation, view.started_at, memory.seen_since.get(view.name)) if t is not None]
    return max(marks) if marks else None


def seconds_left(view: EndpointView, memory: Memory, config: PolicyConfig, *, now: float) -> float:
    """Seconds before an in-service, unpaused endpoint goes to zero (≤ 0: it goes now)."""
    reference = idle_reference(view, memory)
    idle_for = now - reference if reference is not None else 0.0
    left = view.idle_after - idle_for
    if view.started_at is not None:
        left = max(left, config.min_in_service - (now - view.started_at))
    return left


def decide(snapshot: Snapshot, config: PolicyConfig, memory: Memory) -> tuple[Decision, Memory]:
    now = snapshot.now
    seen = {v.name: memory.seen_since.get(v.name, now) for v in snapshot.endpoints if v.state in BILLED_STATES}
    memory = Memory(seen_since=seen)
    down: list[str] = []
    reasons: dict[str, str] = {}
    idle_left: dict[str, float] = {}
    for view in snapshot.endpoints:
        if view.state not in BILLED_STATES:
            continue
        if view.paused:
            down.append(view.name)
            reasons[view.name] = "paused"
            continue
        if view.state != IN_SERVICE or view.idle_after <= 0:
            continue
        left = seconds_left(view, memory, config, now=now)
        if left <= 0:
            reference = idle_reference(view, memory)
            idle_for = now - reference if reference is not None else 0.0
            down.append(view.name)
            reasons[view.name] = f"no invocation for {idle_for:.0f} s (idle limit {view.idle_after:.0f} s)"
        else:
            idle_left[view.name] = left
    for name in down:
        seen.pop(name, None)
    return Decision(scale_to_zero=tuple(sorted(down)), reasons=reasons, idle_left=idle_left), memory
