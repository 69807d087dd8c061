"""Setting, changing and undoing labels against DynamoDB Local: the item, its evaluation row and the audit."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from dashboard import ratelimit
from dashboard.aws import dynamodb
from dashboard.exceptions import InvalidLabel, ItemConflict, ItemNotFound, RateLimited
from dashboard.labels import services
from dashboard.labels.models import HumanLabel
from dashboard.models import AuditEvent
from tests.dashboard.labels.support import done_item, queued_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(redis_conn):
    user = User.objects.create_user("alice", password="pw-alice-123")
    yield user
    ratelimit.submissions_reset(user=user)


def test_a_label_is_kept_on_the_item_and_counted(alice, results_table):
    done_item("d-1", label_name="positive", confidence=0.8)

    item = services.label_set(item_id="d-1", user=alice, label="Negative")

    stored = dynamodb.item_get(item_id="d-1")
    assert (stored["human_label"], stored["human_label_name"], stored["labelled_by"]) == (0, "negative", "alice")
    assert stored["labelled_at"] and item == stored
    assert (stored["label_name"], stored["confidence"]) == ("positive", 0.8)  # the model's result is kept
    row = HumanLabel.objects.get(item_id="d-1")
    assert (row.model, row.predicted, row.label, row.confidence, row.labelled_by) == (
        "m",
        "positive",
        "negative",
        0.8,
        alice,
    )
    event = AuditEvent.objects.get(action="label")
    assert (event.target, event.outcome, event.detail) == ("d-1", "ok", "label negative")


def test_a_label_is_given_by_id_too_and_can_be_changed(alice, results_table):
    done_item("d-1")
    services.label_set(item_id="d-1", user=alice, label=0)
    services.label_set(item_id="d-1", user=alice, label=1)

    assert dynamodb.item_get(item_id="d-1")["human_label_name"] == "positive"
    assert HumanLabel.objects.get().label == "positive"


@pytest.mark.parametrize("label", [2, -1, "neutral", 1.5, True, None, ""])
def test_a_label_the_model_does_not_have_is_refused_naming_those_it_has(alice, results_table, label):
    done_item("d-1")
    with pytest.raises(InvalidLabel, match="0 or 'negative', 1 or 'positive'"):
        services.label_set(item_id="d-1", user=alice, label=label)
    assert dynamodb.item_get(item_id="d-1")["human_label"] is None
    assert not HumanLabel.objects.exists()
    assert AuditEvent.objects.get(action="label").outcome == "refused"


def test_only_done_items_can_be_labelled(alice, results_table):
    queued_item("q-1")
    with pytest.raises(ItemConflict, match="this one is queued"):
        services.label_set(item_id="q-1", user=alice, label="positive")
    with pytest.raises(ItemNotFound):
        services.label_set(item_id="nope", user=alice, label="positive")


def test_a_label_written_meanwhile_is_a_conflict_not_an_overwrite(alice, results_table, monkeypatch):
    done_item("d-1")
    real_get = dynamodb.item_get

    def stale_read(*, item_id):
        item = real_get(item_id=item_id)
        dynamodb.item_label_set(item_id=item_id, label=1, label_name="positive", labelled_by="bob", previous=None)
        return item

    monkeypatch.setattr(dynamodb, "item_get", stale_read)
    with pytest.raises(ItemConflict, match="changed while it was being labelled"):
        services.label_set(item_id="d-1", user=alice, label="negative")
    assert real_get(item_id="d-1")["labelled_by"] == "bob"


def test_undo_puts_the_previous_label_back_or_takes_it_off(alice, results_table):
    done_item("d-1")
    services.label_set(item_id="d-1", user=alice, label="negative")
    services.label_set(item_id="d-1", user=alice, label="positive")

    services.label_undo(item_id="d-1", user=alice, restore="negative")
    assert dynamodb.item_get(item_id="d-1")["human_label_name"] == "negative"

    services.label_undo(item_id="d-1", user=alice, restore=None)
    item = dynamodb.item_get(item_id="d-1")
    assert (item["human_label"], item["human_label_name"], item["labelled_by"], item["labelled_at"]) == (None,) * 4
    assert not HumanLabel.objects.exists()
    assert [item["id"] for item in dynamodb.review_queue(model="m", limit=5)] == ["d-1"]  # back in the queue


def test_a_selection_labels_the_done_items_and_leaves_the_rest(alice, results_table):
    done_item("d-1")
    done_item("d-2", label_name="negative")
    queued_item("q-1")

    outcome = services.labels_set(item_ids=["d-1", "d-2", "q-1", "nope", "d-1"], user=alice, label="negative")

    assert sorted(outcome["labelled"]) == ["d-1", "d-2"] and outcome["left"] == ["q-1", "nope"]
    assert {row.item_id: row.label for row in HumanLabel.objects.all()} == {"d-1": "negative", "d-2": "negative"}
    event = AuditEvent.objects.get(action="label")
    assert (event.target, event.count) == ("selection", 2)
    assert "2 not done, missing or changed meanwhile" in event.detail


def test_labels_are_rate_limited_per_item(alice, results_table, settings):
    settings.LABELS_PER_MINUTE = 3
    for n in range(4):
        done_item(f"d-{n}")
    services.labels_set(item_ids=["d-0", "d-1", "d-2"], user=alice, label="negative")

    with pytest.raises(RateLimited, match="3 per minute"):
        services.label_set(item_id="d-3", user=alice, label="negative")
    assert dynamodb.item_get(item_id="d-3")["human_label"] is None
    assert AuditEvent.objects.filter(action="label", outcome="refused").count() == 1


def test_a_selection_past_the_limit_is_refused_before_anything_is_written(alice, results_table, settings):
    settings.LABELS_MAX_SELECTION = 2
    done_item("d-1")
    with pytest.raises(InvalidLabel, match="at most 2"):
        services.labels_set(item_ids=["d-1", "d-2", "d-3"], user=alice, label="negative")
    assert not HumanLabel.objects.exists()


def test_labels_rebuild_makes_the_rows_again_from_the_table(alice, results_table):
    from io import StringIO

    from django.core.management import call_command

    done_item("d-1")
    done_item("d-2")
    services.label_set(item_id="d-1", user=alice, label="negative")
    dynamodb.item_label_set(item_id="d-2", label=1, label_name="positive", labelled_by="alice", previous=None)
    HumanLabel.objects.create(
        item_id="gone",
        model="m",
        predicted="x",
        label="y",
        labelled_by_name="z",
        labelled_at=timezone.now(),
        item_created_at=timezone.now(),
        week=timezone.now().date(),
    )
    HumanLabel.objects.filter(item_id="d-1").update(label="positive")  # parted from the table
    out = StringIO()

    call_command("labels_rebuild", stdout=out)

    assert "2 labelled item(s) written, 1 stale row(s) removed." in out.getvalue()
    assert {row.item_id: (row.label, row.labelled_by) for row in HumanLabel.objects.all()} == {
        "d-1": ("negative", alice),
        "d-2": ("positive", alice),
    }
