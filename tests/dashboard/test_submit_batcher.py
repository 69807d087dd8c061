"""Group commit of single submissions (issue 7): against the real Redis and DynamoDB Local, and the
committer's own rules (timeouts, failures, forks) with write/publish functions the tests control."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection
from django.utils import timezone

from dashboard import services
from dashboard.aws import dynamodb
from dashboard.devservices import free_port
from dashboard.exceptions import QueueUnavailable, StoreUnavailable
from dashboard.submit_batcher import GroupCommitter
from tests.conftest import queue_unreachable

pytestmark = pytest.mark.django_db(transaction=True)


def _at_once(count: int, submit: Callable[[int], object]) -> tuple[list[object], list[BaseException]]:
    """Run `submit(n)` in `count` threads released together; returns (results, errors)."""
    barrier = threading.Barrier(count)
    results: list[object] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        try:
            barrier.wait()
            result = submit(n)
            with lock:
                results.append(result)
        except BaseException as error:
            with lock:
                errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not [thread for thread in threads if thread.is_alive()], "submissions still waiting"
    return results, errors


@pytest.fixture
def dynamodb_calls():
    """The DynamoDB operations this process sends, by name, while the test runs."""
    calls: list[str] = []
    events = dynamodb.client().meta.events

    def count(model, **kwargs) -> None:
        calls.append(model.name)

    events.register("before-call.dynamodb", count)
    yield calls
    events.unregister("before-call.dynamodb", count)


def _queued_ids(queue) -> list[str]:
    return [item_id for job in queue.get_jobs() for item_id in job.args[0]]


# --- the submission path, against the real services ----------------------------------------


def test_fifty_concurrent_submissions_are_stored_and_enqueued_once_in_fewer_calls(results_table, queue, dynamodb_calls):
    items, errors = _at_once(50, lambda n: services.submission_create(text=f"text number {n}", submitted_by="load"))

    assert errors == []
    ids = [item["id"] for item in items]
    assert len(set(ids)) == 50
    stored = dynamodb.items_get_many(item_ids=ids)
    assert sorted(stored) == sorted(ids)
    assert {item["status"] for item in stored.values()} == {"queued"}
    assert {stored[item["id"]]["text"] for item in items} == {f"text number {n}" for n in range(50)}
    queued = _queued_ids(queue)
    assert sorted(queued) == sorted(ids), "every item enqueued exactly once"
    writes = dynamodb_calls.count("BatchWriteItem")
    assert "PutItem" not in dynamodb_calls
    assert 1 <= writes < 50, f"{writes} writes for 50 items: nothing was grouped"
    assert len(queue.get_jobs()) == writes, "one job per written group"


def test_a_lone_submission_is_written_at_once_as_a_group_of_one(results_table, queue, dynamodb_calls):
    started = time.perf_counter()
    item = services.submission_create(text="just me", submitted_by="alice")
    elapsed = time.perf_counter() - started

    assert dynamodb.item_get(item_id=item["id"])["status"] == "queued"
    assert [list(job.args[0]) for job in queue.get_jobs()] == [[item["id"]]]
    assert dynamodb_calls.count("BatchWriteItem") == 1
    assert elapsed < 10


def test_dynamodb_down_fails_every_request_of_the_group_and_enqueues_nothing(queue, settings):
    settings.DYNAMODB_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    items, errors = _at_once(20, lambda n: services.submission_create(text=f"text {n}", submitted_by="load"))

    assert items == []
    assert len(errors) == 20
    assert all(isinstance(error, StoreUnavailable) for error in errors)
    assert all("DynamoDB is unreachable" in str(error) for error in errors)
    assert queue.count == 0


def test_the_api_answers_503_to_every_request_when_dynamodb_is_down(client, user, queue, settings):
    record, token = services.api_token_create(user=user)
    # Used just now, so no request writes last_used_at: the test database is one in-memory SQLite.
    type(record).objects.filter(pk=record.pk).update(last_used_at=timezone.now())
    settings.DYNAMODB_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"

    def post(n: int):
        from django.test import Client

        return Client().post(
            "/api/v1/submissions",
            {"text": f"Is anyone there? {n}"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )

    responses, errors = _at_once(10, post)

    assert errors == []
    assert [response.status_code for response in responses] == [503] * 10
    assert all(response.json()["error"].startswith("Not submitted: DynamoDB is unreachable") for response in responses)
    assert all(response["Retry-After"] for response in responses)
    assert queue.count == 0


def test_redis_down_marks_every_item_of_the_group_failed_with_the_reason(results_table, redis_conn, settings):
    queue_unreachable(settings)
    stored: list[str] = []
    real_write = services._submissions_write

    def write(items):
        real_write(items)
        stored.extend(item["id"] for item in items)

    services._submissions.write = write
    try:
        items, errors = _at_once(20, lambda n: services.submission_create(text=f"text {n}", submitted_by="load"))
    finally:
        services._submissions.write = real_write

    assert items == []
    assert len(errors) == 20
    assert all(isinstance(error, QueueUnavailable) and "Redis" in str(error) for error in errors)
    assert len(stored) == 20
    failed = dynamodb.items_get_many(item_ids=stored)
    assert {item["status"] for item in failed.values()} == {"failed"}
    assert all("The job queue (Redis) is unreachable" in item["error"] for item in failed.values())
    assert redis_conn.keys("rq:job:*") == []


# --- the committer's rules ------------------------------------------------------------------


class Recorder:
    """write/publish/abandon functions that record what they got; `hold` blocks the next write."""

    def __init__(self) -> None:
        self.written: list[list[int]] = []
        self.published: list[list[int]] = []
        self.abandoned: list[list[int]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.writing = threading.Event()
        self.write_error: BaseException | None = None
        self.publish_error: BaseException | None = None

    def write(self, values: list[int]) -> None:
        self.writing.set()
        assert self.hold.wait(30)
        self.written.append(values)
        if self.write_error is not None:
            raise self.write_error

    def publish(self, values: list[int]) -> None:
        if self.publish_error is not None:
            raise self.publish_error
        self.published.append(values)

    def abandon(self, values: list[int]) -> None:
        self.abandoned.append(values)

    def committer(self, **kwargs) -> GroupCommitter[int]:
        return GroupCommitter(write=self.write, publish=self.publish, abandon=self.abandon, name="test", **kwargs)


def _in_thread(committer: GroupCommitter[int], value: int) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["first"] = committer.submit(value)
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _held_write(recorder: Recorder, committer: GroupCommitter, value: int) -> tuple[threading.Thread, dict]:
    """Submit `value` in a thread and hold its write in flight; returns the thread and its outcome."""
    recorder.hold.clear()
    thread, outcome = _in_thread(committer, value)
    assert recorder.writing.wait(10)
    return thread, outcome


def _queued_behind_a_held_write(recorder: Recorder, committer: GroupCommitter, count: int) -> tuple:
    """Submit 0 and hold its write in flight, then queue 1..count behind it; returns 0's thread and theirs."""
    first, _ = _held_write(recorder, committer, 0)
    waiting = [_in_thread(committer, n) for n in range(1, count + 1)]
    _wait_for(lambda: len(committer._pending) == count)
    return first, waiting


