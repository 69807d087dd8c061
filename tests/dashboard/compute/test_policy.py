"""The power policy alone, with a fake clock: no services, no sleeping."""

from __future__ import annotations

from dashboard.compute.policy import InstanceView, Memory, PolicyConfig, Snapshot, capacity_covered, decide

CONFIG = PolicyConfig(idle_stop_after=120, backlog_per_instance=10, start_grace=60)


def fleet(*states: str, busy: tuple[int, ...] = ()) -> tuple[InstanceView, ...]:
    return tuple(InstanceView(id=f"i-{n}", state=s, busy=n in busy) for n, s in enumerate(states))


def test_it_starts_one_instance_when_work_waits_and_none_is_on():
    decision, memory = decide(Snapshot(now=0, instances=fleet("stopped", "stopped"), queued=1), CONFIG, Memory())
    assert decision.start == ("i-0",)
    assert memory.started_at == {"i-0": 0}


def test_it_does_not_start_when_an_instance_is_running_or_pending():
    for state in ("running", "pending"):
        decision, _ = decide(Snapshot(now=0, instances=fleet(state, "stopped"), queued=3), CONFIG, Memory())
        assert decision.start == ()


def test_a_start_counts_as_pending_while_the_provider_still_says_stopped():
    _, memory = decide(Snapshot(now=0, instances=fleet("stopped"), queued=1), CONFIG, Memory())
    again, memory = decide(Snapshot(now=5, instances=fleet("stopped"), queued=40), CONFIG, memory)
    assert again.start == ()
    late, _ = decide(Snapshot(now=61, instances=fleet("stopped"), queued=40), CONFIG, memory)
    assert late.start == ("i-0",)


def test_it_starts_more_instances_as_the_backlog_per_instance_grows():
    decision, _ = decide(Snapshot(now=0, instances=fleet("running", "stopped", "stopped"), queued=25), CONFIG, Memory())
    assert decision.desired == 3
    assert decision.start == ("i-1", "i-2")


def test_a_stopping_instance_is_waited_for_then_started():
    waiting, memory = decide(Snapshot(now=0, instances=fleet("stopping"), queued=2), CONFIG, Memory())
    assert waiting.start == ()
    assert waiting.waiting == ("i-0",)
    started, _ = decide(Snapshot(now=10, instances=fleet("stopped"), queued=2), CONFIG, memory)
    assert started.start == ("i-0",)


def test_it_stops_an_idle_instance_only_after_the_idle_period():
    memory = Memory()
    for now in (0, 60, 119):
        decision, memory = decide(Snapshot(now=now, instances=fleet("running")), CONFIG, memory)
        assert decision.stop == ()
    decision, memory = decide(Snapshot(now=120, instances=fleet("running")), CONFIG, memory)
    assert decision.stop == ("i-0",)


def test_it_never_stops_while_jobs_are_queued_or_running():
    memory = Memory()
    for now in range(0, 1000, 50):
        queued, _ = decide(Snapshot(now=now, instances=fleet("running"), queued=1), CONFIG, memory)
        running, memory = decide(Snapshot(now=now, instances=fleet("running"), running=1), CONFIG, memory)
        assert queued.stop == () and running.stop == ()


def test_work_resets_the_idle_timer_so_it_does_not_flap():
    _, memory = decide(Snapshot(now=0, instances=fleet("running")), CONFIG, Memory())
    _, memory = decide(Snapshot(now=100, instances=fleet("running", busy=(0,)), running=1), CONFIG, memory)
    decision, memory = decide(Snapshot(now=130, instances=fleet("running")), CONFIG, memory)
    assert decision.stop == ()  # idle for 30 s since the job, not 130
    decision, _ = decide(Snapshot(now=250, instances=fleet("running")), CONFIG, memory)
    assert decision.stop == ("i-0",)


def test_a_surplus_instance_is_stopped_but_never_the_one_holding_a_job():
    snapshot = lambda now: Snapshot(now=now, instances=fleet("running", "running", busy=(0,)), running=1)  # noqa: E731
    _, memory = decide(snapshot(0), CONFIG, Memory())
    decision, _ = decide(snapshot(121), CONFIG, memory)
    assert decision.stop == ("i-1",)


def test_no_surplus_stop_while_a_running_job_is_not_accounted_to_an_instance():
    snapshot = lambda now: Snapshot(now=now, instances=fleet("running", "running"), running=1)  # noqa: E731
    _, memory = decide(snapshot(0), CONFIG, Memory())
    decision, _ = decide(snapshot(500), CONFIG, memory)
    assert decision.stop == ()


def test_memory_survives_a_round_trip_through_json():
    _, memory = decide(Snapshot(now=7, instances=fleet("running", "stopped"), queued=0), CONFIG, Memory())
    assert Memory.from_json(memory.to_json()) == memory


def observed(*states: str, workers: tuple[int, ...] = (), up_since: float = 0.0) -> tuple[InstanceView, ...]:
    """A fleet as the site sees it: which instances have a worker, and when each was started."""
    return tuple(
        InstanceView(
            id=f"i-{n}",
            state=s,
            has_worker=n in workers,
            up_since=up_since if s in {"pending", "running"} else None,
        )
        for n, s in enumerate(states)
    )


BOOT = PolicyConfig(idle_stop_after=120, backlog_per_instance=10, start_grace=60, boot_timeout=600)


