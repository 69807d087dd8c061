from __future__ import annotations

import pytest

from dashboard.exceptions import WebhookHostUnresolved, WebhookUrlRefused
from dashboard.webhooks import transport


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.1.2.3:8080/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a00:1]/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://224.0.0.1/",
        "http://100.64.0.1/",
        "http://240.0.0.1/",
    ],
)
def test_it_refuses_addresses_that_are_not_public(settings, url):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    with pytest.raises(WebhookUrlRefused, match=r"Refused: .* webhooks only go to public addresses"):
        transport.url_vet(url)


def test_it_names_the_metadata_address():
    with pytest.raises(WebhookUrlRefused, match="cloud metadata address"):
        transport.url_vet("http://169.254.169.254/")


def test_it_refuses_a_hostname_that_resolves_to_loopback(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    with pytest.raises(WebhookUrlRefused, match=r"localhost \((127\.0\.0\.1|::1)\) is a loopback address"):
        transport.url_vet("http://localhost:8000/hook")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("ftp://example.com/", "must start with https://"),
        ("example.com/hook", "must start with https://"),
        ("https://user:secret@example.com/", "user name or password"),
        ("https:///path", "no host"),
        ("https://example.com:99999/", "not valid"),
        ("https://" + "a" * 2001, "longer than"),
    ],
)
def test_it_refuses_urls_it_cannot_use(url, message):
    with pytest.raises(WebhookUrlRefused, match=message):
        transport.url_vet(url)


def test_a_host_that_does_not_resolve_is_refused_as_unresolved():
    with pytest.raises(WebhookHostUnresolved, match="does not resolve"):
        transport.url_vet("https://nothing-here.invalid/hook")


def test_a_public_address_is_vetted_with_its_port_and_path():
    target = transport.url_vet("https://93.184.215.14:8443/hooks/in?source=console")

    assert (target.scheme, target.host, target.port, target.address) == (
        "https",
        "93.184.215.14",
        8443,
        "93.184.215.14",
    )
    assert target.path == "/hooks/in?source=console"
    assert target.host_header == "93.184.215.14:8443"


def test_the_allow_setting_lets_a_listed_host_through(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["localhost"]

    target = transport.url_vet("http://localhost:9000/hook")

    assert target.address in {"127.0.0.1", "::1"}


def test_a_listed_address_does_not_allow_other_private_ones(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    assert transport.url_vet("http://127.0.0.1:9000/").address == "127.0.0.1"
    with pytest.raises(WebhookUrlRefused):
        transport.url_vet("http://10.0.0.1/")


def test_the_post_connects_to_the_vetted_address_and_sends_the_urls_host(receiver):
    port = receiver.server.server_address[1]
    target = transport.Target(
        scheme="http", host="hooks.example.test", port=port, path="/hook?a=1", address="127.0.0.1"
    )

    answer = transport.post(target, body=b'{"a": 1}', headers={"Content-Type": "application/json"}, timeout=5)

    assert answer.status == 200 and answer.snippet == "ok" and answer.latency_ms >= 0
    [received] = receiver.requests
    assert received.headers["Host"] == f"hooks.example.test:{port}"
    assert received.path == "/hook?a=1" and received.body == b'{"a": 1}'


def test_the_post_does_not_follow_a_redirect(receiver):
    receiver.replies = [(302, {"Location": "http://10.0.0.1/"}, b"")]
    target = transport.url_vet(receiver.url)

    answer = transport.post(target, body=b"{}", headers={}, timeout=5)

    assert answer.status == 302 and answer.location == "http://10.0.0.1/"
    assert len(receiver.requests) == 1


def test_the_post_cuts_a_long_answer_to_a_snippet(receiver):
    receiver.replies = [(200, {}, b"x" * 10_000)]

    answer = transport.post(transport.url_vet(receiver.url), body=b"{}", headers={}, timeout=5)

    assert answer.snippet == "x" * transport.SNIPPET_CHARS


def test_a_receiver_that_does_not_listen_is_a_transport_error(settings):
    from dashboard.devservices import free_port

    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    target = transport.url_vet(f"http://127.0.0.1:{free_port()}/")
    with pytest.raises(transport.TransportError):
        transport.post(target, body=b"{}", headers={}, timeout=2)
