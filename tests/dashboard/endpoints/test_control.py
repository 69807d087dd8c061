"""The endpoint power check (run by power_tick) and staff pause/resume, with an injected clock."""

from __future__ import annotations

import pytest

from dashboard.endpoints import records
from dashboard.endpoints.base import SCALED_TO_ZERO
from dashboard.endpoints.control import endpoint_pause, endpoint_resume, endpoints_tick
from dashboard.endpoints.demand import endpoint_ready
from dashboard.exceptions import EndpointPaused, EndpointStarting
from dashboard.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def timers(settings):
    settings.SAGEMAKER_IDLE_SCALE_AFTER = 900
    settings.SAGEMAKER_ENDPOINT_IDLE = {"xlnet": 0}
    settings.SAGEMAKER_MIN_IN_SERVICE = 600


def test_an_idle_endpoint_goes_to_zero_after_its_idle_time_and_is_audited(fake_endpoints, timers):
    backend = fake_endpoints("gpt2-demo")
    endpoints_tick(now=9_990.0)  # the check has been watching it
    records.invocation_record("gpt2-demo", now=10_000.0)
    assert endpoints_tick(now=10_000.0 + 899).scale_to_zero == ()
    assert backend.count("scale_to_zero") == 0
    assert endpoints_tick(now=10_000.0 + 900).scale_to_zero == ("gpt2-demo",)
    assert backend.state["gpt2-demo"].state == SCALED_TO_ZERO
    event = AuditEvent.objects.get(target="gpt2-demo")
    assert (event.action, event.outcome, event.actor_name) == ("scale to zero", "ok", "system (power_tick)")
    assert "no invocation for 900 s" in event.detail


def test_a_per_endpoint_setting_of_zero_keeps_it_up(fake_endpoints, timers):
    backend = fake_endpoints("xlnet")
    records.invocation_record("xlnet", now=0.0)
    endpoints_tick(now=0.0)
    assert endpoints_tick(now=10**6).scale_to_zero == () and backend.calls == []


def test_an_endpoint_started_on_demand_comes_back_and_is_not_scaled_down_at_once(fake_endpoints, timers):
    backend = fake_endpoints("gpt2-demo", state=SCALED_TO_ZERO)
    with pytest.raises(EndpointStarting):
        endpoint_ready(name="gpt2-demo", now=50_000.0)
    backend.finish("gpt2-demo")
    endpoints_tick(now=50_300.0)
    assert backend.count("scale_to_zero") == 0
    assert records.start_estimate("gpt2-demo", kind="realtime", backend="fake") == 300
    endpoints_tick(now=50_300.0 + 899)  # idle from when it was first seen up
    assert backend.count("scale_to_zero") == 0
    endpoints_tick(now=50_300.0 + 900)
    assert backend.state["gpt2-demo"].state == SCALED_TO_ZERO


def test_a_paused_endpoint_stays_paused_across_ticks_and_requests(fake_endpoints, timers, staff):
    backend = fake_endpoints("gpt2-demo")
    assert endpoint_pause(name="gpt2-demo", actor=staff, now=100.0) == SCALED_TO_ZERO
    for now in (200.0, 10_000.0, 100_000.0):
        endpoints_tick(now=now)
        with pytest.raises(EndpointPaused, match="by sam"):
            endpoint_ready(name="gpt2-demo", now=now)
    assert backend.count("scale_up") == 0 and backend.state["gpt2-demo"].state == SCALED_TO_ZERO
    # Brought up behind the console's back, the tick takes it down again.
    backend.finish("gpt2-demo")
    assert endpoints_tick(now=200_000.0).scale_to_zero == ("gpt2-demo",)

    assert endpoint_resume(name="gpt2-demo", actor=staff, now=300_000.0) != SCALED_TO_ZERO
    assert backend.count("scale_up") == 1 and records.pause_of("gpt2-demo") is None
    backend.finish("gpt2-demo")
    endpoint_ready(name="gpt2-demo", now=300_001.0)
    actions = list(AuditEvent.objects.filter(actor_name="sam").values_list("action", "outcome"))
    assert sorted(actions) == [("pause", "ok"), ("resume", "ok")]


def test_a_tick_that_cannot_read_the_backend_does_not_raise(monkeypatch, redis_conn):
    from dashboard import endpoints

    def broken():
        raise RuntimeError("no backend")

    monkeypatch.setattr(endpoints, "backend", broken)
    assert endpoints_tick(now=0.0) is None


def test_power_tick_runs_the_endpoint_check(monkeypatch, fake_endpoints, timers, capacity_on):
    from dashboard.power import control

    seen = []
    monkeypatch.setattr(control, "_cycle", lambda **kwargs: None)
    monkeypatch.setattr(control, "store_counts", lambda **kwargs: {"queued": 0, "running": 0})
    monkeypatch.setattr("dashboard.endpoints.control.endpoints_tick", lambda now: seen.append(now))
    control.power_tick(now=123.0)
    assert seen == [123.0]
