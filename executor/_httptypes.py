"""Value types of guest HTTP: the operator's settings and what one request was granted.

Kept free of executor imports so `_types.ExecutorConfig` can hold an `HttpConfig` without a cycle.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MiB = 1024 * 1024
HOST_MODULE = "offshore"
"""The wasm import module of the host API (executor/guests/_sdk/offshore.h)."""

# Hard caps the contract enforces too (contract/src/offshore/pricing.py): a request never gets more.
MAX_HTTP_CALLS = 16
MAX_HTTP_KB = 8192
MAX_HTTP_HOSTS = 8
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpConfig:
    """Operator settings of guest HTTP (`OFFSHORE_HTTP_*`); the request's grant narrows them further.

    `dev_mode` admits `http://` and loopback addresses (tests and the demo's mock API); production
    leaves it off, so guests reach only public addresses over https.
    """

    dev_mode: bool = False
    dns_server: str | None = None
    """`ip:port` of the resolver to ask; None = the system's (/etc/resolv.conf). Never getaddrinfo."""
    call_timeout_s: float = 10.0
    """Cap of one call (DNS, connect, TLS, redirects and the whole body); the run's wall clock caps all calls."""
    max_response_bytes: int = 2 * MiB
    """Cap of one response (headers and body as received); the grant's byte budget may cut it further."""
    max_request_bytes: int = 64 * 1024
    max_redirects: int = 3
    ca_file: str | None = None
    """PEM bundle guests' TLS peers are verified against; None = certifi's (httpcore's default)."""
    io_workers: int = 16
    """Threads for runs that may call the web, apart from the CPU pool, so waiting never blocks CPU work."""


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpGrant:
    """What one request declared and the contract accepted: hosts, calls and kilobytes."""

    hosts: tuple[str, ...] = ()
    max_calls: int = 0
    max_kb: int = 0

    @property
    def enabled(self) -> bool:
        return self.max_calls > 0 and bool(self.hosts)

    @classmethod
    def from_mapping(cls, limits: Mapping[str, Any] | None) -> HttpGrant:
        """Reads `resource_limits` (`http_hosts`, `max_http_calls`, `max_http_kb`); bad values raise ValueError."""
        limits = limits or {}
        hosts = limits.get("http_hosts") or []
        if not isinstance(hosts, list | tuple) or len(hosts) > MAX_HTTP_HOSTS:
            raise ValueError(f"http_hosts must be a list of at most {MAX_HTTP_HOSTS} host names")
        checked = tuple(check_host(h) for h in hosts)
        calls = int(limits.get("max_http_calls") or 0)
        kb = int(limits.get("max_http_kb") or 0)
        if not 0 <= calls <= MAX_HTTP_CALLS or not 0 <= kb <= MAX_HTTP_KB:
            raise ValueError("max_http_calls or max_http_kb out of range")
        return cls(hosts=checked, max_calls=calls, max_kb=kb)


def check_host(host: object) -> str:
    """A lowercase DNS name or IP literal, as allowlists hold them (no port, no wildcard)."""
    if not isinstance(host, str) or not host:
        raise ValueError("a host must be a non-empty string")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not _HOSTNAME.match(host):
        raise ValueError(f"not a lowercase host name: {host[:64]!r}")
    return host