def test_what_waits_while_a_write_is_in_flight_goes_in_the_next_group_of_at_most_max_size():
    recorder = Recorder()
    committer = recorder.committer(max_size=5)
    first, waiting = _queued_behind_a_held_write(recorder, committer, 7)
    recorder.hold.set()
    for thread, _ in [(first, None), *waiting]:
        thread.join(10)

    assert recorder.written[0] == [0]
    assert [len(group) for group in recorder.written] == [1, 5, 2]
    assert sorted(v for group in recorder.written for v in group) == list(range(8))
    assert recorder.published == recorder.written
    assert sum(1 for _, outcome in waiting if outcome.get("first")) == 2, "one first per group"


def test_with_two_committers_a_second_group_is_written_while_the_first_is_in_flight():
    holding, release, written, published = threading.Event(), threading.Event(), [], []

    def write(values: list[int]) -> None:
        if 0 in values:
            holding.set()
            assert release.wait(30)  # the first group's write hangs until the end of the test
        written.append(values)

    committer = GroupCommitter(write=write, publish=published.append, abandon=lambda _: None, name="t", committers=2)
    committer.start()
    assert len(committer._threads) == 2
    first, _ = _in_thread(committer, 0)
    assert holding.wait(10)

    # The other committer takes the next submission at once: it does not wait for the held write.
    assert committer.submit(1) is True
    assert written == [[1]] and first.is_alive()
    release.set()
    first.join(10)

    assert sorted(written) == [[0], [1]]
    assert sorted(published) == [[0], [1]]


