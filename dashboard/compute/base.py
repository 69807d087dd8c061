"""The compute backend interface: a fleet of instances that can be started and stopped.

Both backends (`ec2`, `local`) speak in the same four states, so the policy, the panel and the
controls never ask which one they have.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

from dashboard.exceptions import ComputeError

STOPPED = "stopped"
PENDING = "pending"
RUNNING = "running"
STOPPING = "stopping"
STATES = (STOPPED, PENDING, RUNNING, STOPPING)
# Counted as GPU time: EC2 bills from `running` to `stopping`; `pending` is short on EC2 and is the
# simulated boot on the local backend, so counting it errs on the side of a higher estimate.
POWERED_STATES = frozenset({PENDING, RUNNING})

# EC2 has more states than we act on; these map them onto ours.
_EC2_STATES = {
    "pending": PENDING,
    "running": RUNNING,
    "stopping": STOPPING,
    "shutting-down": STOPPING,
    "stopped": STOPPED,
    "terminated": STOPPED,
}


def state_from_ec2(name: str) -> str:
    return _EC2_STATES.get(name, STOPPED)


@dataclass(frozen=True)
class Instance:
    """One instance as the console sees it."""

    id: str
    state: str
    type: str = ""
    launch_time: datetime | None = None
    public_address: str = ""
    private_address: str = ""
    # The provider's own state name when it says more than ours (EC2's `terminated`, `shutting-down`).
    detail: str = ""

    @property
    def powered(self) -> bool:
        return self.state in POWERED_STATES


class ComputeBackend(ABC):
    """A fleet of instances. Every method may raise `dashboard.exceptions.ComputeError`."""

    name: str = ""
    supports_reboot: bool = False

    @abstractmethod
    def instance_ids(self) -> list[str]:
        """The ids this console manages (from settings; no remote call)."""

    @abstractmethod
    def instances(self) -> list[Instance]:
        """The current state of every managed instance."""

    @abstractmethod
    def start(self, instance_id: str) -> str:
        """Start an instance; returns its state after the call. `stopping` raises ComputeStateConflict."""

    @abstractmethod
    def stop(self, instance_id: str) -> str:
        """Stop an instance (its worker finishes the job in hand); returns its state after the call."""

    def reboot(self, instance_id: str) -> None:
        raise ComputeError(f"{self.name} instances cannot be rebooted; stop and start them instead")
