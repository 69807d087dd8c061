"""Re-run from the explorer: a re-run item is a fresh item, it costs its user's rate limit, and it is audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard import ratelimit
from dashboard.aws import dynamodb
from dashboard.models import AuditEvent
from dashboard.reconcile import reconcile

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("capacity_on")]


def _done(item_id: str, *, recovered: bool = False) -> None:
    """A finished item, claimed by an RQ job (and, with `recovered`, taken back once by the reconciler first)."""
    dynamodb.item_put_new(item=dynamodb.new_item(item_id=item_id, text=f"text of {item_id}"))
    if recovered:
        dynamodb.item_claim(item_id=item_id, claimed_by="host:1:job-old", job_id="job-old")
        assert dynamodb.item_release(item_id=item_id, claimed_by="host:1:job-old")
    dynamodb.item_claim(item_id=item_id, claimed_by="host:2:job-old", job_id="job-old")
    dynamodb.item_finish(
        item_id=item_id, status="done", claimed_by="host:2:job-old", label=1, label_name="positive", model="m"
    )


def _rerun(client, ids: list[str]):
    return client.post(reverse("dashboard:results_actions"), {"action": "rerun", "ids": ids})


def test_a_rerun_item_has_no_claim_and_no_recoveries(user_client, results_table, queue):
    _done("r-1", recovered=True)
    before = dynamodb.item_get(item_id="r-1")
    assert before["recoveries"] == 1 and before["claim_job"] == "job-old"

    assert _rerun(user_client, ["r-1"]).status_code == 302

    item = dynamodb.item_get(item_id="r-1")
    assert item["status"] == "queued"
    for field in ("recoveries", "claim_job", "claimed_by", "started_at", "result_writes"):
        assert field not in item, field


def test_the_old_job_cannot_take_back_a_rerun_item_someone_else_holds(user_client, results_table, queue):
    _done("r-1")
    _rerun(user_client, ["r-1"])
    assert dynamodb.item_claim(item_id="r-1", claimed_by="host:3:direct") is not None

    assert dynamodb.item_claim(item_id="r-1", claimed_by="host:2:job-old", job_id="job-old") is None
    assert dynamodb.item_get(item_id="r-1")["claimed_by"] == "host:3:direct"


def test_a_rerun_item_gets_a_full_set_of_recoveries(user_client, results_table, queue):
    _done("r-1", recovered=True)  # one recovery used before it finished
    _rerun(user_client, ["r-1"])
    queue.empty()
    dynamodb.item_claim(item_id="r-1", claimed_by="host:4:direct")  # its new holder dies

    report = reconcile(lease=0, max_recoveries=1, ensure_capacity=False)

    assert report.released == ["r-1"] and report.failed == []
    assert dynamodb.item_get(item_id="r-1")["status"] == "queued"


def test_a_rerun_is_charged_per_item_and_refused_over_the_limit(user_client, user, results_table, queue, settings):
    settings.SUBMISSIONS_PER_MINUTE = 5  # a burst of 5 items at once
    ratelimit.submissions_reset(user=user)
    for n in range(6):
        _done(f"r-{n}")

    assert _rerun(user_client, ["r-0", "r-1", "r-2"]).status_code == 302
    refused = _rerun(user_client, ["r-3", "r-4", "r-5"])

    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert "Too many submissions" in refused.content.decode()
    assert reverse("dashboard:results") in refused.content.decode()  # back to the explorer, not to the POST-only action
    assert [dynamodb.item_get(item_id=f"r-{n}")["status"] for n in range(6)] == ["queued"] * 3 + ["done"] * 3
    assert [job.args[0] for job in queue.get_jobs()] == [["r-0", "r-1", "r-2"]]
    ratelimit.submissions_reset(user=user)


def test_a_rerun_writes_one_audit_event_with_how_many_were_reset(user_client, results_table, queue):
    _done("r-1")
    _done("r-2")
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="r-3", text="running"))
    dynamodb.item_claim(item_id="r-3", claimed_by="t")

    _rerun(user_client, ["r-1", "r-2", "r-3", "r-missing"])

    event = AuditEvent.objects.get()
    assert (event.kind, event.action, event.actor_name) == ("data", "rerun", "alice")
    assert (event.count, event.outcome) == (2, "ok")
    assert "2 running or missing" in event.detail


def test_a_refused_rerun_is_audited_as_refused(user_client, user, results_table, queue, settings):
    settings.SUBMISSIONS_PER_MINUTE = 1
    ratelimit.submissions_reset(user=user)
    for n in range(3):
        _done(f"r-{n}")
    _rerun(user_client, ["r-0"])

    _rerun(user_client, ["r-1", "r-2"])

    events = list(AuditEvent.objects.order_by("id").values_list("action", "outcome", "count"))
    assert events == [("rerun", "ok", 1), ("rerun", "refused", 2)]
    ratelimit.submissions_reset(user=user)
