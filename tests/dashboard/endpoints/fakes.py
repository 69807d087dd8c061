"""An in-memory endpoint backend that records its calls, for the policy, demand and panel tests.

moto's SageMaker changes state at once (an endpoint is InService the moment it is created), so a test
of what happens *while* an endpoint starts drives this one instead: `scale_up` leaves it `Creating`
until the test calls `finish`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from dashboard.endpoints.base import (
    CREATING,
    IN_SERVICE,
    REALTIME,
    SCALED_TO_ZERO,
    Endpoint,
    EndpointBackend,
    Invocation,
)


class FakeEndpoints(EndpointBackend):
    name = "fake"

    def __init__(
        self,
        *names: str,
        state: str = IN_SERVICE,
        kind: str = REALTIME,
        describe_delay: float = 0.0,
        answer: bytes = b'[{"generated_text": " ok"}]',
    ):
        self.answer = answer
        self._lock = threading.Lock()
        self.state = {
            n: Endpoint(name=n, state=state, kind=kind, instance_type="ml.g5.xlarge", instance_count=1) for n in names
        }
        self.calls: list[tuple[str, str]] = []
        self.describe_delay = describe_delay

    def endpoint_names(self) -> list[str]:
        return list(self.state)

    def endpoint_describe(self, name: str) -> Endpoint:
        time.sleep(self.describe_delay)  # lets concurrent callers overlap, as real describes do
        with self._lock:
            return self.state[name]

    def _set(self, name: str, state: str, count: int) -> Endpoint:
        self.state[name] = replace(self.state[name], state=state, instance_count=count)
        return self.state[name]

    def scale_up(self, name: str) -> Endpoint:
        with self._lock:
            self.calls.append(("scale_up", name))
            if self.state[name].state == SCALED_TO_ZERO:
                return self._set(name, CREATING, 1)
            return self.state[name]

    def scale_to_zero(self, name: str) -> Endpoint:
        with self._lock:
            self.calls.append(("scale_to_zero", name))
            return self._set(name, SCALED_TO_ZERO, 0)

    def finish(self, name: str) -> None:
        with self._lock:
            self._set(name, IN_SERVICE, 1)

    def invoke(self, name: str, *, body: bytes, content_type: str, accept: str) -> Invocation:
        with self._lock:
            self.calls.append(("invoke", name))
        return Invocation(body=self.answer, content_type="application/json")

    def count(self, call: str) -> int:
        return sum(1 for made, _ in self.calls if made == call)
