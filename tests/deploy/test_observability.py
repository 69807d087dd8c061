"""deploy/observability/: the Grafana dashboard and the Prometheus rules name only metrics the console exposes.

The names are collected from what the code registers (every family in this process's registry, by
type, with the suffixes Prometheus sees) and from what the scrape-time collectors yield against the
real services, so a renamed metric fails here instead of leaving a panel blank or an alert silent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import dashboard.metrics  # noqa: F401  (registers the families)
from dashboard.metrics.gpu import GpuCollector
from dashboard.metrics.store import StoreCollector
from tests.dashboard.metrics.support import FakeNvml

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
ALERTS = OBSERVABILITY / "alerts.yaml"
DASHBOARD = OBSERVABILITY / "grafana-dashboard.json"
# A PromQL identifier that is one of ours; the `$__rate_interval` and label values never start so.
METRIC_NAME = re.compile(r"\bconsole_[A-Za-z0-9_:]*")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "gauge": ("",),
}
EXPECTED_ALERTS = {
    "ConsoleWorkWaitingWithNoWorker",
    "ConsoleOldestItemWaiting",
    "ConsoleClassificationFailureRate",
    "ConsoleWebhookBacklog",
    "ConsoleGpuSpendOverDailyBudget",
}


def _names(families) -> set[str]:
    names = set()
    for family in families:
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return {name for name in names if name.startswith("console_")}


@pytest.fixture
def exposed(results_table, redis_conn, settings) -> set[str]:
    """Every console_ name the code can expose: registered families, and the collectors' families."""
    settings.GPU_DAILY_BUDGET = 100.0  # the budget's gauge is only there when one is set
    store = list(StoreCollector().collect())
    up = next(family for family in store if family.name == "console_metrics_source_up")
    assert all(sample.value == 1 for sample in up.samples), "every source must be readable to see its families"
    return _names(REGISTRY.collect()) | _names(store) | _names(GpuCollector(nvml=FakeNvml()).collect())


def _rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def _panel_expressions() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    found = []
    panels = list(dashboard["panels"])
    while panels:
        panel = panels.pop()
        panels.extend(panel.get("panels", []))
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), f"panel {panel['title']!r} queries nothing"
        found.extend((panel["title"], target["expr"]) for target in panel["targets"])
    return found


def test_the_rules_file_is_valid_yaml_with_the_expected_groups():
    document = yaml.safe_load(ALERTS.read_text())

    assert [group["name"] for group in document["groups"]] == [
        "console-work",
        "console-webhooks",
        "console-spend",
        "console-health",
    ]
    rules = _rules()
    assert EXPECTED_ALERTS <= {rule["alert"] for rule in rules}
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s")), rule["alert"]


def test_every_alert_rule_refers_only_to_metrics_that_exist(exposed):
    for rule in _rules():
        used = set(METRIC_NAME.findall(rule["expr"]))
        assert used, f"{rule['alert']} names no console metric"
        assert sorted(used - exposed) == [], rule["alert"]


def test_every_dashboard_panel_refers_only_to_metrics_that_exist(exposed):
    expressions = _panel_expressions()
    assert len(expressions) > 20
    for title, expr in expressions:
        used = set(METRIC_NAME.findall(expr))
        assert used, f"panel {title!r} names no console metric: {expr}"
        assert sorted(used - exposed) == [], title


def test_the_dashboard_asks_for_its_datasource_on_import():
    dashboard = json.loads(DASHBOARD.read_text())

    assert dashboard["__inputs"] == [
        {
            "name": "DS_PROMETHEUS",
            "label": "Prometheus",
            "description": "The Prometheus that scrapes the console",
            "type": "datasource",
            "pluginId": "prometheus",
            "pluginName": "Prometheus",
        }
    ]
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    for panel in panels:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert all(target["datasource"]["uid"] == "${DS_PROMETHEUS}" for target in panel["targets"]), panel["title"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def test_the_example_prometheus_config_loads_the_rules():
    config = yaml.safe_load((OBSERVABILITY / "prometheus.yml").read_text())

    assert config["rule_files"] == ["alerts.yaml"]
    assert {job["job_name"] for job in config["scrape_configs"]} == {
        "console-web",
        "console-worker",
        "console-power-tick",
    }


def test_a_name_that_does_not_exist_would_be_caught(exposed):
    assert "console_queue_depth" in exposed and "console_submit_duration_seconds_bucket" in exposed
    assert "console_queue_length" not in exposed
