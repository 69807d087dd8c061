"""Power on when work arrives, off when idle: the services with EC2 in a moto server, Redis and DynamoDB Local."""

# ruff: noqa: F811  (pytest fixtures imported from tests.dashboard.power_support are used as arguments)

from __future__ import annotations

import re
import threading
import time

import pytest
from django.db import connection
from django.urls import reverse
from rq import Worker

from dashboard import power, services
from dashboard.aws import dynamodb
from dashboard.aws import ec2 as ec2_adapter
from dashboard.models import AuditEvent
from dashboard.queue import classify_enqueue
from tests.dashboard.power_support import ec2_fleet, ec2_state, fault_proxy, moto_reset, moto_url  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def start_calls(monkeypatch):
    """Every StartInstances call the console makes (the real call still goes to moto)."""
    calls: list[list[str]] = []
    real = ec2_adapter.instances_start

    def counting(*, instance_ids):
        calls.append(list(instance_ids))
        return real(instance_ids=instance_ids)

    monkeypatch.setattr(ec2_adapter, "instances_start", counting)
    return calls


def test_a_submission_starts_a_stopped_instance(user_client, results_table, queue, ec2_fleet, start_calls):
    [instance_id] = ec2_fleet["ids"][:1]
    response = user_client.post(reverse("dashboard:submit"), {"text": "Power me up"})

    assert response.status_code == 302
    assert start_calls == [[instance_id]]
    assert ec2_state(ec2_fleet, instance_id) == "running"
    assert ec2_state(ec2_fleet, ec2_fleet["ids"][1]) == "stopped"  # not ours: never touched
    event = AuditEvent.objects.get()
    assert (event.actor_name, event.action, event.target, event.outcome) == (
        "system (submission)",
        "start",
        instance_id,
        "ok",
    )


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_submissions_cause_one_start_call(results_table, queue, ec2_fleet, start_calls):
    barrier = threading.Barrier(50)
    errors: list[BaseException] = []

    def submit(n: int) -> None:
        try:
            barrier.wait()
            services.submission_create(text=f"text number {n}", submitted_by="load")
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)

    assert not [thread for thread in threads if thread.is_alive()], "submissions still running"
    assert errors == []
    queued_ids = [item_id for job in queue.get_jobs() for item_id in job.args[0]]  # one job per group of submissions
    assert len(queued_ids) == len(set(queued_ids)) == 50
    assert len(start_calls) == 1
    assert ec2_state(ec2_fleet, ec2_fleet["ids"][0]) == "running"


def test_no_start_call_when_an_instance_is_already_running(results_table, queue, ec2_fleet, start_calls):
    ec2_fleet["client"].start_instances(InstanceIds=ec2_fleet["ids"][:1])
    for n in range(3):
        services.submission_create(text=f"more work {n}", submitted_by="alice")
        power.power_tick()
    assert start_calls == []


def test_the_idle_stop_waits_for_an_empty_queue_and_the_idle_period(results_table, queue, ec2_fleet, settings):
    [instance_id] = ec2_fleet["ids"][:1]
    # No worker runs here; an instance silent that long would be stopped (tests/faults/test_no_capacity.py).
    settings.POWER_BOOT_TIMEOUT = 86400
    ec2_fleet["client"].start_instances(InstanceIds=[instance_id])
    t0 = time.time()
    job_id = classify_enqueue(item_ids=["queued-in-rq"])

    power.power_tick(now=t0)
    power.power_tick(now=t0 + 600)
    assert ec2_state(ec2_fleet, instance_id) == "running", "stopped with a job in the queue"

    queue.remove(job_id)
    item = dynamodb.new_item(item_id="running-in-dynamodb", text="x")
    dynamodb.item_put_new(item=item)
    dynamodb.item_claim(item_id=item["id"], claimed_by="a worker")
    power.power_tick(now=t0 + 700)
    power.power_tick(now=t0 + 1300)
    assert ec2_state(ec2_fleet, instance_id) == "running", "stopped with an item running"

    dynamodb.item_finish(item_id=item["id"], status="done", claimed_by="a worker", label=1)
    power.power_tick(now=t0 + 1400)  # idle from here
    power.power_tick(now=t0 + 1459)
    assert ec2_state(ec2_fleet, instance_id) == "running", "stopped before IDLE_STOP_AFTER"
    decision = power.power_tick(now=t0 + 1461)
    assert decision.stop == (instance_id,)
    assert ec2_state(ec2_fleet, instance_id) == "stopped"
    assert AuditEvent.objects.filter(action="stop", actor_name="system (power_tick)", outcome="ok").count() == 1


