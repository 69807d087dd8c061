"""Retrying what a batched call left unprocessed (throttling), within a time budget per call."""

from __future__ import annotations

import random
import time

from django.conf import settings

from dashboard.exceptions import StoreThrottled

# Module-level so that tests can replace them and check the waits without waiting.
_sleep = time.sleep
_clock = time.monotonic
_jitter = random.uniform
RETRY_BASE_SECONDS = 0.05
RETRY_CAP_SECONDS = 2.0


class Backoff:
    """Capped exponential backoff with full jitter (a uniform wait up to the ceiling, so throttled callers
    spread out), within DYNAMODB_UNPROCESSED_RETRY_SECONDS for one whole call, counted from its first
    retry. Then StoreThrottled: a request never waits on a throttled table forever.
    """

    def __init__(self) -> None:
        self.budget = settings.DYNAMODB_UNPROCESSED_RETRY_SECONDS
        self.deadline: float | None = None
        self.attempt = 0

    def restart(self) -> None:
        """A new chunk: its first retry waits briefly again (the total budget keeps counting)."""
        self.attempt = 0

    def wait(self, *, left: int, what: str) -> None:
        """Wait before the next try, or raise StoreThrottled once the budget is spent."""
        now = _clock()
        if self.deadline is None:
            self.deadline = now + self.budget
        remaining = self.deadline - now
        if remaining <= 0:
            raise StoreThrottled(
                f"DynamoDB kept throttling: {left} {what} were still unprocessed after {self.budget:g} s of "
                "retries. Try again later.",
                left=left,
            )
        ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2**self.attempt)
        self.attempt += 1
        _sleep(min(_jitter(0.0, ceiling), remaining))