def test_a_write_failure_reaches_every_request_of_the_group_and_nothing_is_published():
    recorder = Recorder()
    committer = recorder.committer()
    blocker, group = _queued_behind_a_held_write(recorder, committer, 5)
    recorder.write_error = StoreUnavailable("DynamoDB is unreachable: test")
    recorder.hold.set()
    for thread, _ in [(blocker, None), *group]:
        thread.join(10)

    assert all(outcome["error"] is recorder.write_error for _, outcome in group)
    assert recorder.published == []


def test_a_publish_failure_reaches_every_request_of_the_group():
    recorder = Recorder()
    recorder.publish_error = QueueUnavailable("The job queue (Redis) is unreachable: test")
    committer = recorder.committer()
    results, errors = _at_once(10, committer.submit)

    assert results == []
    assert len(errors) == 10 and all(error is recorder.publish_error for error in errors)
    assert sorted(v for group in recorder.written for v in group) == list(range(10))


def test_the_committer_survives_an_unexpected_exception():
    recorder = Recorder()
    committer = recorder.committer()
    recorder.write_error = RuntimeError("a bug in write")
    with pytest.raises(RuntimeError, match="a bug in write"):
        committer.submit(1)
    [thread] = committer._threads
    recorder.write_error = None

    assert committer.submit(2) is True
    assert committer._threads == [thread] and thread.is_alive()
    assert recorder.published == [[2]]


def test_a_request_still_queued_at_its_deadline_is_withdrawn_and_never_written():
    recorder = Recorder()
    committer = recorder.committer(wait_s=0.3)
    blocker, blocked = _held_write(recorder, committer, 0)

    with pytest.raises(StoreUnavailable, match="nothing was stored"):
        committer.submit(1)
    # 0's own wait ran out first, but on a busy machine its thread may not have run since: release
    # the write only once it has given up, or it would rightly find its write done and answer so.
    _wait_for(lambda: "error" in blocked)
    recorder.hold.set()
    blocker.join(10)

    assert isinstance(blocked["error"], StoreUnavailable)  # 0 was being written past its deadline too
    _wait_for(lambda: recorder.abandoned == [[0]])
    assert recorder.written == [[0]]
    assert recorder.published == [] and recorder.abandoned == [[0]]


def test_a_request_abandoned_during_its_write_is_never_published_but_settled():
    recorder = Recorder()
    committer = recorder.committer(wait_s=0.3)
    thread, outcome = _held_write(recorder, committer, 7)
    thread.join(10)
    assert isinstance(outcome["error"], StoreUnavailable) and "was not queued" in str(outcome["error"])

    recorder.hold.set()
    _wait_for(lambda: recorder.abandoned == [[7]])
    assert recorder.published == []
    assert committer.submit(8) is True  # the committer carries on
    assert recorder.published == [[8]]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_committer():
    recorder = Recorder()
    committer = recorder.committer()
    assert committer.submit(1) is True  # the parent's thread is running
    recorder.hold.clear()  # and will be stuck in a write when we fork
    blocker, _ = _in_thread(committer, 2)
    assert recorder.writing.wait(10)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one thread, the parent's committer is not here
        try:
            recorder.hold.set()
            ok = committer.submit(3) is True and recorder.published[-1] == [3]
            os.write(write_end, b"ok" if ok else b"bad")
        finally:
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 10)
    os.waitpid(pid, 0)
    recorder.hold.set()
    blocker.join(10)

    assert answer == b"ok"
    assert recorder.published == [[1], [2]]
