"""Who may do what, and what the browser is told: login everywhere, CSRF, staff-only actions, rate limits,
security headers and the Content Security Policy, production settings."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from dashboard import ratelimit
from dashboard.aws import dynamodb
from dashboard.services import api_token_create

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]

# /metrics needs no login: it answers only its token or its networks (tests/dashboard/metrics/test_exposition.py).
PUBLIC = {"/accounts/login/", "/healthz", "/readyz", "/metrics"}


def _sample(match: re.Match[str]) -> str:
    """A sample argument its converter accepts: `<int:…>` routes take only digits."""
    return "1" if match.group(1) == "int" else f"sample-{match.group(2)}"


def _site_paths() -> list[str]:
    """Every URL of the site with sample arguments, admin and django-rq excluded (they have their own login)."""
    paths = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                if not route.startswith("admin/"):
                    walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and not route.startswith("admin/"):
                paths.append("/" + re.sub(r"<(?:(\w+):)?(\w+)>", _sample, route).lstrip("^"))

    walk(get_resolver().url_patterns)
    return paths


def test_every_page_but_login_and_health_needs_a_login(client, results_table):
    paths = _site_paths()
    assert len(paths) > 20
    for path in paths:
        if path in PUBLIC:
            continue
        for method in (client.get, client.post):
            response = method(path)
            if path.startswith("/api/"):
                assert response.status_code == 401, (path, response.status_code)
                assert response["Content-Type"].startswith("application/json")
            else:
                assert response.status_code in {302, 405}, (path, response.status_code)
                if response.status_code == 302:
                    assert response["Location"].startswith(reverse("login")), path


def test_login_and_health_checks_are_open(client, results_table):
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").json() == {"status": "ok", "checks": {"redis": "ok", "dynamodb": "ok"}}


def test_every_unsafe_request_on_every_path_needs_the_csrf_token(staff, results_table):
    """Walks the whole URL map as staff: a session POST without the token is refused everywhere, with it
    nowhere (health checks take no POST at all)."""
    browser = Client(enforce_csrf_checks=True)
    browser.get(reverse("login"))
    token = browser.cookies["csrftoken"].value
    paths = [path for path in _site_paths() if path not in {"/healthz", "/readyz", "/metrics"}]
    assert "/accounts/login/" in paths and "/api/v1/submissions" in paths
    for path in paths:
        browser.force_login(staff)
        refused = browser.post(path, {"text": "hello"})
        assert refused.status_code == 403, (path, refused.status_code)
        browser.force_login(staff)
        allowed = browser.post(path, {"text": "hello"}, HTTP_X_CSRFTOKEN=token)
        assert allowed.status_code not in {403, 500}, (path, allowed.status_code)
    for path in ("/healthz", "/readyz"):
        assert browser.post(path).status_code == 405


def test_instance_controls_are_staff_only(client, user):
    client.force_login(user)
    response = client.post("/power/instances/local-0/stop/")
    assert response.status_code == 403


def test_deleting_results_is_staff_only(client, user, staff, results_table):
    dynamodb.item_put_new(item=dynamodb.new_item(item_id="keep-me", text="precious"))
    client.force_login(user)

    client.post("/results/actions/", {"ids": "keep-me", "action": "delete", "confirm": "yes"})
    assert dynamodb.item_get(item_id="keep-me")["text"] == "precious"

    client.force_login(staff)
    client.post("/results/actions/", {"ids": "keep-me", "action": "delete", "confirm": "yes"})
    assert dynamodb.items_get_many(item_ids=["keep-me"]) == {}


def test_pages_carry_the_security_headers_and_a_strict_policy(user_client, results_table):
    response = user_client.get("/")
    policy = response["Content-Security-Policy"]

    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"]
    assert response["Cache-Control"] == "private, no-store"


def test_errors_and_redirects_carry_the_policy_too(client):
    assert "Content-Security-Policy" in client.get("/submit/")  # the login redirect
    assert "Content-Security-Policy" in client.get("/healthz")
    assert "Content-Security-Policy" in client.post("/api/v1/submissions")  # a 401


_INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "an inline <script>"),
    (re.compile(r"\sstyle\s*=", re.I), "a style= attribute"),
    (re.compile(r"<style[\s>]", re.I), "a <style> element"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "an on*= handler"),
    (re.compile(r"javascript:", re.I), "a javascript: URL"),
]


def test_no_template_has_inline_script_style_or_handlers():
    offenders = []
    for template in sorted((ROOT / "templates").rglob("*.html")):
        text = template.read_text()
        for pattern, what in _INLINE:
            if pattern.search(text):
                offenders.append(f"{template.relative_to(ROOT)}: {what}")
    assert offenders == []


@pytest.mark.parametrize("path", ["/", "/submit/", "/results/", "/batches/", "/power/", "/generate/"])
def test_rendered_pages_have_nothing_the_policy_would_block(staff, client, results_table, path):
    client.force_login(staff)
    html = client.get(path).content.decode()
    for pattern, what in _INLINE:
        assert not pattern.search(html), f"{path} has {what}"
    for src in re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", html):
        assert src.startswith("/static/"), f"{path} loads a script from {src}"


def test_the_api_is_rate_limited_per_user_with_retry_after(client, user, staff, results_table, queue, settings):
    settings.SUBMISSIONS_PER_MINUTE = 3
    _, token = api_token_create(user=user)
    _, other = api_token_create(user=staff)
    ratelimit.submissions_reset(user=user)
    ratelimit.submissions_reset(user=staff)

    def post(raw):
        return client.post(
            "/api/v1/submissions",
            {"text": "hi"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {raw}"},
        )

    assert [post(token).status_code for _ in range(3)] == [202, 202, 202]
    refused = post(token)
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 20
    assert "limit is 3 per minute" in refused.json()["error"]
    assert queue.count == 3  # the refused one was not stored or enqueued
    assert post(other).status_code == 202  # per user


def test_the_form_is_rate_limited_with_a_page_that_says_why(user_client, user, results_table, queue, settings):
    settings.SUBMISSIONS_PER_MINUTE = 1
    ratelimit.submissions_reset(user=user)
    assert user_client.post("/submit/", {"text": "first"}).status_code == 302

    refused = user_client.post("/submit/", {"text": "second"})

    assert refused.status_code == 429
    assert refused["Retry-After"]
    assert "Too many submissions" in refused.content.decode()
    assert queue.count == 1


def test_batches_count_by_items(client, user, results_table, queue, settings):
    settings.SUBMISSIONS_PER_MINUTE = 10
    ratelimit.submissions_reset(user=user)
    _, token = api_token_create(user=user)
    headers = {"Authorization": f"Bearer {token}"}

    def batch(count):
        texts = [f"text {secrets.token_hex(4)}" for _ in range(count)]
        return client.post("/api/v1/batches", {"texts": texts}, content_type="application/json", headers=headers)

    assert batch(8).status_code == 202
    refused = batch(5)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 10  # 3 of 5 items over the limit: at 10/min, 18 s
    ratelimit.submissions_reset(user=user)
    assert batch(25).status_code == 202  # bigger than a minute's worth: allowed from a full bucket...
    assert batch(1).status_code == 429  # ...and paid for afterwards


def test_production_settings_pass_check_deploy():
    env = _production()
    result = _manage(["check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout

    shown = _manage(["shell", "--no-imports", "-c", _PRINT_COOKIES], env)
    assert shown.stdout.split() == ["True", "True", "True", "31536000", "False"]


def test_health_checks_answer_a_load_balancer_that_sends_its_ip_as_host(results_table):
    # An ALB's health check says `Host: <target IP>` over plain HTTP; anything else keeps host validation.
    env = _production(
        REDIS_URL=os.environ["REDIS_URL"],
        REDIS_PASSWORD="",
        REDIS_ALLOW_INSECURE="true",  # the test Redis: plain, no password, on this host
        DYNAMODB_TABLE=results_table,
        DYNAMODB_ENDPOINT_URL=os.environ["DYNAMODB_ENDPOINT_URL"],
        AWS_REGION="us-east-1",
    )
    shown = _manage(["shell", "--no-imports", "-c", _HEALTH_BY_IP], env)
    assert shown.stdout.split() == ["/healthz", "200", "/readyz", "200", "/", "400", "/api/v1/submissions", "400"], (
        shown.stderr[-2000:]
    )


_HEALTH_BY_IP = (
    "from django.test import Client\n"
    "c = Client(raise_request_exception=False)\n"
    "for path in ('/healthz', '/readyz', '/', '/api/v1/submissions'):\n"
    "    print(path, c.get(path, HTTP_HOST='10.0.1.23').status_code)"
)

_PRINT_COOKIES = (
    "from django.conf import settings as s; "
    "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.DEBUG)"
)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "Production settings are missing: SECRET_KEY, ALLOWED_HOSTS, REDIS_URL, DYNAMODB_TABLE, AWS_REGION"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY is too weak"),
        ({"DJANGO_DEBUG": "true"}, "DJANGO_DEBUG must be off in production"),
        ({"COMPUTE_BACKEND": "ec2"}, "COMPUTE_BACKEND=ec2 needs EC2_INSTANCE_IDS"),
        ({"ALLOWED_HOSTS": ""}, "Production settings are missing: ALLOWED_HOSTS."),
    ],
)
def test_production_refuses_to_start_without_what_it_needs(env, message):
    base = _production() if env else {"DJANGO_ENV": "production"}
    result = _manage(["check"], base | env)
    assert result.returncode != 0
    assert message in result.stderr


def _production(**overrides: str) -> dict[str, str]:
    """The environment of a complete production deployment, as far as settings go."""
    return {
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "console.example.com",
        "REDIS_URL": "rediss://redis.internal:6379/0",
        "REDIS_PASSWORD": secrets.token_urlsafe(32),
        "DYNAMODB_TABLE": "classifier-results",
        "AWS_REGION": "eu-west-1",
    } | overrides


def _manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    dropped = {"SECRET_KEY", "ALLOWED_HOSTS", "REDIS_URL", "DYNAMODB_TABLE", "AWS_REGION", "AWS_DEFAULT_REGION"}
    dropped |= {"REDIS_PASSWORD", "REDIS_ALLOW_INSECURE"}
    # Browser fixtures set DJANGO_ALLOW_ASYNC_UNSAFE in this process; a deployment never has it.
    dropped |= {"DJANGO_DEBUG", "DYNAMODB_ENDPOINT_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean | env, capture_output=True, text=True, timeout=120
    )


_SECRETS = re.compile(
    r"AKIA[0-9A-Z]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----|aws_secret_access_key\s*=\s*[A-Za-z0-9/+]{40}"
)


def test_no_credentials_are_committed():
    tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True)
    leaks = []
    for name in tracked.stdout.splitlines():
        path = ROOT / name
        if path.suffix in {".safetensors", ".model", ".png", ".jar", ".gz"} or not path.is_file():
            continue
        if path.stat().st_size > 2_000_000:
            continue
        if _SECRETS.search(path.read_text(errors="ignore")):
            leaks.append(name)
    assert leaks == []


def test_aws_access_comes_from_the_default_credential_chain(monkeypatch, settings):
    """Keys are never set by the code for AWS itself: the instance role (or the environment) supplies them.
    Only an emulator endpoint with no keys in the environment gets placeholders."""
    from dashboard.aws import clients
    from dashboard.aws.clients import cached_client

    monkeypatch.setattr(clients, "_clients", {})  # these clients are this test's alone
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role here
    settings.AWS_REGION = "eu-west-1"

    emulator = cached_client("dynamodb", endpoint_url="http://127.0.0.1:1", connect_timeout=1)
    assert emulator._request_signer._credentials.access_key == "local"
    aws = cached_client("dynamodb", endpoint_url=None, connect_timeout=1)
    assert aws._request_signer._credentials is None  # nothing found: the chain, not the code, supplies keys

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLEFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-env")
    aws = cached_client("dynamodb", endpoint_url=None, connect_timeout=2)  # another key: a fresh client
    assert aws._request_signer._credentials.access_key == "AKIDEXAMPLEFROMENV"
