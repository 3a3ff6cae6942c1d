"""Where deliveries may go: absolute `https` URLs (or `http`, if a setting allows it) whose
host resolves only to public addresses (or any, if a setting allows it), so that a tenant
cannot make the service call into the network it runs in: loopback, private, link-local
(the cloud metadata service among them), shared (CGNAT), multicast and reserved ranges are
refused. A URL is checked when an endpoint is created or changed, and its host again before
each delivery, since what a name resolves to can change."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL = 2048

Resolver = Callable[[str, int], list[str]]


class Refused(ValueError):
    """A URL deliveries may not go to; the message says why."""


@dataclass(frozen=True, slots=True)
class Rules:
    """What the settings allow beyond public `https` URLs."""

    allow_http: bool = False
    allow_private: bool = False


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(f"the host {host!r} does not resolve ({exc})") from None
    return sorted({str(info[4][0]) for info in found})


def check(url: str, rules: Rules, resolver: Resolver = resolve) -> None:
    """Raise `Refused` unless deliveries may go to `url`."""
    host, port = target(url, rules)
    if rules.allow_private:
        return
    for address in resolver(host, port):
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        if not public(mapped or ip):
            raise Refused(f"the host {host!r} resolves to {address}, a loopback, private, "
                          "link-local or reserved address; deliveries go to public addresses "
                          "only (POLICYJOBS_WEBHOOKS_ALLOW_PRIVATE allows others)")


def public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether `ip` is an address of the public internet that a host may have."""
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


def target(url: str, rules: Rules) -> tuple[str, int]:
    """The host and port of `url`, which must be absolute and `https` (or allowed `http`)."""
    if len(url) > MAX_URL:
        raise Refused(f"the URL is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"the URL is not valid: {exc}") from None
    schemes = ("https", "http") if rules.allow_http else ("https",)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise Refused("the URL must be absolute: https://host/path")
    if parts.scheme not in schemes:
        raise Refused("the URL must use https (POLICYJOBS_WEBHOOKS_ALLOW_HTTP allows http)")
    if any(ch.isspace() for ch in url):
        raise Refused("the URL must not contain spaces")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)
