"""On demand: a request for a scaled-to-zero endpoint starts it once, however many ask, and says how long."""

from __future__ import annotations

import threading

import pytest

from dashboard.endpoints import records
from dashboard.endpoints.base import CREATING, DELETING, FAILED, SCALED_TO_ZERO
from dashboard.endpoints.demand import endpoint_ready, endpoint_wait_ready
from dashboard.exceptions import EndpointNotReady, EndpointPaused, EndpointStarting
from dashboard.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_an_in_service_endpoint_is_ready_and_its_idle_timer_restarts(fake_endpoints):
    backend = fake_endpoints("gpt2-demo")
    endpoint_ready(name="gpt2-demo", now=1234.0)
    assert records.last_invocations() == {"gpt2-demo": 1234.0}
    endpoint_ready(name="gpt2-demo", now=1240.0)  # the ready flag: no second describe needed
    assert backend.calls == []


def test_a_scaled_to_zero_endpoint_starts_and_the_request_is_told_how_long(fake_endpoints):
    backend = fake_endpoints("gpt2-demo", state=SCALED_TO_ZERO)
    with pytest.raises(EndpointStarting) as caught:
        endpoint_ready(name="gpt2-demo", now=1000.0)
    assert caught.value.retry_after == 480
    assert "Starting the endpoint 'gpt2-demo', about 480 s" in str(caught.value)
    assert backend.count("scale_up") == 1 and backend.state["gpt2-demo"].state == CREATING
    assert records.started_at() == {"gpt2-demo": 1000.0}
    event = AuditEvent.objects.get(target="gpt2-demo")
    assert (event.action, event.outcome, event.actor_name) == ("start", "ok", "system (on demand)")


def test_while_it_starts_later_requests_get_the_time_left_and_start_nothing(fake_endpoints):
    backend = fake_endpoints("gpt2-demo", state=SCALED_TO_ZERO)
    with pytest.raises(EndpointStarting):
        endpoint_ready(name="gpt2-demo", now=1000.0)
    with pytest.raises(EndpointStarting) as caught:
        endpoint_ready(name="gpt2-demo", now=1300.0)
    assert caught.value.retry_after == 180
    assert backend.count("scale_up") == 1
    backend.finish("gpt2-demo")
    endpoint_ready(name="gpt2-demo", now=1400.0)
    assert records.start_estimate("gpt2-demo", kind="realtime", backend="fake") == 400  # measured now


@pytest.mark.django_db(transaction=True)  # the threads' audit rows commit outside a test transaction
def test_twenty_concurrent_requests_cause_one_start(fake_endpoints):
    backend = fake_endpoints("gpt2-demo", state=SCALED_TO_ZERO, describe_delay=0.02)
    barrier = threading.Barrier(20)
    outcomes: list[BaseException | None] = []

    def request() -> None:
        barrier.wait()
        try:
            endpoint_ready(name="gpt2-demo")
            outcomes.append(None)
        except EndpointStarting as error:
            outcomes.append(error)

    threads = [threading.Thread(target=request) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert backend.count("scale_up") == 1
    assert len(outcomes) == 20 and all(isinstance(o, EndpointStarting) for o in outcomes)


def test_a_paused_endpoint_is_refused_saying_by_whom_and_never_started(fake_endpoints):
    backend = fake_endpoints("gpt2-demo", state=SCALED_TO_ZERO)
    records.pause_set("gpt2-demo", by="sam", now=0.0)
    with pytest.raises(EndpointPaused) as caught:
        endpoint_ready(name="gpt2-demo")
    assert "paused (by sam, 1970-01-01 00:00 UTC)" in str(caught.value) and caught.value.paused_by == "sam"
    assert backend.calls == []


def test_a_failed_endpoint_says_why(fake_endpoints):
    from dataclasses import replace

    backend = fake_endpoints("gpt2-demo")
    backend.state["gpt2-demo"] = replace(backend.state["gpt2-demo"], state=FAILED, failure_reason="image pull")
    with pytest.raises(EndpointNotReady, match="has failed: image pull"):
        endpoint_ready(name="gpt2-demo")


def test_a_deleting_endpoint_is_waited_for_then_started(fake_endpoints):
    backend = fake_endpoints("gpt2-demo", state=DELETING)
    with pytest.raises(EndpointStarting) as caught:
        endpoint_ready(name="gpt2-demo", now=0.0)
    assert caught.value.retry_after > 480 and backend.calls == []


def test_an_endpoint_the_backend_does_not_manage_is_left_to_the_invocation(fake_endpoints):
    backend = fake_endpoints("gpt2-demo", state=SCALED_TO_ZERO)
    endpoint_ready(name="someone-elses")
    assert backend.calls == [] and records.last_invocations() == {}


def test_a_job_waits_while_the_endpoint_starts(fake_endpoints):
    backend = fake_endpoints("xlnet", state=SCALED_TO_ZERO)
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds
        if clock[0] >= 45:
            backend.finish("xlnet")

    endpoint_wait_ready(name="xlnet", deadline=600, clock=lambda: clock[0], sleep=sleep)
    assert backend.count("scale_up") == 1 and slept == [15.0, 15.0, 15.0]


def test_a_job_gives_up_at_its_deadline_with_the_endpoint_still_starting(fake_endpoints):
    fake_endpoints("xlnet", state=SCALED_TO_ZERO)
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    with pytest.raises(EndpointStarting):
        endpoint_wait_ready(name="xlnet", deadline=40, clock=lambda: clock[0], sleep=sleep)
    assert clock[0] == 30.0


def test_with_redis_away_an_in_service_endpoint_is_still_ready(fake_endpoints, settings):
    from tests.conftest import queue_unreachable

    backend = fake_endpoints("gpt2-demo")
    queue_unreachable(settings)
    endpoint_ready(name="gpt2-demo", now=1000.0)
    assert backend.count("scale_up") == 0


def test_with_redis_away_a_scaled_to_zero_endpoint_is_not_started_and_the_request_is_told_why(fake_endpoints, settings):
    from dashboard.exceptions import EndpointUnavailable
    from tests.conftest import queue_unreachable

    backend = fake_endpoints("gpt2-demo", state=SCALED_TO_ZERO)
    queue_unreachable(settings)
    with pytest.raises(EndpointUnavailable, match="cannot be started while the console's Redis is unreachable"):
        endpoint_ready(name="gpt2-demo", now=1000.0)
    assert backend.count("scale_up") == 0


def test_the_fleet_panel_shows_an_on_demand_start_at_once_not_its_cached_state(fake_endpoints):
    from dashboard.power.fleet import endpoints_status

    fake_endpoints("gpt2-demo", state=SCALED_TO_ZERO)
    assert [row["status"] for row in endpoints_status()[0]] == [SCALED_TO_ZERO]  # now cached for a few seconds
    with pytest.raises(EndpointStarting):
        endpoint_ready(name="gpt2-demo")
    assert [row["status"] for row in endpoints_status()[0]] == [CREATING]
