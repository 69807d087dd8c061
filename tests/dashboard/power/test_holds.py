"""Staff holds: a held instance (or fleet) is never started, through power checks, until staff release it."""

# ruff: noqa: F811  (pytest fixtures imported from tests.dashboard.power_support are used as arguments)

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from dashboard import power
from dashboard.aws import dynamodb
from dashboard.compute.policy import InstanceView, Memory, PolicyConfig, Snapshot, decide
from dashboard.exceptions import PowerHeld
from dashboard.models import AuditEvent
from dashboard.queue import classify_enqueue
from tests.dashboard.power_support import ec2_fleet, ec2_state, moto_reset, moto_url  # noqa: F401

pytestmark = pytest.mark.django_db


def hold_url(target: str, action: str) -> str:
    return reverse("dashboard:power_hold", args=[target, action])


def _work(item_id: str = "w-1") -> None:
    """An item waiting in DynamoDB and in the queue, as a submission leaves it."""
    dynamodb.item_put_new(item=dynamodb.new_item(item_id=item_id, text="waiting for a GPU") | {"submitted_by": "alice"})
    classify_enqueue(item_ids=[item_id])


# --- the policy ---------------------------------------------------------------------------


def test_the_policy_starts_no_held_instance_and_takes_another():
    fleet = (InstanceView("i-a", "stopped"), InstanceView("i-b", "stopped"))

    held_one, _ = decide(Snapshot(now=0, instances=fleet, queued=5, held=frozenset({"i-a"})), PolicyConfig(), Memory())
    held_all, _ = decide(
        Snapshot(now=0, instances=fleet, queued=5, held=frozenset({"i-a", "i-b"})), PolicyConfig(), Memory()
    )

    assert held_one.start == ("i-b",)
    assert (held_all.start, held_all.waiting) == ((), ())
    assert "not starting i-a, i-b: held by staff" in held_all.reason


def test_a_held_instance_that_is_on_still_stops_when_idle():
    config = PolicyConfig(idle_stop_after=10)
    fleet = (InstanceView("i-a", "running"),)
    _, memory = decide(Snapshot(now=0, instances=fleet, held=frozenset({"i-a"})), config, Memory())
    decision, _ = decide(Snapshot(now=11, instances=fleet, held=frozenset({"i-a"})), config, memory)
    assert decision.stop == ("i-a",)


# --- with EC2 in moto ---------------------------------------------------------------------


def test_a_fleet_hold_survives_power_ticks_until_it_is_released(staff, results_table, queue, ec2_fleet):
    [instance_id] = ec2_fleet["ids"][:1]
    power.hold_change(target=power.FLEET, hold=True, actor=staff, reason="driver upgrade")
    _work()

    assert power.capacity_ensure(trigger="submission") is None
    for now in (1000.0, 1060.0, 1120.0):
        decision = power.power_tick(now=now)
        assert decision is not None and decision.start == ()
        assert "held by staff" in decision.reason
    assert ec2_state(ec2_fleet, instance_id) == "stopped"
    assert power.holds_all()[power.FLEET]["reason"] == "driver upgrade"

    power.hold_change(target=power.FLEET, hold=False, actor=staff)
    decision = power.power_tick(now=1180.0)

    assert decision is not None and decision.start == (instance_id,)
    assert ec2_state(ec2_fleet, instance_id) == "running"
    events = list(AuditEvent.objects.order_by("id").values_list("actor_name", "action", "target"))
    assert events[:2] == [("sam", "hold", "fleet"), ("sam", "release", "fleet")]


def test_a_staff_stop_with_work_queued_and_a_hold_stays_stopped(staff, results_table, queue, ec2_fleet):
    [instance_id] = ec2_fleet["ids"][:1]
    ec2_fleet["client"].start_instances(InstanceIds=[instance_id])
    _work()
    power.hold_change(target=instance_id, hold=True, actor=staff, reason="bad GPU, AWS ticket open")

    power.instance_action(instance_id=instance_id, action="stop", actor=staff)
    for now in (1000.0, 1060.0):
        power.power_tick(now=now)

    assert ec2_state(ec2_fleet, instance_id) == "stopped"
    assert queue.count == 1, "the work stays queued"
    with pytest.raises(PowerHeld, match="held by sam: bad GPU"):
        power.instance_action(instance_id=instance_id, action="start", actor=staff)
    assert ec2_state(ec2_fleet, instance_id) == "stopped"


