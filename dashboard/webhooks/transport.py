"""The one POST of a delivery, and the SSRF rules it is sent under.

A URL is vetted before it is stored (at registration, at submit time) and again before every attempt:
its host is resolved, every address it resolves to must be public, and the request then connects to
the vetted address itself, so a second lookup (DNS rebinding) cannot swap in another one. TLS still
checks the certificate against the URL's host name. Redirects are not followed: a 3xx answer is a
failed attempt, so a redirect can never lead a delivery to a private address.

`WEBHOOK_ALLOWED_HOSTS` lists hosts or addresses exempt from the address rules, for development.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings

from dashboard.exceptions import WebhookHostUnresolved, WebhookUrlRefused

URL_MAX_LENGTH = 2000
SNIPPET_CHARS = 500
# Cloud instance metadata services, named even where the ranges below already cover them.
METADATA_ADDRESSES = frozenset(
    {ip_address("169.254.169.254"), ip_address("fd00:ec2::254"), ip_address("169.254.170.2")}
)
_NAT64 = ip_network("64:ff9b::/96")

IPAddress = IPv4Address | IPv6Address


class TransportError(Exception):
    """The attempt got no HTTP answer: refused connection, timeout, TLS failure."""


@dataclass(frozen=True)
class Target:
    """Where one attempt goes: the URL's parts and the vetted address to connect to."""

    scheme: str
    host: str
    port: int
    path: str
    address: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class Answer:
    status: int
    snippet: str
    latency_ms: int
    location: str


def url_vet(url: str) -> Target:
    """The target `url` leads to, or WebhookUrlRefused saying why it may not be used."""
    if not isinstance(url, str) or not url.strip():
        raise WebhookUrlRefused("The URL is empty.")
    if len(url) > URL_MAX_LENGTH:
        raise WebhookUrlRefused(f"The URL is longer than {URL_MAX_LENGTH} characters.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise WebhookUrlRefused(f"The URL is not valid: {error}.") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookUrlRefused("The URL must start with https:// (or http://).")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlRefused("The URL must not carry a user name or password.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise WebhookUrlRefused("The URL has no host.")
    port = port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    address = _address_vetted(host, port)
    return Target(scheme=parts.scheme, host=host, port=port, path=path, address=address)


def address_refusal(address: IPAddress) -> str | None:
    """Why a delivery may not go to `address`, or None for a public one."""
    candidates: list[IPAddress] = [address]
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            candidates.append(address.sixtofour)
        if address.teredo is not None:
            candidates.extend(address.teredo)
        if address in _NAT64:
            candidates.append(IPv4Address(int(address) & 0xFFFFFFFF))
    for candidate in candidates:
        if candidate in METADATA_ADDRESSES:
            return "a cloud metadata address"
        for test, words in (
            ("is_unspecified", "an unspecified"),
            ("is_loopback", "a loopback"),
            ("is_link_local", "a link-local"),
            ("is_multicast", "a multicast"),
            ("is_private", "a private"),
            ("is_reserved", "a reserved"),
        ):
            if getattr(candidate, test):
                return f"{words} address"
        if not candidate.is_global:
            return "not a public address"
    return None


def _allowed(value: str) -> bool:
    return value.lower() in settings.WEBHOOK_ALLOWED_HOSTS


def _address_vetted(host: str, port: int) -> str:
    """The address to connect to: every one the host resolves to must be public (or allowed)."""
    addresses = _resolve(host, port)
    if _allowed(host):
        return str(addresses[0])
    for address in addresses:
        refusal = None if _allowed(str(address)) else address_refusal(address)
        if refusal:
            shown = host if host == str(address) else f"{host} ({address})"
            raise WebhookUrlRefused(f"Refused: {shown} is {refusal}; webhooks only go to public addresses.")
    return str(addresses[0])


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise WebhookHostUnresolved(f"The host {host} does not resolve: {error}.") from None
    found: dict[IPAddress, None] = {}
    for info in infos:
        found[ip_address(str(info[4][0]).split("%")[0])] = None
    if not found:
        raise WebhookHostUnresolved(f"The host {host} does not resolve.")
    return list(found)


def post(target: Target, *, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST `body` to the target's vetted address, without following redirects or retrying."""
    pool: urllib3.HTTPConnectionPool
    limits = urllib3.Timeout(connect=min(timeout, 5.0), read=timeout)
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=limits,
            retries=False,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, timeout=limits, retries=False, maxsize=1)
    started = time.monotonic()
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers=headers | {"Host": target.host_header},
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            raw = response.read(SNIPPET_CHARS * 4)
        finally:
            response.release_conn()
    except urllib3.exceptions.HTTPError as error:
        raise TransportError(_error_text(error)) from None
    finally:
        pool.close()
    latency_ms = round((time.monotonic() - started) * 1000)
    snippet = raw.decode("utf-8", errors="replace")[:SNIPPET_CHARS]
    return Answer(
        status=response.status, snippet=snippet, latency_ms=latency_ms, location=response.headers.get("Location", "")
    )


def _error_text(error: Exception) -> str:
    reason = getattr(error, "reason", None) or error
    return f"{error.__class__.__name__}: {reason}"[:SNIPPET_CHARS]
