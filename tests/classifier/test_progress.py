from __future__ import annotations

import io

from classifier.progress import progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(stream: io.StringIO, *, enabled: bool = True) -> str:
    bar = progress_bar(total=3, desc="phase", enabled=enabled, stream=stream)
    for step in range(3):
        bar.set_postfix_str(f"loss {step}", refresh=False)
        bar.update()
    bar.close()
    return stream.getvalue()


def test_in_a_log_each_refresh_is_its_own_line_and_a_fast_loop_writes_only_start_and_end():
    lines = _run(io.StringIO()).splitlines()
    assert "\r" not in "".join(lines)
    assert len(lines) == 2
    assert lines[0].startswith("phase:   0%") and "0/3" in lines[0]
    assert lines[-1].startswith("phase: 100%") and "3/3" in lines[-1] and "loss 2" in lines[-1]


def test_on_a_terminal_the_bar_is_redrawn_in_place():
    written = _run(_Terminal())
    assert written.count("\r") >= 2 and written.endswith("\n")
    assert "3/3" in written.rsplit("\r", 1)[-1]


def test_a_disabled_bar_writes_nothing():
    assert _run(io.StringIO(), enabled=False) == ""
