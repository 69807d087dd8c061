"""`.env.example` is used as a systemd EnvironmentFile: systemd keeps everything after `=` as the value."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / ".env.example"
# Where the listed variables are read: the settings, the worker and serve code, gunicorn, deploy scripts.
_TEXT_SUFFIXES = {"", ".py", ".sh", ".service", ".conf", ".yaml"}
READERS = [ROOT / "webapp", ROOT / "dashboard", ROOT / "classifier", ROOT / "deploy", ROOT / "Makefile"]


def _systemd_assignments() -> list[tuple[str, str]]:
    """Parse as systemd does: `#` or `;` starts a comment only at the start of a line."""
    assignments = []
    for number, line in enumerate(ENV_EXAMPLE.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", key), f"line {number} is not KEY=VALUE: {line!r}"
        assignments.append((key, value))
    return assignments


def _read_by_settings() -> set[str]:
    text = (ROOT / "webapp" / "settings.py").read_text()
    return set(re.findall(r"env_(?:str|bool|int|float|list)\(\s*\"([A-Z][A-Z0-9_]*)\"", text))


def _product_text() -> str:
    files = [p for top in READERS for p in ([top] if top.is_file() else top.rglob("*")) if p.is_file()]
    return "\n".join(p.read_text(errors="ignore") for p in files if p.suffix in _TEXT_SUFFIXES)


def test_every_value_is_what_systemd_would_pass_on():
    for key, value in _systemd_assignments():
        assert " #" not in value and "\t#" not in value, f"{key}: a trailing comment would be part of the value"
        assert value == value.strip(), f"{key}: surrounding spaces would be part of the value"
        assert not value.startswith(("'", '"')), f"{key}: systemd would strip or keep quotes unlike a shell"


def test_each_variable_is_listed_once():
    keys = [key for key, _ in _systemd_assignments()]
    assert sorted(key for key in set(keys) if keys.count(key) > 1) == []
    assert "AWS_REGION" in keys


def test_every_setting_read_is_listed():
    listed = {key for key, _ in _systemd_assignments()}
    read = _read_by_settings()
    assert len(read) > 60
    assert sorted(read - listed) == []


def test_nothing_listed_is_unused():
    text = _product_text()
    unused = [key for key, _ in _systemd_assignments() if not re.search(rf"\b{key}\b", text)]
    assert unused == []
