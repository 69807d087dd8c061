"""`manage.py build_demo_model`: the shipped base by default, and flags that contradict each other refused."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--save-base", "x"], "--save-base and --pretrain-steps go with --pretrain-here"),
        (["--pretrain-steps", "10"], "--save-base and --pretrain-steps go with --pretrain-here"),
        (["--pretrain-here", "--no-pretrain"], "contradict each other"),
    ],
)
def test_contradicting_flags_are_refused_before_anything_is_built(flags, message, tmp_path) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("build_demo_model", "--out", str(tmp_path / "model"), *flags)
    assert not (tmp_path / "model").exists()


def test_an_existing_model_is_kept_without_force(tmp_path, capsys) -> None:
    (tmp_path / "config.json").write_text("{}")
    call_command("build_demo_model", "--out", str(tmp_path))
    assert "already holds a model" in capsys.readouterr().out
