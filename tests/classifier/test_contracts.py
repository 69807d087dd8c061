"""The names web and worker share, and the one timestamp form both write and read."""

from __future__ import annotations

import ast
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from classifier import contracts
from classifier.contracts import TIMESTAMP_FORMAT, timestamp_now, timestamp_of, timestamp_parse


def test_contracts_imports_the_standard_library_only():
    tree = ast.parse(Path(contracts.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports: they would reach into the project"
            imported.add((node.module or "").split(".")[0])

    assert imported, "the check must have seen the module's imports"
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported - set(sys.stdlib_module_names)


def test_the_job_path_names_the_function_the_worker_runs():
    module, _, name = contracts.CLASSIFY_JOB.rpartition(".")
    source = Path(contracts.__file__).with_name(module.rpartition(".")[2] + ".py").read_text()

    assert module == "classifier.jobs"
    assert f"def {name}(" in source


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 1, 31, 23, 59, 59, 999999, tzinfo=UTC), "2026-01-31T23:59:59.999999Z"),  # month end
        (datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "2026-12-31T23:59:59.999999Z"),  # year end
        (datetime(2027, 1, 1, 0, 0, 0, 0, tzinfo=UTC), "2027-01-01T00:00:00.000000Z"),  # year start
        (datetime(2028, 2, 29, 12, 0, 0, 5, tzinfo=UTC), "2028-02-29T12:00:00.000005Z"),  # leap day
    ],
)
def test_a_moment_round_trips_through_the_stored_form(moment, text):
    assert timestamp_of(moment) == text
    assert timestamp_parse(text) == moment


def test_the_stored_form_has_a_fixed_width_so_strings_sort_as_times():
    early = datetime(2026, 2, 28, 23, 59, 59, tzinfo=UTC)
    later = early + timedelta(microseconds=1)

    assert len(timestamp_of(early)) == len(timestamp_of(later)) == 27
    assert timestamp_of(early) < timestamp_of(later)


def test_a_moment_in_another_zone_is_stored_as_the_same_utc_moment():
    moment = datetime(2026, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=2)))

    assert timestamp_of(moment) == "2026-02-28T23:30:00.000000Z"


def test_a_naive_moment_is_taken_as_utc():
    assert timestamp_of(datetime(2024, 2, 29, 8, 0)) == "2024-02-29T08:00:00.000000Z"


@pytest.mark.parametrize(
    "text",
    ["2028-02-29T23:59:59Z", "2028-02-29T23:59:59", "2028-03-01T00:59:59+01:00", "2028-02-29T23:59:59.000000Z"],
)
def test_it_reads_the_forms_without_microseconds_or_with_an_offset(text):
    assert timestamp_parse(text) == datetime(2028, 2, 29, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize("value", [None, "", "yesterday", "2026-02-30T00:00:00Z", 1700000000])
def test_it_reads_anything_else_as_no_moment(value):
    assert timestamp_parse(value) is None


def test_now_is_in_the_stored_form_and_current():
    before = datetime.now(UTC)
    text = timestamp_now()
    after = datetime.now(UTC)

    assert datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC) == timestamp_parse(text)
    assert before <= timestamp_parse(text) <= after