def test_no_instance_is_judged_silent_while_a_worker_does_not_say_where_it_runs(results_table, queue, ec2_fleet):
    [instance_id] = ec2_fleet["ids"][:1]
    ec2_fleet["client"].start_instances(InstanceIds=[instance_id])
    classify_enqueue(item_ids=["queued-in-rq"])
    unplaced = Worker([queue], connection=queue.connection, name="no-instance-id")  # no COMPUTE_INSTANCE_ID
    unplaced.register_birth()
    try:
        decision = power.power_tick(now=time.time() + 3600)
        assert decision.silent == () and ec2_state(ec2_fleet, instance_id) == "running"
    finally:
        unplaced.register_death()
    decision = power.power_tick(now=time.time() + 3600)
    assert decision.silent == (instance_id,) and ec2_state(ec2_fleet, instance_id) == "stopped"


def test_a_webhooks_worker_is_not_taken_for_an_inference_worker(results_table, queue, ec2_fleet):
    [instance_id] = ec2_fleet["ids"][:1]
    ec2_fleet["client"].start_instances(InstanceIds=[instance_id])
    classify_enqueue(item_ids=["queued-in-rq"])
    hooks = Worker(["webhooks"], connection=queue.connection, name="web-1-webhooks")  # no COMPUTE_INSTANCE_ID
    hooks.register_birth()
    try:
        decision = power.power_tick(now=time.time() + 3600)
        assert decision.silent == (instance_id,) and ec2_state(ec2_fleet, instance_id) == "stopped"
    finally:
        hooks.register_death()


def test_a_silent_instance_is_not_stopped_while_the_results_table_cannot_be_read(
    results_table, queue, ec2_fleet, settings
):
    from dashboard.devservices import free_port

    [instance_id] = ec2_fleet["ids"][:1]
    ec2_fleet["client"].start_instances(InstanceIds=[instance_id])
    classify_enqueue(item_ids=["queued-in-rq"])
    reachable = settings.DYNAMODB_ENDPOINT_URL
    settings.DYNAMODB_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # DynamoDB away: stop nothing
    try:
        decision = power.power_tick(now=time.time() + 3600)
        silent = power.power_status()["silent"]
    finally:
        settings.DYNAMODB_ENDPOINT_URL = reachable  # for the table's clean-up

    assert decision.stop == () and decision.silent == ()
    assert ec2_state(ec2_fleet, instance_id) == "running"
    assert silent == []  # not shown as stopped, and looked at again next time


def test_capacity_errors_show_on_the_panel_and_are_retried_with_backoff(
    user_client, results_table, queue, ec2_fleet, fault_proxy
):
    [instance_id] = ec2_fleet["ids"][:1]
    fault_proxy.faults["StartInstances"] = "InsufficientInstanceCapacity"

    response = user_client.post(reverse("dashboard:submit"), {"text": "no capacity today"})
    assert response.status_code == 302  # the submission is stored and queued regardless
    assert queue.count == 1

    panel = user_client.get(reverse("dashboard:power_panel")).content.decode()
    assert 'data-power-error="InsufficientInstanceCapacity"' in panel
    assert "sufficient g5.xlarge capacity" in panel
    assert "attempt 1" in panel and "retrying in" in panel
    assert AuditEvent.objects.filter(action="start", outcome="error").count() == 1

    starts_before = fault_proxy.calls.count("StartInstances")
    services.submission_create(text="still none", submitted_by="alice")
    power.power_tick()
    assert fault_proxy.calls.count("StartInstances") == starts_before  # backing off, not hammering

    error = power.power_error()
    fault_proxy.faults.clear()
    power.power_tick(now=error["retry_at"] + 1)
    assert ec2_state(ec2_fleet, instance_id) == "running"
    assert power.power_error() is None
    assert "data-power-error" not in user_client.get(reverse("dashboard:power_panel")).content.decode()


@pytest.mark.parametrize("code", ["RequestLimitExceeded", "UnauthorizedOperation"])
def test_describe_errors_never_break_the_site(user_client, results_table, queue, ec2_fleet, fault_proxy, code):
    fault_proxy.faults["DescribeInstances"] = code
    assert user_client.post(reverse("dashboard:submit"), {"text": "hello"}).status_code == 302
    assert user_client.get(reverse("dashboard:home")).status_code == 200
    panel = user_client.get(reverse("dashboard:power_panel"))
    assert panel.status_code == 200
    assert code in panel.content.decode()