# --- the pages ----------------------------------------------------------------------------


def test_non_staff_get_403_for_hold_and_release(user_client, results_table, ec2_fleet):
    [instance_id] = ec2_fleet["ids"][:1]
    for target in (instance_id, "fleet"):
        for action in ("hold", "release"):
            assert user_client.get(hold_url(target, action)).status_code == 403
            assert user_client.post(hold_url(target, action), {"reason": "mine"}).status_code == 403
    assert power.holds_all() == {}
    assert not AuditEvent.objects.exists()
    assert "data-hold-action" not in user_client.get(reverse("dashboard:power_panel")).content.decode()


def test_a_hold_needs_a_reason(client, staff, results_table, ec2_fleet):
    client.force_login(staff)
    response = client.post(hold_url("fleet", "hold"), {"reason": "   "})
    assert response.status_code == 400
    assert "Say why" in response.content.decode()
    assert power.holds_all() == {}


def test_unknown_targets_and_actions_are_404(client, staff, ec2_fleet):
    client.force_login(staff)
    assert client.get(hold_url(ec2_fleet["ids"][1], "hold")).status_code == 404  # in AWS, not managed
    assert client.get(hold_url("fleet", "freeze")).status_code == 404


def test_the_post_needs_a_csrf_token(staff, results_table, ec2_fleet):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff)
    assert strict.post(hold_url("fleet", "hold"), {"reason": "x"}).status_code == 403
    assert power.holds_all() == {}


def test_staff_hold_an_instance_and_the_panel_shows_who_and_why(client, staff, results_table, ec2_fleet):
    [instance_id] = ec2_fleet["ids"][:1]
    client.force_login(staff)
    confirm = client.get(hold_url(instance_id, "hold"))
    assert confirm.status_code == 200 and 'name="reason"' in confirm.content.decode()
    assert power.holds_all() == {}, "a GET must not act"

    response = client.post(hold_url(instance_id, "hold"), {"reason": "disk check"})

    assert response.status_code == 302 and response["Location"] == reverse("dashboard:power")
    panel = client.get(reverse("dashboard:power_panel")).content.decode()
    assert 'data-held-by="sam">held by sam: disk check' in panel
    assert f'href="{hold_url(instance_id, "release")}"' in panel
    assert f'href="{reverse("dashboard:instance_action", args=[instance_id, "start"])}"' not in panel
    event = AuditEvent.objects.get()
    assert (event.kind, event.action, event.target, event.detail) == ("power", "hold", instance_id, "disk check")

    client.post(hold_url(instance_id, "release"))
    assert power.holds_all() == {}
    assert AuditEvent.objects.latest("id").detail == "held by sam: disk check"


def test_queued_work_shows_that_the_fleet_is_held(user_client, staff, results_table, redis_conn, ec2_fleet):
    power.hold_change(target=power.FLEET, hold=True, actor=staff, reason="maintenance until 14:00")
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="w-1", text="waiting") | {"submitted_by": "alice"})
    notice = "Waiting: the fleet is held by sam: maintenance until 14:00"

    assert notice in user_client.get(reverse("dashboard:home")).content.decode()
    assert notice in user_client.get(reverse("dashboard:result_detail", args=["w-1"])).content.decode()
    panel = user_client.get(reverse("dashboard:power_panel")).content.decode()
    assert 'data-hold="fleet"' in panel and "maintenance until 14:00" in panel

    power.hold_change(target=power.FLEET, hold=False, actor=staff)
    assert notice not in user_client.get(reverse("dashboard:home")).content.decode()
