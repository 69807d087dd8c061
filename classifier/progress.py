"""Progress bars for long loops (training), drawn by tqdm on stderr.

On a terminal the bar is redrawn in place. In a log (systemd's journal, CI, a file) there is no
carriage return to redraw with, so each refresh is its own line, at most one every `LOG_INTERVAL`
seconds, and the log stays readable.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

TERMINAL_INTERVAL = 0.5
LOG_INTERVAL = 30.0


class _LogLines:
    """A stream for tqdm that turns each in-place redraw into one line."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").rstrip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(*, total: int, desc: str, enabled: bool = True, stream: TextIO | None = None) -> tqdm:
    """A tqdm bar over `total` steps named `desc`; `enabled=False` draws nothing."""
    stream = stream if stream is not None else sys.stderr
    terminal = stream.isatty()
    return tqdm(
        total=total,
        desc=desc,
        unit="step",
        file=stream if terminal else _LogLines(stream),
        disable=not enabled,
        mininterval=TERMINAL_INTERVAL if terminal else LOG_INTERVAL,
        dynamic_ncols=terminal,
        ascii=not terminal,
        leave=True,
    )
