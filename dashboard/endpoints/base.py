"""The endpoint backend interface: model endpoints that can be invoked, scaled to zero and brought back.

Both backends (`aws`: SageMaker through boto3; `local`: a process per endpoint on this machine, serving
the same container contract, `GET /ping` and `POST /invocations`) speak in SageMaker's endpoint states
plus one of ours, `ScaledToZero`, so the Fleet panel, the Generate page, the classifier engine and the
power policy never ask which backend they have.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

CREATING = "Creating"
IN_SERVICE = "InService"
UPDATING = "Updating"
DELETING = "Deleting"
FAILED = "Failed"
# Not running and not billing, but kept: a real-time endpoint whose endpoint is deleted while its
# endpoint config stays, an async endpoint scaled in to 0 instances, a local endpoint with no process.
SCALED_TO_ZERO = "ScaledToZero"
STATES = (CREATING, IN_SERVICE, UPDATING, DELETING, FAILED, SCALED_TO_ZERO)
# Counted as billed endpoint time. SageMaker bills instances from provisioning; counting `Creating`
# errs on the side of a higher estimate, as the compute backends do with `pending`.
BILLED_STATES = frozenset({CREATING, IN_SERVICE, UPDATING})

# How an endpoint goes to zero (docs/sagemaker.md compares their cold starts).
REALTIME = "realtime"  # delete the endpoint, keep its endpoint config, re-create it on demand
ASYNC = "async"  # application auto scaling of the variant's instance count to 0, and back to 1
KINDS = (REALTIME, ASYNC)


@dataclass(frozen=True)
class Endpoint:
    """One endpoint as the console sees it."""

    name: str
    state: str
    kind: str = REALTIME
    instance_type: str = ""
    instance_count: int = 0
    failure_reason: str = ""
    last_modified: datetime | None = None
    # The endpoint config a scaled-to-zero real-time endpoint is re-created from.
    config_name: str = ""

    @property
    def billed(self) -> bool:
        return self.state in BILLED_STATES

    @property
    def in_service(self) -> bool:
        return self.state == IN_SERVICE


@dataclass(frozen=True)
class Invocation:
    body: bytes
    content_type: str


class EndpointBackend(ABC):
    """Model endpoints. Control-plane methods raise `EndpointStatusUnavailable` (reads) or `DeployError`
    (changes); `invoke` raises the `EndpointError` subclasses (`EndpointNotReady` when the endpoint is
    missing, scaled to zero or not in service, `EndpointThrottled`, `EndpointTimeout`,
    `EndpointModelError`, `EndpointUnavailable`), each with a message a user can act on."""

    name: str = ""

    @abstractmethod
    def endpoint_names(self) -> list[str]:
        """The endpoints this console manages (from settings and local registrations; no remote call)."""

    @abstractmethod
    def endpoint_describe(self, name: str) -> Endpoint:
        """One endpoint's state. A managed endpoint that is down with its config kept is `ScaledToZero`."""

    def endpoints(self) -> list[Endpoint]:
        return [self.endpoint_describe(name) for name in self.endpoint_names()]

    @abstractmethod
    def scale_up(self, name: str) -> Endpoint:
        """Bring a scaled-to-zero endpoint back (does not wait for `InService`); a running one is left alone."""

    @abstractmethod
    def scale_to_zero(self, name: str) -> Endpoint:
        """Stop billing for the endpoint while keeping what `scale_up` needs to bring it back."""

    @abstractmethod
    def invoke(self, name: str, *, body: bytes, content_type: str, accept: str) -> Invocation:
        """Call the endpoint's container (`POST /invocations`) once and return its answer."""
