"""Staff controls: start, stop, reboot with a confirmation step, CSRF, and the audit log."""

# ruff: noqa: F811  (pytest fixtures imported from tests.dashboard.power_support are used as arguments)

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from dashboard.models import AuditEvent
from tests.dashboard.power_support import ec2_fleet, ec2_state, fault_proxy, moto_reset, moto_url  # noqa: F401

pytestmark = pytest.mark.django_db


def url(instance_id: str, action: str) -> str:
    return reverse("dashboard:instance_action", args=[instance_id, action])


def test_non_staff_get_403_and_no_buttons(user_client, results_table, ec2_fleet):
    [instance_id] = ec2_fleet["ids"][:1]
    for action in ("start", "stop", "reboot"):
        assert user_client.get(url(instance_id, action)).status_code == 403
        assert user_client.post(url(instance_id, action)).status_code == 403
    assert user_client.get(reverse("dashboard:audit_log")).status_code == 403
    panel = user_client.get(reverse("dashboard:power_panel")).content.decode()
    assert "data-action=" not in panel
    assert ec2_state(ec2_fleet, instance_id) == "stopped"
    assert not AuditEvent.objects.exists()


def test_anonymous_users_are_sent_to_log_in(client, ec2_fleet):
    response = client.get(url(ec2_fleet["ids"][0], "start"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_staff_confirm_then_start_and_stop_and_it_is_audited(client, staff, results_table, ec2_fleet):
    [instance_id] = ec2_fleet["ids"][:1]
    client.force_login(staff)
    panel = client.get(reverse("dashboard:power_panel")).content.decode()
    assert f'href="{url(instance_id, "start")}"' in panel

    confirm = client.get(url(instance_id, "start"))
    assert confirm.status_code == 200
    assert "csrfmiddlewaretoken" in confirm.content.decode()
    assert ec2_state(ec2_fleet, instance_id) == "stopped", "a GET must not act"

    response = client.post(url(instance_id, "start"))
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:home")
    assert ec2_state(ec2_fleet, instance_id) == "running"
    client.post(url(instance_id, "reboot"))
    client.post(url(instance_id, "stop"))
    assert ec2_state(ec2_fleet, instance_id) == "stopped"

    events = list(AuditEvent.objects.order_by("id").values_list("actor_name", "action", "target", "outcome"))
    assert events == [
        ("sam", "start", instance_id, "ok"),
        ("sam", "reboot", instance_id, "ok"),
        ("sam", "stop", instance_id, "ok"),
    ]
    assert AuditEvent.objects.filter(actor=staff).count() == 3
    log = client.get(reverse("dashboard:audit_log")).content.decode()
    assert log.count(instance_id) >= 3 and "sam" in log


def test_the_post_needs_a_csrf_token(staff, results_table, ec2_fleet):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff)
    assert strict.post(url(ec2_fleet["ids"][0], "start")).status_code == 403
    assert ec2_state(ec2_fleet, ec2_fleet["ids"][0]) == "stopped"


def test_unknown_instances_and_actions_are_404(client, staff, ec2_fleet):
    client.force_login(staff)
    assert client.get(url(ec2_fleet["ids"][1], "start")).status_code == 404  # exists in AWS, not managed
    assert client.get(url(ec2_fleet["ids"][0], "terminate")).status_code == 404


def test_a_failed_action_is_shown_and_audited(client, staff, results_table, ec2_fleet, fault_proxy):
    fault_proxy.faults["StartInstances"] = "InsufficientInstanceCapacity"
    client.force_login(staff)
    response = client.post(url(ec2_fleet["ids"][0], "start"), follow=True)
    assert "InsufficientInstanceCapacity" in response.content.decode()
    event = AuditEvent.objects.get()
    assert (event.actor, event.outcome) == (staff, "error")
    assert "InsufficientInstanceCapacity" in event.detail


def test_an_action_while_another_holds_the_fleet_lock_is_refused_as_busy(
    client, staff, results_table, ec2_fleet, redis_conn, monkeypatch
):
    from dashboard import power
    from dashboard.power import control

    [instance_id] = ec2_fleet["ids"][:1]
    monkeypatch.setattr(control, "ACTION_LOCK_WAIT_SECONDS", 0.2)  # not the panel's few seconds
    other = redis_conn.lock(power.LOCK_KEY, timeout=60)
    assert other.acquire(blocking=False)
    client.force_login(staff)

    response = client.post(url(instance_id, "start"))

    assert response.status_code == 409
    assert "busy, nothing done" in response.content.decode() and "try again" in response.content.decode()
    assert ec2_state(ec2_fleet, instance_id) == "stopped"
    event = AuditEvent.objects.get()
    assert (event.actor, event.action, event.target, event.outcome) == (staff, "start", instance_id, "refused")
    assert other.owned(), "the refused action must leave the holder's lock alone"

    other.release()
    assert client.post(url(instance_id, "start")).status_code == 302
    assert ec2_state(ec2_fleet, instance_id) == "running"
