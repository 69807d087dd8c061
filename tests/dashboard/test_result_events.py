"""Result events against the real Redis: announcements, the wait's Redis-down path and its slots."""

from __future__ import annotations

import json
import threading

import pytest

from classifier.contracts import RESULT_CHANNEL_PREFIX, result_channel
from dashboard import result_events
from dashboard.aws import dynamodb

pytestmark = pytest.mark.django_db


def test_the_channel_is_named_once_for_both_sides():
    assert result_channel("abc") == RESULT_CHANNEL_PREFIX + "abc"


def test_an_announcement_reaches_a_subscriber_of_that_item_only(redis_conn):
    mine, other = redis_conn.pubsub(ignore_subscribe_messages=True), redis_conn.pubsub(ignore_subscribe_messages=True)
    mine.subscribe(result_channel("a"))
    other.subscribe(result_channel("b"))
    mine.get_message(timeout=1), other.get_message(timeout=1)

    result_events.results_announce(item_ids=["a"])

    assert mine.get_message(timeout=2)["data"] == b"a"
    assert other.get_message(timeout=0.3) is None
    mine.close(), other.close()


def test_with_redis_down_an_announcement_is_a_warning_not_an_error(settings, caplog):
    from tests.conftest import queue_unreachable

    queue_unreachable(settings)

    result_events.results_announce(item_ids=["a", "b"])

    assert "could not announce 2 result(s)" in caplog.text


def test_a_wait_gives_back_its_slot_also_when_the_store_fails(results_table, redis_conn, settings):
    from dashboard.exceptions import ItemNotFound

    settings.SUBMISSION_WAIT_MAX_WAITERS = 1
    with pytest.raises(ItemNotFound):
        result_events.submission_wait(item_id="missing", wait_s=1)

    assert result_events.wait_slot().acquire(blocking=False)  # free again
    result_events.wait_slot().release()


def test_waits_past_the_slots_answer_at_once_while_the_others_wait(results_table, redis_conn, settings):
    settings.SUBMISSION_WAIT_MAX_WAITERS = 1
    settings.SUBMISSION_WAIT_POLL_S = 20.0
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="x", text="hello"))
    first: list[dict] = []
    waiting = threading.Thread(target=lambda: first.append(result_events.submission_wait(item_id="x", wait_s=1.5)))
    waiting.start()
    threading.Event().wait(0.3)  # the first wait holds the one slot by now

    second = result_events.submission_wait(item_id="x", wait_s=10)  # answered at once
    assert waiting.is_alive()
    waiting.join()

    assert second["status"] == first[0]["status"] == "queued"


def test_an_announcement_of_a_stored_item_carries_its_public_fields(redis_conn):
    sub = redis_conn.pubsub(ignore_subscribe_messages=True)
    sub.subscribe(result_channel("a"))
    sub.get_message(timeout=1)
    stored = dynamodb.new_item(item_id="a", text="hi") | {"status": "done", "label": 1, "claimed_by": "host:1:job"}

    result_events.results_announce(item_ids=["a"], items={"a": stored})

    carried = json.loads(sub.get_message(timeout=2)["data"])
    assert carried == {field: stored.get(field) for field in dynamodb.ITEM_FIELDS}  # nothing internal
    sub.close()


def _finish_later(item_id: str, *, carry: bool) -> threading.Thread:
    def finish() -> None:
        threading.Event().wait(0.3)  # the wait has read the item once and subscribed by now
        dynamodb.item_claim(item_id=item_id, claimed_by="host:1:job")
        stored = dynamodb.item_finish(item_id=item_id, status="done", claimed_by="host:1:job", label=1, label_name="p")
        result_events.results_announce(item_ids=[item_id], items={item_id: stored} if carry else {})

    thread = threading.Thread(target=finish)
    thread.start()
    return thread


@pytest.mark.parametrize("carry, reads", [(True, 1), (False, 2)])
def test_a_wait_answers_with_the_announced_item_and_reads_again_on_a_bare_id(
    results_table, redis_conn, settings, monkeypatch, carry, reads
):
    settings.SUBMISSION_WAIT_POLL_S = 20.0
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="w", text="hello"))
    finishing = _finish_later("w", carry=carry)
    calls: list[str] = []
    item_get = dynamodb.item_get
    monkeypatch.setattr(dynamodb, "item_get", lambda **kw: calls.append(kw["item_id"]) or item_get(**kw))

    answer = result_events.submission_wait(item_id="w", wait_s=5)
    finishing.join()

    assert (answer["status"], answer["label_name"], answer["text"]) == ("done", "p", "hello")
    assert answer["finished_at"] == item_get(item_id="w")["finished_at"]
    assert len(calls) == reads


def test_an_announced_item_that_is_not_final_or_not_this_one_means_read_again(results_table, redis_conn, settings):
    settings.SUBMISSION_WAIT_POLL_S = 0.5
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="v", text="hello"))

    def announce_wrong() -> None:
        threading.Event().wait(0.3)
        for wrong in ({"id": "v", "status": "running"}, {"id": "other", "status": "done"}):
            redis_conn.publish(result_channel("v"), json.dumps(wrong))

    thread = threading.Thread(target=announce_wrong)
    thread.start()
    answer = result_events.submission_wait(item_id="v", wait_s=1.2)
    thread.join()

    assert answer["status"] == "queued"  # neither message was taken for an answer
