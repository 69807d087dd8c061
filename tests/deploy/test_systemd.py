"""deploy/systemd's units: valid to systemd itself, and running commands this project has."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
INSTALLED_AT = "/opt/console"  # where docs/operations.md installs the project


def _service(unit: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # keys are case-sensitive in systemd
    parser.read_string(unit.read_text())
    return parser["Service"]


def test_there_are_the_four_units():
    assert [unit.name for unit in UNITS] == [
        "console-power-tick.service",
        "console-web.service",
        "console-webhooks.service",
        "console-worker.service",
    ]


def test_systemd_accepts_every_unit_without_a_warning(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    for unit in UNITS:  # pointed at this checkout, so the executables exist
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED_AT, str(ROOT)))
    result = subprocess.run(
        [analyze, "verify", *sorted(str(p) for p in tmp_path.iterdir())], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


def test_every_command_the_units_run_exists():
    from django.core.management import get_commands

    commands = get_commands()
    for unit in UNITS:
        service = _service(unit)
        for key in ("ExecStartPre", "ExecStart"):
            if key not in service:
                continue
            argv = shlex.split(service[key])
            assert argv[0].startswith(f"{INSTALLED_AT}/.venv/bin/"), (unit.name, argv)
            if "manage.py" in argv:
                assert argv[argv.index("manage.py") + 1] in commands, (unit.name, argv)
            else:
                assert argv[:3] == [f"{INSTALLED_AT}/.venv/bin/gunicorn", "-c", "webapp/gunicorn.conf.py"], argv
                assert (ROOT / argv[2]).is_file() and argv[3] == "webapp.wsgi"
        assert service["WorkingDirectory"] == INSTALLED_AT and service["User"] == "console"
        assert service["EnvironmentFile"] == "/etc/console/env"


def test_the_worker_is_given_time_to_finish_its_batch_on_stop():
    service = _service(ROOT / "deploy" / "systemd" / "console-worker.service")
    assert service["KillSignal"] == "SIGTERM"  # RQ's warm shutdown: the job in hand finishes
    assert int(service["TimeoutStopSec"]) >= 60
    assert service["Restart"] == "always"
