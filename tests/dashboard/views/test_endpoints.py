"""Staff pause and resume of endpoints (confirm, CSRF, audit, 403), and the endpoints on the Fleet panel."""

# ruff: noqa: F811  (pytest fixtures imported from tests.dashboard.power_support are used as arguments)

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from dashboard.endpoints import records
from dashboard.endpoints.base import SCALED_TO_ZERO
from dashboard.models import AuditEvent
from tests.dashboard.power_support import ec2_fleet, moto_reset, moto_url  # noqa: F401

pytestmark = pytest.mark.django_db


def url(name: str, action: str) -> str:
    return reverse("dashboard:endpoint_action", args=[name, action])


def test_non_staff_get_403_and_no_buttons(user_client, fake_endpoints, ec2_fleet, results_table):
    backend = fake_endpoints("gpt2-demo")
    for action in ("pause", "resume"):
        assert user_client.get(url("gpt2-demo", action)).status_code == 403
        assert user_client.post(url("gpt2-demo", action)).status_code == 403
    panel = user_client.get(reverse("dashboard:power_panel")).content.decode()
    assert 'data-endpoint="gpt2-demo"' in panel and "data-endpoint-action=" not in panel
    assert backend.calls == [] and not AuditEvent.objects.exists()


def test_staff_confirm_then_pause_and_resume_and_it_is_audited(client, staff, fake_endpoints, ec2_fleet, results_table):
    backend = fake_endpoints("gpt2-demo")
    client.force_login(staff)
    panel = client.get(reverse("dashboard:power_panel")).content.decode()
    assert f'href="{url("gpt2-demo", "pause")}"' in panel

    confirm = client.get(url("gpt2-demo", "pause"))
    assert confirm.status_code == 200
    assert "stays there until a staff member resumes it" in confirm.content.decode()
    assert backend.calls == [], "a GET must not act"

    response = client.post(url("gpt2-demo", "pause"))
    assert response.status_code == 302 and response["Location"] == reverse("dashboard:home")
    assert backend.state["gpt2-demo"].state == SCALED_TO_ZERO
    assert records.pause_of("gpt2-demo")["by"] == "sam"
    panel = client.get(reverse("dashboard:power_panel")).content.decode()
    assert 'data-paused-by="sam"' in panel and f'href="{url("gpt2-demo", "resume")}"' in panel

    assert "It was paused by sam" in client.get(url("gpt2-demo", "resume")).content.decode()
    client.post(url("gpt2-demo", "resume"))
    assert records.pause_of("gpt2-demo") is None and backend.count("scale_up") == 1
    events = list(AuditEvent.objects.order_by("id").values_list("actor_name", "action", "target", "outcome"))
    assert events == [("sam", "pause", "gpt2-demo", "ok"), ("sam", "resume", "gpt2-demo", "ok")]


def test_an_unknown_endpoint_or_action_is_404(client, staff, fake_endpoints):
    fake_endpoints("gpt2-demo")
    client.force_login(staff)
    assert client.get(url("nope", "pause")).status_code == 404
    assert client.get(url("gpt2-demo", "explode")).status_code == 404


def test_the_csrf_token_is_required(staff, fake_endpoints):
    backend = fake_endpoints("gpt2-demo")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(staff)
    assert strict.post(url("gpt2-demo", "pause")).status_code == 403
    assert backend.calls == []


def test_the_panel_shows_state_instances_last_invocation_idle_time_left_and_todays_cost(
    client, staff, fake_endpoints, ec2_fleet, results_table, settings, time_machine
):
    import time

    settings.SAGEMAKER_IDLE_SCALE_AFTER = 900
    settings.SAGEMAKER_HOURLY_PRICES = {"ml.g5.xlarge": 2.0}
    time_machine.move_to("2026-03-10 12:00:00Z", tick=False)
    now = time.time()
    fake_endpoints("gpt2-demo", "xlnet")
    records.invocation_record("gpt2-demo", now=now - 300)
    from dashboard.endpoints.control import endpoints_tick

    endpoints_tick(now=now - 3600)  # both seen billing from an hour ago
    client.force_login(staff)

    html = client.get(reverse("dashboard:power_panel")).content.decode()

    assert 'data-endpoint="gpt2-demo" data-state="InService"' in html and "ml.g5.xlarge × 1" in html
    assert "5 min ago" in html  # the last invocation
    assert "10 min" in html  # 900 s idle limit, 300 s idle: 600 s left
    assert "1.00 h · $2.00" in html  # an hour of one ml.g5.xlarge at $2/h
    assert 'data-stat="endpoint-hours">2.00' in html  # both endpoints
