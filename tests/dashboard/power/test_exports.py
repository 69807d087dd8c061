"""`dashboard.power` re-exports exactly the names code outside the package uses."""

from __future__ import annotations

import re
from pathlib import Path

import dashboard.power as power

ROOT = Path(__file__).resolve().parents[3]
SUBMODULES = {"state", "usage", "fleet", "control", "panel"}
FILE_SUFFIXES = {"py", "js", "md", "html", "css"}  # `views/power.py`, `static/js/power.js` in text
IMPORTS_PACKAGE = re.compile(r"^\s*from dashboard import [^\n]*\bpower\b", re.MULTILINE)
ATTRIBUTE = re.compile(r"\bpower\.(\w+)")
FROM_PACKAGE = re.compile(r"from dashboard\.power import \(?([\w\s,]+?)\)?(?:\s*#[^\n]*)?$", re.MULTILINE)


def _outside_sources() -> list[Path]:
    package = ROOT / "dashboard" / "power"
    files = [
        path for top in ("dashboard", "classifier", "bench", "tests", "webapp") for path in (ROOT / top).rglob("*.py")
    ]
    return [path for path in files if package not in path.parents and path != Path(__file__).resolve()]


def _names_used_outside() -> set[str]:
    used: set[str] = set()
    for path in _outside_sources():
        text = path.read_text()
        for names in FROM_PACKAGE.findall(text):
            used.update(name.strip() for name in names.split(",") if name.strip())
        if IMPORTS_PACKAGE.search(text):
            used.update(ATTRIBUTE.findall(text))
    return used - SUBMODULES - FILE_SUFFIXES


def test_all_lists_only_names_used_outside_the_package():
    unused = set(power.__all__) - _names_used_outside()

    assert not unused, f"re-exported but used nowhere outside dashboard.power: {sorted(unused)}"


def test_every_name_used_outside_the_package_is_exported():
    missing = _names_used_outside() - set(power.__all__)

    assert not missing, f"used outside dashboard.power but not in its __all__: {sorted(missing)}"


def test_all_names_resolve():
    for name in power.__all__:
        assert getattr(power, name) is not None
