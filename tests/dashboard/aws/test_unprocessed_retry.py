"""Keys and items a batched DynamoDB call leaves unprocessed (throttling) are retried with capped, jittered
backoff within DYNAMODB_UNPROCESSED_RETRY_SECONDS, then reported. The clock and the waits are the test's."""

from __future__ import annotations

import random

import pytest

from dashboard.aws import dynamodb
from dashboard.aws.dynamodb import retry, wire
from dashboard.exceptions import StoreThrottled


class FakeTime:
    """A clock that moves only when the code under test sleeps; every wait is recorded with its ceiling."""

    def __init__(self, jitter=None) -> None:
        self.now = 1000.0
        self.ceilings: list[float] = []
        self.waits: list[float] = []
        self._jitter = jitter

    def clock(self) -> float:
        return self.now

    def jitter(self, low: float, high: float) -> float:
        assert low == 0.0  # full jitter: anywhere from no wait up to the ceiling
        self.ceilings.append(high)
        return self._jitter(low, high) if self._jitter else high

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(retry, "_clock", fake.clock)
    monkeypatch.setattr(retry, "_sleep", fake.sleep)
    monkeypatch.setattr(retry, "_jitter", fake.jitter)
    return fake


def _stored(n: int) -> list[str]:
    items = [dynamodb.new_item(item_id=f"u-{k:03d}", text=f"text {k}") for k in range(n)]
    dynamodb.items_put_many(items=items)
    return [item["id"] for item in items]


def _serving_one_key_per_call(real_call):
    """BatchGetItem as a throttled table answers it: one key served per call, the rest left unprocessed."""

    def call(operation, **kwargs):
        if operation != "batch_get_item":
            return real_call(operation, **kwargs)
        ((table, request),) = kwargs["RequestItems"].items()
        keys = request["Keys"]
        response = real_call(operation, RequestItems={table: request | {"Keys": keys[:1]}})
        if len(keys) > 1:
            response["UnprocessedKeys"] = {table: request | {"Keys": keys[1:]}}
        return response

    return call


def test_unprocessed_keys_are_read_again_after_growing_waits(results_table, fake_time, monkeypatch):
    ids = _stored(5)
    monkeypatch.setattr(wire, "call", _serving_one_key_per_call(wire.call))

    found = dynamodb.items_get_many(item_ids=ids)

    assert sorted(found) == ids
    assert fake_time.ceilings == [0.05, 0.1, 0.2, 0.4]


def test_the_claim_read_retries_unprocessed_keys_too(results_table, fake_time, monkeypatch):
    ids = _stored(3)
    monkeypatch.setattr(wire, "call", _serving_one_key_per_call(wire.call))

    claimed = dynamodb.items_claim_many(item_ids=ids, claimed_by="w", job_id="j")

    assert [item["id"] for item in claimed] == ids and len(fake_time.waits) == 2


def test_a_table_that_keeps_throttling_reads_is_given_up_on_in_bounded_time(fake_time, monkeypatch, settings):
    settings.DYNAMODB_UNPROCESSED_RETRY_SECONDS = 10.0
    calls = []

    def never_served(operation, **kwargs):
        calls.append(operation)
        return {"Responses": {}, "UnprocessedKeys": kwargs["RequestItems"]}

    monkeypatch.setattr(wire, "call", never_served)

    with pytest.raises(StoreThrottled) as throttled:
        dynamodb.items_get_many(item_ids=[f"k-{n}" for n in range(250)])

    assert throttled.value.left == 250  # the first 100 keys unprocessed, and 150 never tried
    assert "250 keys were still unprocessed after 10 s" in str(throttled.value)
    assert sum(fake_time.waits) == pytest.approx(10.0)
    assert fake_time.ceilings[:7] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0]
    assert max(fake_time.ceilings) == dynamodb.RETRY_CAP_SECONDS
    assert len(calls) == len(fake_time.waits) + 1 < 20


def test_the_waits_are_jittered_below_their_ceilings(monkeypatch, settings):
    fake = FakeTime(jitter=random.Random(13).uniform)
    monkeypatch.setattr(retry, "_clock", fake.clock)
    monkeypatch.setattr(retry, "_sleep", fake.sleep)
    monkeypatch.setattr(retry, "_jitter", fake.jitter)
    settings.DYNAMODB_UNPROCESSED_RETRY_SECONDS = 5.0
    monkeypatch.setattr(wire, "call", lambda operation, **kwargs: {"UnprocessedKeys": kwargs["RequestItems"]})

    with pytest.raises(StoreThrottled):
        dynamodb.items_get_many(item_ids=["k"])

    assert all(0 <= wait <= ceiling for wait, ceiling in zip(fake.waits, fake.ceilings, strict=True))
    assert len(set(fake.waits)) == len(fake.waits)  # no two alike: callers throttled together spread out
    assert any(wait < ceiling / 2 for wait, ceiling in zip(fake.waits, fake.ceilings, strict=True))
    assert sum(fake.waits) <= 5.0


def test_unprocessed_writes_are_retried_until_stored(results_table, fake_time, monkeypatch):
    real_call = wire.call
    refused_once: set[str] = set()

    def first_try_of_each_put_unprocessed(operation, **kwargs):
        if operation != "batch_write_item":
            return real_call(operation, **kwargs)
        ((table, requests),) = kwargs["RequestItems"].items()
        fresh = [r for r in requests if r["PutRequest"]["Item"]["id"]["S"] not in refused_once]
        refused_once.update(r["PutRequest"]["Item"]["id"]["S"] for r in fresh)
        served = [r for r in requests if r not in fresh]
        if served:
            real_call(operation, RequestItems={table: served})
        return {"UnprocessedItems": {table: fresh}} if fresh else {}

    monkeypatch.setattr(wire, "call", first_try_of_each_put_unprocessed)
    items = [dynamodb.new_item(item_id=f"w-{n:02d}", text="t") for n in range(30)]

    dynamodb.items_put_many(items=items)

    assert len(dynamodb.items_get_many(item_ids=[item["id"] for item in items])) == 30
    assert fake_time.ceilings == [0.05, 0.05]  # one retry per chunk of 25: each chunk starts over


def test_a_write_that_stays_unprocessed_fails_clearly_and_leaves_nothing(
    results_table, fake_time, monkeypatch, settings
):
    settings.DYNAMODB_UNPROCESSED_RETRY_SECONDS = 3.0
    real_call = wire.call
    calls = {"n": 0}

    def puts_after_the_first_chunk_unprocessed(operation, **kwargs):
        if operation == "batch_write_item":
            ((table, requests),) = kwargs["RequestItems"].items()
            if "PutRequest" in requests[0]:
                calls["n"] += 1
                if calls["n"] > 1:
                    return {"UnprocessedItems": {table: requests}}
        return real_call(operation, **kwargs)

    monkeypatch.setattr(wire, "call", puts_after_the_first_chunk_unprocessed)
    items = [dynamodb.new_item(item_id=f"w-{n:02d}", text="t") for n in range(60)]

    with pytest.raises(StoreThrottled) as throttled:
        dynamodb.items_put_many(items=items)

    assert throttled.value.left == 35 and "35 items were still unprocessed after 3 s" in str(throttled.value)
    assert sum(fake_time.waits) == pytest.approx(3.0)
    monkeypatch.setattr(wire, "call", real_call)
    assert dynamodb.items_get_many(item_ids=[item["id"] for item in items]) == {}  # the first 25 were removed
