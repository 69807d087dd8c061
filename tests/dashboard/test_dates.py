"""Everything that reads the clock, run on hard dates: the last second of a month, new year's eve and
the first second of the year, a leap day and a date two years ahead (`hard_date`, tests/dashboard/conftest.py).

The explorer's month partitions are covered in views/test_results.py; here: the charts, GPU hours today,
the power policy's timers, the reconciler's lease and the API token's `last_used_at`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse

from dashboard import power, selectors
from dashboard.aws import dynamodb
from dashboard.compute.base import Instance
from dashboard.compute.policy import InstanceView, Memory, PolicyConfig, Snapshot, decide
from dashboard.models import ApiToken
from dashboard.reconcile import reconcile
from dashboard.services import api_token_authenticate, api_token_create

pytestmark = pytest.mark.django_db


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _done(item_id: str, *, created_at: datetime, label: str = "positive") -> None:
    dynamodb.item_put_new(item=dynamodb.new_item(item_id=item_id, text="t", created_at=_iso(created_at)))
    dynamodb.item_claim(item_id=item_id, claimed_by="t")
    dynamodb.item_finish(
        item_id=item_id, status="done", claimed_by="t", label=1, label_name=label, confidence=0.9, model="m"
    )


# --- charts -----------------------------------------------------------------------------------


@pytest.fixture
def _no_chart_cache():
    cache.clear()
    yield
    cache.clear()


def test_the_charts_count_the_last_hour_and_day_across_month_and_year_ends(
    hard_date, user_client, results_table, redis_conn, monkeypatch, _no_chart_cache
):
    monkeypatch.setattr(selectors, "model_labels", lambda: ["negative", "positive"])
    _done("this-minute", created_at=hard_date)
    _done("hour-ago", created_at=hard_date - timedelta(minutes=59))  # the window's first minute
    _done("too-old-for-minutes", created_at=hard_date - timedelta(minutes=61))
    _done("day-ago", created_at=hard_date - timedelta(hours=23, minutes=59), label="negative")
    _done("yesterday", created_at=hard_date - timedelta(hours=24, minutes=1), label="negative")
    data = user_client.get(reverse("dashboard:charts_data")).json()
    assert data["generated_at"] == hard_date.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert data["minutes"][-1] == hard_date.strftime("%H:%M")
    assert data["submitted"][-1] == 1 and data["submitted"][0] == 1 and sum(data["submitted"]) == 2
    assert data["labels"] == {"positive": 3, "negative": 1}


def test_the_charts_read_the_months_of_the_time_they_are_asked_for(results_table, monkeypatch):
    """With `now` given (not the real clock), the months read are those of `now`, not of today."""
    monkeypatch.setattr(selectors, "model_labels", lambda: ["positive"])
    now = datetime(2028, 12, 1, 0, 0, 30, tzinfo=UTC)
    _done("a", created_at=now - timedelta(seconds=10))
    _done("b", created_at=now - timedelta(minutes=5))  # 2028-11-30
    data = selectors.dashboard_charts(now=now)
    assert sum(data["submitted"]) == 2
    assert data["labels"] == {"positive": 2}


# --- GPU hours today --------------------------------------------------------------------------


def test_gpu_hours_today_start_at_midnight_utc(hard_date, redis_conn):
    now = hard_date.timestamp()
    midnight = hard_date.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    redis_conn.hset(power.ON_SINCE_KEY, "i-on", now - 2 * 3600)  # on for two hours
    assert power.gpu_seconds_today() == pytest.approx(min(2 * 3600, now - midnight))
    assert power.gpu_seconds_today(now=now) == pytest.approx(min(2 * 3600, now - midnight))


def test_powered_time_across_midnight_is_split_between_the_two_days(hard_date, redis_conn):
    """On at 23:00, off at 01:00: one hour for each day, whichever month or year that day ends."""
    midnight = (hard_date + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    on, off = midnight - timedelta(hours=1), midnight + timedelta(hours=1)
    running = Instance(id="i-1", state="running", launch_time=on)
    stopped = Instance(id="i-1", state="stopped")
    with time_machine.travel(on, tick=False):
        power.usage_observe([running])
    with time_machine.travel(off, tick=False):
        power.usage_observe([stopped])
        assert power.gpu_seconds_today() == pytest.approx(3600)
    before = midnight - timedelta(seconds=1)
    assert power.gpu_seconds_today(now=before.timestamp()) == pytest.approx(3600)  # 23:00 to midnight
    keys = sorted(key.decode() for key in redis_conn.keys(power.USAGE_PREFIX + "*"))
    assert keys == [power.USAGE_PREFIX + day.strftime("%Y-%m-%d") for day in (before, midnight)]


# --- the power policy's timers ------------------------------------------------------------------

POLICY = PolicyConfig(idle_stop_after=120, backlog_per_instance=10, start_grace=60, boot_timeout=600)


def test_the_idle_stop_waits_the_idle_period_across_midnight(hard_date):
    """The policy takes the time as epoch seconds: a period that spans a month or year end is just as long."""
    start = hard_date.timestamp() - 60  # idle from a minute before the hard date
    memory = Memory()
    for offset in (0, 60, 119):
        decision, memory = decide(
            Snapshot(now=start + offset, instances=(InstanceView(id="i-0", state="running"),)), POLICY, memory
        )
        assert decision.stop == ()
    running = (InstanceView(id="i-0", state="running"),)
    decision, _ = decide(Snapshot(now=start + 120, instances=running), POLICY, memory)
    assert decision.stop == ("i-0",)


def test_the_boot_timeout_counts_from_launch_across_midnight(hard_date):
    launched = hard_date.timestamp() - 300

    def view(state: str) -> tuple[InstanceView, ...]:
        return (InstanceView(id="i-0", state=state, has_worker=False, up_since=launched),)

    decision, memory = decide(Snapshot(now=launched + 599, instances=view("running"), queued=2), POLICY, Memory())
    assert decision.stop == ()
    decision, memory = decide(Snapshot(now=launched + 600, instances=view("running"), queued=2), POLICY, memory)
    assert decision.silent == ("i-0",)


# --- the reconciler's lease -------------------------------------------------------------------


def _running(item_id: str, *, started_at: str, job_id: str) -> None:
    dynamodb.item_put_new(item=dynamodb.new_item(item_id=item_id, text="t", created_at=started_at))
    dynamodb.item_claim(item_id=item_id, claimed_by=f"host:1:{job_id}", job_id=job_id)
    dynamodb.client().update_item(
        TableName=dynamodb.table_name(),
        Key={"id": {"S": item_id}},
        UpdateExpression="SET started_at = :t",
        ExpressionAttributeValues={":t": {"S": started_at}},
    )


def _started_job(queue, item_id: str) -> str:
    """A job that RQ believes is running on a live worker on another host: only the lease takes its item."""
    from rq.job import JobStatus
    from rq.registry import StartedJobRegistry

    job = queue.enqueue("classifier.jobs.classify_items", [item_id])
    queue.remove(job.id)
    job.set_status(JobStatus.STARTED)
    job.worker_name = "elsewhere"
    job.save()
    registry = StartedJobRegistry(queue=queue)
    queue.connection.zadd(registry.key, {f"{job.id}:execution-1": time.time() + 600})
    queue.connection.hset("rq:worker:elsewhere", mapping={"hostname": "another-host", "pid": "1"})
    return job.id


@pytest.mark.parametrize("written", ["%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"], ids=["micros", "seconds"])
def test_the_running_lease_runs_out_exactly_across_midnight(hard_date, results_table, queue, written):
    """Claimed 5 minutes before the hard date with a 10-minute lease: kept at +4:59, taken back at +5:01.
    A start time written without microseconds is read as the same moment, not as 'forever ago'."""
    claimed = hard_date - timedelta(minutes=5)
    _running("leased", started_at=claimed.strftime(written), job_id=_started_job(queue, "leased"))
    kept = reconcile(
        queued_after=3600, lease=600, now=hard_date + timedelta(minutes=4, seconds=59), ensure_capacity=False
    )
    assert kept.released == []
    assert dynamodb.item_get(item_id="leased")["status"] == "running"
    report = reconcile(
        queued_after=3600, lease=600, now=hard_date + timedelta(minutes=5, seconds=1), ensure_capacity=False
    )
    assert report.released == ["leased"]


def test_queued_items_wait_their_grace_period_across_midnight(hard_date, results_table, queue):
    created = hard_date - timedelta(seconds=30)
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="fresh", text="t", created_at=_iso(created)))
    assert reconcile(queued_after=60, lease=600, ensure_capacity=False).requeued == []
    with time_machine.travel(hard_date + timedelta(seconds=31), tick=False):
        assert reconcile(queued_after=60, lease=600, ensure_capacity=False).requeued == ["fresh"]


# --- API tokens -------------------------------------------------------------------------------


def test_a_tokens_last_use_is_written_at_most_once_a_minute_across_midnight(hard_date, user):
    _, raw = api_token_create(user=user, name="t")
    with time_machine.travel(hard_date - timedelta(seconds=30), tick=False):
        assert api_token_authenticate(raw=raw) == user
    first = ApiToken.objects.get().last_used_at
    assert first == hard_date - timedelta(seconds=30)
    with time_machine.travel(hard_date + timedelta(seconds=29), tick=False):
        api_token_authenticate(raw=raw)
    assert ApiToken.objects.get().last_used_at == first
    with time_machine.travel(hard_date + timedelta(seconds=31), tick=False):
        api_token_authenticate(raw=raw)
    assert ApiToken.objects.get().last_used_at == hard_date + timedelta(seconds=31)


def test_a_token_request_on_a_hard_date_answers(hard_date, client, user, results_table):
    _, raw = api_token_create(user=user, name="t")
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="mine", text="t"))
    response = client.get("/api/v1/submissions/mine", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 200
    assert response.json()["created_at"] == _iso(hard_date)
    assert ApiToken.objects.get().last_used_at == hard_date


def test_timestamps_in_other_formats_are_read_as_the_same_moment():
    moment = datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC)
    for text in ("2028-02-29T23:59:59.000000Z", "2028-02-29T23:59:59Z", "2028-03-01T01:59:59+02:00"):
        assert dynamodb.timestamp_parse(text) == moment, text
    for junk in ("", None, "2028-02-30T00:00:00Z", "yesterday", 12):
        assert dynamodb.timestamp_parse(junk) is None
    item = {"created_at": "2028-02-29T23:59:00Z", "started_at": "2028-02-29T23:59:30.000000Z", "finished_at": None}
    assert selectors.item_timings(item)["queued_seconds"] == 30


def test_a_last_use_left_in_the_future_by_a_clock_set_back_is_corrected(hard_date, user):
    _, raw = api_token_create(user=user, name="t")
    with time_machine.travel(hard_date + timedelta(days=1), tick=False):
        api_token_authenticate(raw=raw)
    api_token_authenticate(raw=raw)
    assert ApiToken.objects.get().last_used_at == hard_date
