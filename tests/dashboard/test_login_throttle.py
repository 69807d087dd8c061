"""Login throttling on the site's login page and the admin's: per username and per client address, with
a lock that doubles, a page that says when to try again, and an audit entry. Real Redis; the clock is
moved with time-machine, never waited for.
"""

from __future__ import annotations

import time

import pytest
import time_machine
from django.test import RequestFactory

from dashboard.login_throttle import client_address
from dashboard.models import AuditEvent
from tests.conftest import queue_unreachable

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # tests/conftest.py's users
LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"


def _login(client, username, password, *, path=LOGIN, **extra):
    return client.post(path, {"username": username, "password": password}, **extra)


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def _fail(client, times, username="alice", **extra):
    return [_login(client, username, f"wrong-{n}", **extra).status_code for n in range(times)]


def test_the_fifth_wrong_password_locks_the_username_with_a_page_that_says_when(client, user, settings):
    assert _fail(client, 4) == [200, 200, 200, 200]

    locked = _login(client, "alice", "wrong again")

    assert locked.status_code == 429
    assert locked["Retry-After"] == "60"
    page = locked.content.decode()
    assert "Too many failed logins" in page
    assert "Logging in with this username is paused for 1 min, until" in page
    assert not _logged_in(client)


def test_the_right_password_is_refused_while_locked_and_works_once_the_lock_ends(client, user):
    _fail(client, 5)

    refused = _login(client, "alice", PASSWORD)
    assert refused.status_code == 429
    assert not _logged_in(client)

    with time_machine.travel(time.time() + 61, tick=False):
        response = _login(client, "alice", PASSWORD)
    assert response.status_code == 302
    assert _logged_in(client)


def test_each_failure_after_a_lock_doubles_the_next_one_up_to_the_cap(client, user, settings):
    settings.LOGIN_LOCKOUT_MAX_SECONDS = 300
    _fail(client, 5)
    now = time.time()
    waits = []
    for _ in range(4):
        now += 500  # past any lock so far, well within the window the count is kept for
        with time_machine.travel(now, tick=False):
            waits.append(int(_login(client, "alice", "still wrong")["Retry-After"]))
    assert waits == [120, 240, 300, 300]


def test_a_successful_login_forgets_the_usernames_failures(client, user):
    _fail(client, 4)
    assert _login(client, "alice", PASSWORD).status_code == 302
    client.logout()

    assert _fail(client, 4) == [200, 200, 200, 200]  # counting starts again from none
    assert _login(client, "alice", "fifth").status_code == 429


def test_a_lock_is_audited_once_with_who_and_how_many(client, user):
    _fail(client, 7, REMOTE_ADDR="198.51.100.4")

    [event] = AuditEvent.objects.filter(kind="auth")
    assert (event.action, event.outcome, event.target) == ("login_locked", "refused", "username alice")
    assert event.actor_name == "198.51.100.4"
    assert event.count == 5
    assert "logins refused for 60 s" in event.detail


def test_one_address_trying_many_usernames_is_locked(client, user, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 6
    statuses = [_login(client, f"guess-{n}", "pw", REMOTE_ADDR="203.0.113.9").status_code for n in range(6)]

    assert statuses == [200] * 5 + [429]
    refused = _login(client, "alice", PASSWORD, REMOTE_ADDR="203.0.113.9")
    assert refused.status_code == 429
    assert "Logging in from this address is paused" in refused.content.decode()
    assert _login(client, "alice", PASSWORD, REMOTE_ADDR="203.0.113.10").status_code == 302  # another address
    assert AuditEvent.objects.get(kind="auth").target == "address 203.0.113.9"


def test_unknown_usernames_are_locked_like_real_ones(client, db):
    assert _fail(client, 5, username="nobody-here")[-1] == 429


def test_the_username_is_counted_whatever_its_case(client, user):
    _fail(client, 2, username="alice")
    _fail(client, 2, username="ALICE")
    assert _login(client, "Alice", "x").status_code == 429


def test_the_admin_login_is_throttled_too(client, staff):
    assert _fail(client, 4, username="sam", path=ADMIN_LOGIN) == [200] * 4
    assert _login(client, "sam", "wrong", path=ADMIN_LOGIN).status_code == 429

    refused = _login(client, "sam", PASSWORD, path=ADMIN_LOGIN)

    assert refused.status_code == 429
    assert not _logged_in(client)
    assert _login(client, "sam", PASSWORD).status_code == 429  # one lock for both pages


def test_the_admin_login_still_logs_staff_in(client, staff):
    response = _login(client, "sam", PASSWORD, path=ADMIN_LOGIN)
    assert response.status_code == 302
    assert _logged_in(client)


def test_a_forwarded_for_header_is_ignored_unless_the_site_is_behind_a_proxy(client, user, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 3
    statuses = [_login(client, f"u{n}", "pw", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code for n in range(3)]
    assert statuses == [200, 200, 429]  # all from REMOTE_ADDR 127.0.0.1, whatever the header claims


def test_behind_the_load_balancer_each_client_is_counted_apart(client, user, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.LOGIN_FAILURES_PER_ADDRESS = 3
    alb = {"REMOTE_ADDR": "10.0.1.23"}
    one = [_login(client, f"u{n}", "pw", HTTP_X_FORWARDED_FOR="192.0.2.1", **alb).status_code for n in range(3)]
    assert one == [200, 200, 429]
    # Another client behind the same load balancer is not locked out; a spoofed entry left of the
    # load balancer's does not move the first client elsewhere.
    assert _login(client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.2", **alb).status_code == 302
    client.logout()
    spoofed = _login(client, "u9", "pw", HTTP_X_FORWARDED_FOR="198.51.100.1, 192.0.2.1", **alb)
    assert spoofed.status_code == 429


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        (0, "198.51.100.7", "192.0.2.1", "198.51.100.7"),
        (1, "10.0.1.23", "192.0.2.1", "192.0.2.1"),
        (1, "10.0.1.23", "203.0.113.5, 192.0.2.1", "192.0.2.1"),
        (2, "10.0.1.23", "203.0.113.5, 192.0.2.1, 10.0.2.9", "192.0.2.1"),
        (2, "10.0.1.23", "192.0.2.1", "10.0.1.23"),  # fewer hops than proxies: the header is not ours
        (1, "10.0.1.23", "", "10.0.1.23"),
        (1, "10.0.1.23", "not-an-address", "10.0.1.23"),
        (1, "10.0.1.23", "2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_address(settings, proxies, remote, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_logins_go_on_when_redis_cannot_count(client, user, settings):
    queue_unreachable(settings)
    assert _fail(client, 8) == [200] * 8
    assert _login(client, "alice", PASSWORD).status_code == 302


def test_the_login_page_itself_is_never_locked(client, user):
    _fail(client, 5)
    assert client.get(LOGIN).status_code == 200