def test_an_instance_with_no_worker_after_the_boot_timeout_is_stopped_and_rests():
    memory = Memory()
    for now in (0, 300, 599):  # booting: patience
        decision, memory = decide(Snapshot(now=now, instances=observed("running"), queued=2), BOOT, memory)
        assert decision.stop == () and decision.silent == ()
    decision, memory = decide(Snapshot(now=600, instances=observed("running"), queued=2), BOOT, memory)
    assert decision.stop == ("i-0",) and decision.silent == ("i-0",)
    assert "no worker reported from i-0 within 600 s" in decision.reason
    # Stopped, it is not started again while it rests, although work waits; then it is.
    for now in (610, 1199):
        decision, memory = decide(Snapshot(now=now, instances=observed("stopped"), queued=2), BOOT, memory)
        assert decision.start == ()
    decision, memory = decide(Snapshot(now=1200, instances=observed("stopped"), queued=2), BOOT, memory)
    assert decision.start == ("i-0",)
    assert memory.silent_since == {}


def test_another_instance_is_started_in_place_of_a_silent_one():
    decision, memory = decide(Snapshot(now=700, instances=observed("running", "stopped"), queued=1), BOOT, Memory())
    assert decision.stop == ("i-0",) and decision.start == ("i-1",)
    # While i-0 is stopping, nobody waits for it: i-1 is the one on.
    decision, _ = decide(
        Snapshot(now=710, instances=observed("stopping", "pending", up_since=700), queued=1), BOOT, memory
    )
    assert decision.start == () and decision.waiting == () and decision.stop == ()


def test_a_worker_that_reported_keeps_its_instance_and_its_loss_is_counted_from_then():
    memory = Memory()
    _, memory = decide(Snapshot(now=0, instances=observed("pending"), queued=3), BOOT, memory)
    _, memory = decide(Snapshot(now=100, instances=observed("running", workers=(0,)), queued=3), BOOT, memory)
    assert memory.worker_seen == {"i-0": 100}
    # Its worker dies at 2 h: the instance is given a whole boot_timeout from the last sighting.
    decision, memory = decide(Snapshot(now=7200, instances=observed("running", workers=(0,)), queued=3), BOOT, memory)
    decision, memory = decide(Snapshot(now=7799, instances=observed("running"), queued=3), BOOT, memory)
    assert decision.stop == ()
    decision, memory = decide(Snapshot(now=7800, instances=observed("running"), queued=3), BOOT, memory)
    assert decision.silent == ("i-0",)


def test_silence_matters_only_while_work_waits_and_where_workers_are_observed():
    # Nothing queued: the idle rule decides, not this one.
    decision, _ = decide(Snapshot(now=5000, instances=observed("running"), running=1), BOOT, Memory())
    assert decision.stop == ()
    # A caller that does not observe workers (bench/power_sim.py) never has an instance called silent.
    decision, _ = decide(Snapshot(now=5000, instances=fleet("running"), queued=5), BOOT, Memory())
    assert decision.stop == () and decision.silent == ()


def test_silent_memory_survives_a_round_trip_through_json():
    _, memory = decide(
        Snapshot(now=900, instances=observed("running", "running", workers=(1,)), queued=4), BOOT, Memory()
    )
    assert memory.silent_since == {"i-0": 900} and memory.worker_seen == {"i-1": 900}
    assert Memory.from_json(memory.to_json()) == memory


def test_a_silent_instance_is_stopped_once_not_again_while_the_provider_catches_up():
    # Seen with `make run` and POWER_BOOT_TIMEOUT=30 (a boot that never finished): the stop was sent again
    # on every check, because the start's grace period made the stopped instance look pending, and its
    # worker from an earlier session made it look silent.
    short = PolicyConfig(idle_stop_after=120, backlog_per_instance=10, start_grace=60, boot_timeout=30)
    memory = Memory(worker_seen={"i-0": -5000.0})
    decision, memory = decide(Snapshot(now=0, instances=observed("stopped"), queued=1), short, memory)
    assert decision.start == ("i-0",)
    decision, memory = decide(Snapshot(now=30, instances=observed("pending"), queued=1), short, memory)
    assert decision.silent == ("i-0",)
    for now in (32, 34, 50):
        decision, memory = decide(Snapshot(now=now, instances=observed("stopped"), queued=1), short, memory)
        assert decision.stop == () and decision.start == ()
    assert memory.silent_since == {"i-0": 30}


def test_capacity_is_not_covered_by_the_instances_the_decision_stops():
    idle = Snapshot(now=0, instances=fleet("running"))
    _, memory = decide(idle, CONFIG, Memory())
    stop, _ = decide(Snapshot(now=121, instances=fleet("running")), CONFIG, memory)
    assert stop.stop == ("i-0",)
    assert not capacity_covered(Snapshot(now=121, instances=fleet("running")), stop)


def test_capacity_is_covered_by_what_stays_on_and_what_the_decision_starts():
    waiting = Snapshot(now=0, instances=fleet("stopped", "stopped"), queued=1)
    start, _ = decide(waiting, CONFIG, Memory())
    assert capacity_covered(waiting, start)
    surplus = Snapshot(now=0, instances=fleet("running", "running"), running=1, queued=0)
    assert capacity_covered(surplus, decide(surplus, CONFIG, Memory())[0])
    assert not capacity_covered(
        Snapshot(now=0, instances=fleet("stopped")),
        decide(Snapshot(now=0, instances=fleet("stopped")), CONFIG, Memory())[0],
    )