def test_the_panel_shows_instances_queue_workers_endpoints_and_gpu_hours(
    client, staff, results_table, queue, ec2_fleet, settings, redis_conn
):
    from tests.dashboard.power_support import aws_client

    sm = aws_client("sagemaker", ec2_fleet["url"])
    sm.create_model(
        ModelName="clf", ExecutionRoleArn="arn:aws:iam::123456789012:role/sm", PrimaryContainer={"Image": "x:1"}
    )
    sm.create_endpoint_config(
        EndpointConfigName="clf-config",
        ProductionVariants=[
            {"VariantName": "main", "ModelName": "clf", "InstanceType": "ml.g4dn.xlarge", "InitialInstanceCount": 1}
        ],
    )
    sm.create_endpoint(EndpointName="clf-endpoint", EndpointConfigName="clf-config")
    settings.SAGEMAKER_BACKEND = "aws"
    settings.SAGEMAKER_ENDPOINT_URL = ec2_fleet["url"]
    settings.SAGEMAKER_ENDPOINTS = ["clf-endpoint", "missing-endpoint"]
    [instance_id] = ec2_fleet["ids"][:1]
    ec2_fleet["client"].start_instances(InstanceIds=[instance_id])
    now = time.time()
    # On for the last half hour, as if seen then; "today" is UTC, so just after midnight it is less.
    since_midnight = now % 86400
    redis_conn.hset(power.ON_SINCE_KEY, instance_id, now - 1800)
    expected_hours = min(1800, since_midnight) / 3600
    redis_conn.hset(
        "inference:worker:gpu-1",
        mapping={
            "model": "demo-xlnet",
            "device": "cuda:0",
            "dtype": "bfloat16",
            "load_seconds": "4.2",
            "instance_id": instance_id,
            "memory_allocated_bytes": str(3 * 2**30),
            "max_memory_allocated_bytes": str(5 * 2**30),
            "memory_total_bytes": str(80 * 2**30),
            "rss_bytes": str(2**30),
            "out_of_memory_splits": "2",
            "out_of_memory_failures": "0",
        },
    )
    from rq import Worker

    worker = Worker(["inference"], connection=redis_conn, name="gpu-1")
    worker.register_birth()
    worker.heartbeat()
    item = dynamodb.new_item(item_id="waiting-item", text="x", created_at="2020-01-01T00:00:00.000000Z")
    dynamodb.item_put_new(item=item)
    client.force_login(staff)

    html = client.get(reverse("dashboard:power_panel")).content.decode()

    assert f'data-instance="{instance_id}" data-state="running"' in html
    assert "g5.xlarge" in html and "up " in html
    assert 'data-worker="gpu-1"' in html and "demo-xlnet on cuda:0 (bfloat16)" in html
    assert "GPU memory 3.0\xa0GB of 80.0\xa0GB, peak 5.0\xa0GB" in html
    assert "2 batches split on out of memory" in html and "too large alone" not in html
    assert 'data-stat="oldest">' in html and " d " in html  # years old, shown in days
    assert 'data-endpoint="clf-endpoint"' in html and "InService" in html and "ml.g4dn.xlarge" in html
    assert 'data-endpoint="missing-endpoint"' in html
    shown = float(re.search(r'data-stat="gpu-hours">([0-9.]+)<', html).group(1))
    assert abs(shown - expected_hours) <= 0.011  # the request itself takes a moment
    assert reverse("django_rq:home") in html
    worker.register_death()


def test_the_home_page_includes_the_live_panel(user_client, results_table, ec2_fleet):
    html = user_client.get(reverse("dashboard:home")).content.decode()
    assert 'id="power-panel"' in html
    assert f'data-refresh-url="{reverse("dashboard:power_panel")}"' in html
    assert "js/power.js" in html


def test_an_idle_stop_does_not_report_the_stopped_capacity_as_on(results_table, queue, ec2_fleet, settings, redis_conn):
    [instance_id] = ec2_fleet["ids"][:1]
    settings.POWER_BOOT_TIMEOUT = 86400
    ec2_fleet["client"].start_instances(InstanceIds=[instance_id])
    t0 = time.time()
    power.power_tick(now=t0)
    assert power.power_tick(now=t0 + 61).stop == (instance_id,)
    assert ec2_state(ec2_fleet, instance_id) == "stopped"
    assert not redis_conn.exists(power.CAPACITY_OK_KEY), "the list read before the stop still showed it running"

    services.submission_create(text="work right after the idle stop", submitted_by="alice")

    assert ec2_state(ec2_fleet, instance_id) == "running"
