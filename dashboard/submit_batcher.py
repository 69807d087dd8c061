"""Group commit for single submissions, for throughput under load: many concurrent requests, one write and one enqueue.

Each web process has a committer thread (or `committers` of them: SUBMIT_COMMITTERS, 2 by default,
so one takes a new group while another's write is in flight). A request hands its value over and
waits; a committer takes whatever is waiting (up to `max_size`) and commits the group in two phases
supplied by the caller:

1. `write(values)`: make them durable (one DynamoDB BatchWriteItem). If it raises, every request
   of the group gets that same exception and phase 2 never runs: nothing is enqueued.
2. `publish(values)`: hand them on (one RQ job for the group). If it raises, every request of the
   group gets that same exception; `publish` itself is responsible for cleaning up (marking the
   stored items failed with the reason).

A lone request is committed at once: a committer never waits for company, it only takes what
accumulated while the committers were busy. So an idle site answers as fast as before and a busy
one makes fewer, larger calls.

A request waits at most `wait_s` for phase 1. One still queued then is withdrawn (nothing was
stored). One whose group is already being written is abandoned: the request answers with an error,
and when the write lands the committer leaves that value out of phase 2 and passes it to
`abandon(values)` (which marks the item failed), so an error answer never has a job behind it.
(Should that marking fail too, the item is left queued without a job, and the reconciler enqueues
it later, as it does for any item Redis lost.) Once phase 2 has begun, a request waits for its
outcome: one Redis call with the client's socket timeouts and, if it fails, the marking of the
group's items as failed, each a DynamoDB call with its own timeouts; capped again at `wait_s`.

State is per process: after a fork the child starts with an empty queue and no thread (gunicorn and
RQ fork). A committer catches everything, so no exception can end it; if one is ever gone, the
next request starts another.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from dashboard.exceptions import QueueUnavailable, StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_SIZE = 25  # DynamoDB's BatchWriteItem takes at most 25 puts
WAIT_S = 30.0  # gunicorn's default request timeout: an answer later than that helps nobody

_PENDING, _WRITING, _PUBLISHING, _FINISHED = "pending", "writing", "publishing", "finished"


class _Entry(Generic[T]):
    __slots__ = ("abandoned", "done", "error", "first", "state", "value")

    def __init__(self, value: T) -> None:
        self.value = value
        self.done = threading.Event()
        self.state = _PENDING
        self.abandoned = False
        self.error: BaseException | None = None
        self.first = False


class GroupCommitter(Generic[T]):
    """Coalesce concurrent `submit(value)` calls into groups committed by one background thread."""

    def __init__(
        self,
        *,
        write: Callable[[list[T]], None],
        publish: Callable[[list[T]], None],
        abandon: Callable[[list[T]], None],
        name: str,
        max_size: int = MAX_SIZE,
        wait_s: float = WAIT_S,
        committers: int = 1,
    ) -> None:
        self.write, self.publish, self.abandon = write, publish, abandon
        self.name, self.max_size, self.wait_s = name, max_size, wait_s
        self.committers = max(1, committers)
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # After a fork the parent's lock may be held by a thread that does not exist in the child.
        self._cond = threading.Condition(threading.Lock())
        self._pending: deque[_Entry[T]] = deque()
        self._threads: list[threading.Thread] = []

    def submit(self, value: T) -> bool:
        """Commit `value` with whatever else is waiting. Returns True for exactly one request per group
        (the first), which does the group's follow-up work. Raises what `write` or `publish` raised, or
        StoreUnavailable / QueueUnavailable when the commit did not finish in time."""
        entry: _Entry[T] = _Entry(value)
        with self._cond:
            self._pending.append(entry)
            self._start()
            self._cond.notify()
        if not entry.done.wait(self.wait_s):
            self._give_up(entry)
        if entry.error is not None:
            raise entry.error
        return entry.first

    def start(self) -> None:
        """Start this process's committer threads now rather than on the first submission."""
        with self._cond:
            self._start()

    def _start(self) -> None:
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        while len(self._threads) < self.committers:
            thread = threading.Thread(target=self._run, name=f"{self.name}-committer", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _give_up(self, entry: _Entry[T]) -> None:
        with self._cond:
            if entry.state == _PENDING:
                self._pending.remove(entry)
                raise StoreUnavailable(
                    f"The submission was not taken for writing within {self.wait_s:.0f} s; nothing was stored."
                )
            if entry.state == _WRITING:
                entry.abandoned = True
                raise StoreUnavailable(
                    f"DynamoDB did not confirm the write within {self.wait_s:.0f} s; the submission was not queued."
                )
        # Publishing: one Redis call with its own timeouts. Wait for it rather than guess its outcome.
        if not entry.done.wait(self.wait_s):
            log.error("%s: no outcome for a submission within %.0f s", self.name, 2 * self.wait_s)
            raise QueueUnavailable(
                f"The job queue did not answer within {self.wait_s:.0f} s; the submission may be marked failed."
            )

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                group = [self._pending.popleft() for _ in range(min(self.max_size, len(self._pending)))]
                for entry in group:
                    entry.state = _WRITING
            try:
                self._commit(group)
            except BaseException as error:  # every waiter hears back, and the thread lives on
                log.exception("%s: committing a group of %d failed", self.name, len(group))
                for entry in group:
                    if not entry.done.is_set():
                        entry.error = error
                        entry.done.set()

    def _commit(self, group: list[_Entry[T]]) -> None:
        try:
            self.write([entry.value for entry in group])
        except Exception as error:
            self._finish(group, error)
            return
        with self._cond:
            for entry in group:
                entry.state = _PUBLISHING
            live = [entry for entry in group if not entry.abandoned]
            gone = [entry for entry in group if entry.abandoned]
        if gone:
            try:
                self.abandon([entry.value for entry in gone])
            except Exception:
                log.exception("%s: could not settle %d abandoned submissions", self.name, len(gone))
        if not live:
            return
        try:
            self.publish([entry.value for entry in live])
        except Exception as error:
            self._finish(live, error)
            return
        self._finish(live, None)

    @staticmethod
    def _finish(group: list[_Entry[Any]], error: BaseException | None) -> None:
        for number, entry in enumerate(group):
            entry.error, entry.first, entry.state = error, number == 0, _FINISHED
            entry.done.set()
