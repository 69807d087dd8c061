"""Result events against the real Redis: announcements, the wait's Redis-down path and its slots."""

from __future__ import annotations

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
