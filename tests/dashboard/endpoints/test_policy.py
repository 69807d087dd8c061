"""The endpoint power policy as a pure function: idle scale-to-zero, no flapping after a start, pauses."""

from __future__ import annotations

from dashboard.endpoints.base import CREATING, FAILED, IN_SERVICE, SCALED_TO_ZERO
from dashboard.endpoints.policy import EndpointView, Memory, PolicyConfig, Snapshot, decide

CONFIG = PolicyConfig(min_in_service=600)


def run(*views: EndpointView, now: float, memory: Memory | None = None):
    """One decision; by default each endpoint has been seen billing since t=0."""
    memory = Memory(seen_since={v.name: 0.0 for v in views}) if memory is None else memory
    return decide(Snapshot(now=now, endpoints=views), CONFIG, memory)


def test_an_endpoint_idle_past_its_time_goes_to_zero():
    decision, _ = run(EndpointView("gpt2", IN_SERVICE, idle_after=900, last_invocation=0), now=900)
    assert decision.scale_to_zero == ("gpt2",)
    assert "no invocation for 900 s" in decision.reasons["gpt2"]


def test_an_invocation_within_the_idle_time_keeps_it_up_and_says_how_long_is_left():
    decision, _ = run(EndpointView("gpt2", IN_SERVICE, idle_after=900, last_invocation=500), now=900)
    assert decision.scale_to_zero == ()
    assert decision.idle_left == {"gpt2": 500}


def test_it_never_scales_down_within_the_minimum_time_after_a_start():
    view = EndpointView("gpt2", IN_SERVICE, idle_after=60, last_invocation=None, started_at=1000)
    decision, _ = run(view, now=1300)
    assert decision.scale_to_zero == ()
    assert decision.idle_left == {"gpt2": 300}
    decision, _ = run(view, now=1600)
    assert decision.scale_to_zero == ("gpt2",)


def test_one_never_invoked_gets_the_whole_idle_time_from_when_it_was_first_seen():
    view = EndpointView("by-hand", IN_SERVICE, idle_after=900)
    decision, memory = run(view, now=5000, memory=Memory())
    assert decision.scale_to_zero == () and memory.seen_since == {"by-hand": 5000}
    decision, memory = run(view, now=5899, memory=memory)
    assert decision.scale_to_zero == ()
    decision, memory = run(view, now=5900, memory=memory)
    assert decision.scale_to_zero == ("by-hand",)
    assert memory.seen_since == {}  # a later stretch starts its own timer


def test_a_start_by_hand_after_a_long_quiet_gets_a_fresh_idle_time():
    view = EndpointView("gpt2", IN_SERVICE, idle_after=900, last_invocation=0)
    decision, _ = run(view, now=10_000, memory=Memory())
    assert decision.scale_to_zero == () and decision.idle_left == {"gpt2": 900}


def test_idle_zero_means_never():
    decision, _ = run(EndpointView("always", IN_SERVICE, idle_after=0, last_invocation=0), now=10**7)
    assert decision.scale_to_zero == () and decision.idle_left == {}


def test_a_paused_endpoint_that_bills_goes_to_zero_whatever_its_timers_say():
    view = EndpointView("gpt2", CREATING, idle_after=900, last_invocation=99, started_at=99, paused=True)
    decision, _ = run(view, now=100)
    assert decision.scale_to_zero == ("gpt2",) and decision.reasons["gpt2"] == "paused"


def test_endpoints_that_do_not_bill_or_are_not_in_service_are_left_alone():
    decision, _ = run(
        EndpointView("zero", SCALED_TO_ZERO, idle_after=1, last_invocation=0),
        EndpointView("zero-paused", SCALED_TO_ZERO, idle_after=1, paused=True),
        EndpointView("creating", CREATING, idle_after=1, last_invocation=0),
        EndpointView("failed", FAILED, idle_after=1, last_invocation=0),
        now=10_000,
    )
    assert decision.scale_to_zero == ()


def test_the_memory_survives_json():
    _, memory = run(EndpointView("a", IN_SERVICE, idle_after=900), now=42, memory=Memory())
    assert Memory.from_json(memory.to_json()) == memory
    assert Memory.from_json(None) == Memory()
