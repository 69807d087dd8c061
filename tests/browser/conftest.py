"""Shared browser fixtures: Debian's Chromium driven by Playwright against pytest-django's live server.

    def test_something(staff_page, screenshot):
        staff_page.goto("/results/")          # paths are relative to the live server
        screenshot(staff_page, "results")      # test-artifacts/<test>-results.png

`page` is anonymous, `user_page` is logged in as a regular user, `staff_page` as staff. Every page
collects uncaught JavaScript errors in `page.js_errors`. `inference_worker` runs a real
`manage.py inference_worker` on the test table and queue. `axe_violations(page)` runs axe-core (vendored
under tests/browser/vendor/ by `make vendor`) over the page as it is now:

    assert axe_violations(page) == []
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM must still be usable here.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

ROOT = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = ROOT / "test-artifacts"
AXE_SCRIPT = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


# Module scope: one Chromium per test module, stopped before the next module starts its own
# Playwright (two sync Playwright instances cannot run in one thread at once).
@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _new_page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda error: page.js_errors.append(str(error)))
    return context, page


def _log_in(context, live_server, user) -> None:
    """Give the browser a session for `user`, as the login form would."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}])


@pytest.fixture
def page(browser, live_server, transactional_db):
    context, made = _new_page(browser, live_server)
    yield made
    context.close()


@pytest.fixture
def user_page(browser, live_server, transactional_db, django_user_model):
    user = django_user_model.objects.create_user(username="browser-user", password="correct horse battery")
    context, made = _new_page(browser, live_server)
    _log_in(context, live_server, user)
    made.user = user
    yield made
    context.close()


@pytest.fixture
def staff_page(browser, live_server, transactional_db, django_user_model):
    user = django_user_model.objects.create_user(
        username="browser-staff", password="correct horse battery", is_staff=True
    )
    context, made = _new_page(browser, live_server)
    _log_in(context, live_server, user)
    made.user = user
    yield made
    context.close()


@pytest.fixture
def screenshot(request):
    """`screenshot(page, "name")` saves test-artifacts/<test>-<name>.png (full page) and returns its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)

    def take(page, name: str) -> Path:
        path = ARTIFACTS / f"{test_name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def axe_violations(page) -> list[str]:
    """axe-core's violations on the page as it is now, one readable line per rule.

    axe's default rule set: WCAG 2 A and AA and its best practices (unique landmarks, labels that are
    more than a title), not its experimental rules. Each line names the rule, its impact, its help text
    and the first few offending elements, so a failing assert says what to fix.
    """
    if page.evaluate("() => typeof window.axe") == "undefined":
        # Evaluated over the DevTools protocol, not added as a <script>: the pages' Content-Security-Policy
        # refuses inline scripts, and it stays on so that axe sees the pages as they are served.
        page.evaluate(AXE_SCRIPT.read_text(encoding="utf-8"))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        + ", ".join(" ".join(node["target"]) for node in violation["nodes"][:5])
        for violation in result["violations"]
    ]


@pytest.fixture
def inference_worker(results_table, redis_conn, demo_model_dir, tmp_path):
    """A real `manage.py inference_worker` serving the test queue and writing to the test table."""
    env = os.environ | {
        "DYNAMODB_TABLE": results_table,
        "CLASSIFIER_MODEL": str(demo_model_dir),
        "HF_HUB_OFFLINE": "1",
    }
    from dashboard.power import CAPACITY_OK_KEY

    # This worker is the capacity: tell the power manager so it does not start a local worker of its
    # own, which would outlive the test and take later tests' jobs.
    redis_conn.set(CAPACITY_OK_KEY, "1")
    log_path = tmp_path / "worker.log"
    with open(log_path, "w+b") as log:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "inference_worker", "--name", f"browser-{os.getpid()}"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        yield process
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    print(log_path.read_text(errors="replace")[-3000:])


# The local endpoint backend's fixtures (a tiny generator, endpoints with this test's names).
from tests.dashboard.endpoints.conftest import local_endpoints, tiny_generator_dir  # noqa: E402, F401
