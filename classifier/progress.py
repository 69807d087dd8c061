"""A one-line progress display on stderr for long loops (training), rewritten in place."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressLine:
    """Redraws at most every `interval` seconds, so logging does not slow a fast loop down."""

    def __init__(self, *, enabled: bool = True, stream: TextIO = sys.stderr, interval: float = 0.5):
        self.enabled = enabled
        self.stream = stream
        self.interval = interval
        self._last = 0.0

    def update(self, message: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < self.interval):
            return
        self._last = now
        self.stream.write(f"\r{message:<79}")
        self.stream.flush()

    def close(self, message: str) -> None:
        self.update(message, force=True)
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
