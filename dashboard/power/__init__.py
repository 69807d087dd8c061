"""Power management: capacity on when work arrives, idle instances stopped, every action audited.

One module per concept, like rq's `rq/worker/`:
  state    the Redis lock, the small shared records, error backoff
  usage    GPU-hours accounting
  fleet    watching the fleet: workers, instances, the queue, SageMaker endpoints (reads)
  control  the decide-and-act cycle and staff actions (all writes to the fleet)
  holds    staff holds on instances or the fleet: never started until released
  panel    the status panel's data (reads)

Callers import from here; the names below are the ones used outside this package.
"""

from __future__ import annotations

from dashboard.power.control import capacity_ensure, hold_change, instance_action, power_tick
from dashboard.power.fleet import queue_counts
from dashboard.power.holds import FLEET, hold_notice, holds_all
from dashboard.power.panel import power_status
from dashboard.power.state import (
    CAPACITY_OK_KEY,
    LOCK_KEY,
    TICK_ALIVE_KEY,
    last_check,
    power_error,
    tick_heartbeat,
)
from dashboard.power.usage import ON_SINCE_KEY, USAGE_PREFIX, gpu_seconds_today, usage_observe

__all__ = [
    "CAPACITY_OK_KEY",
    "FLEET",
    "LOCK_KEY",
    "ON_SINCE_KEY",
    "TICK_ALIVE_KEY",
    "USAGE_PREFIX",
    "capacity_ensure",
    "gpu_seconds_today",
    "hold_change",
    "hold_notice",
    "holds_all",
    "instance_action",
    "last_check",
    "power_error",
    "power_status",
    "power_tick",
    "queue_counts",
    "tick_heartbeat",
    "usage_observe",
]
