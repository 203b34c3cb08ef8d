"""Who is on the other end of a request, for per-client rate limits (sign-in, dynamic client registration).

Behind a reverse proxy every request arrives from the proxy, so the client address is taken from
`X-Forwarded-For` — but only when the request comes from a proxy listed in TRUSTED_PROXIES (default: loopback,
where a reverse proxy on the same host connects from); anyone else could write any address into that header.
uvicorn's own `ProxyHeadersMiddleware` does the reading (the rightmost address not of a trusted proxy); we only
feed it our setting, and the CLI runs uvicorn with its built-in proxy-header handling off, so the setting alone
decides, the same way in every process and in tests.
"""

from __future__ import annotations

import ipaddress

from fastapi import FastAPI
from starlette.requests import HTTPConnection
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from core.settings import Settings

# One IPv6 subscriber usually holds a whole /64: counting per address would give them 2^64 tries.
IPV6_PREFIX = 64


def install_proxy_headers(app: FastAPI, settings: Settings) -> None:
    """Believe X-Forwarded-For/-Proto from TRUSTED_PROXIES only (added last: runs first, before anything
    reads the client address or the scheme)."""
    if settings.trusted_proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))


def address_key(connection: HTTPConnection) -> str:
    """The client's address as a rate-limit key: an IPv4 address, or the /64 network of an IPv6 address."""
    host = connection.client.host if connection.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False))
    return str(address)
