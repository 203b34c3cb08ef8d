"""Fetching a Client ID Metadata Document (CIMD): the client_id is an https URL whose document we GET.

Anyone can make the server fetch any URL this way, so the fetch is fenced like a careful webhook sender:
- the host is resolved once and the connection goes to that address (TLS still verified for the host name, by
  SNI), so a DNS answer that changes between "is it public?" and "connect" (DNS rebinding) cannot redirect us;
- every resolved address must be public, unless OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES lets loopback, private and
  link-local ones through (an intranet's clients; tests); multicast and unspecified addresses never are;
- https only, no redirects, no proxy from the environment (a proxy would resolve the name again), at most
  64 KiB, and 5 seconds for the whole fetch (a server dribbling bytes cannot hold a request open);
- the caller holds no database connection meanwhile (`clients.find_client`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

import httpx

from core.settings import Settings
from serve.oauth.errors import ClientError

MAX_DOCUMENT_BYTES = 64 * 1024
FETCH_SECONDS = 5.0

type IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
type Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses of `host`, in the order the system's resolver prefers them."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class CimdFetcher:
    """GETs a metadata document under the rules above. Tests inject a `resolver` (their DNS) and `verify` (an
    SSL context trusting their CA); production uses the system's resolver and trust store."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        resolver: Resolver = system_resolver,
        verify: ssl.SSLContext | bool = True,
        timeout_seconds: float = FETCH_SECONDS,
        max_bytes: int = MAX_DOCUMENT_BYTES,
    ) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.verify = verify
        self.timeout_seconds = timeout_seconds
        self.max_bytes = max_bytes

    @classmethod
    def for_settings(
        cls, settings: Settings, *, resolver: Resolver = system_resolver, verify: ssl.SSLContext | bool = True
    ) -> CimdFetcher:
        return cls(allow_private=settings.oauth_cimd_allow_private_addresses, resolver=resolver, verify=verify)

    def allowed(self, address: IPAddress) -> bool:
        if address.is_multicast or address.is_unspecified:
            return False
        if address.is_global:
            return True
        return self.allow_private and (address.is_private or address.is_loopback or address.is_link_local)

    async def fetch(self, url: str) -> Any:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise ClientError("invalid_client", "a URL client_id must be https")
        try:
            async with asyncio.timeout(self.timeout_seconds):
                address = await self._address(parts.hostname, parts.port or 443)
                body = await self._get(parts, address)
        except TimeoutError:
            raise ClientError(
                "invalid_client", f"client metadata document took longer than {self.timeout_seconds:g} s to fetch"
            ) from None
        try:
            return json.loads(body)
        except ValueError as error:
            raise ClientError("invalid_client", "client metadata document is not JSON") from error

    async def _address(self, host: str, port: int) -> IPAddress:
        """Resolve once; every address must be allowed (a mixed answer is refused whole)."""
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
            candidates: list[str] = [str(literal)]
        except ValueError:
            try:
                candidates = await self.resolver(host, port)
            except OSError as error:
                raise ClientError("invalid_client", f"cannot resolve {host}") from error
        if not candidates:
            raise ClientError("invalid_client", f"cannot resolve {host}")
        addresses = [ipaddress.ip_address(candidate.split("%", 1)[0]) for candidate in candidates]
        for address in addresses:
            if not self.allowed(address):
                raise ClientError(
                    "invalid_client",
                    f"client metadata host {host} resolves to {address}, which is not a public address"
                    + ("" if self.allow_private else " (OAUTH_CIMD_ALLOW_PRIVATE_ADDRESSES is off)"),
                )
        return addresses[0]

    async def _get(self, parts: SplitResult, address: IPAddress) -> bytes:
        host = parts.hostname or ""
        port = parts.port or 443
        literal = f"[{address}]" if address.version == 6 else str(address)
        target = urlunsplit(("https", f"{literal}:{port}", parts.path, parts.query, ""))
        headers = {"Accept": "application/json", "Host": parts.netloc.rpartition("@")[2]}
        try:
            async with (
                httpx.AsyncClient(
                    verify=self.verify, timeout=self.timeout_seconds, follow_redirects=False, trust_env=False
                ) as http,
                # SNI and certificate check against the name, connection to the address we checked.
                http.stream("GET", target, headers=headers, extensions={"sni_hostname": host}) as response,
            ):
                if response.status_code != 200:
                    raise ClientError("invalid_client", f"client metadata document answered {response.status_code}")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise ClientError(
                            "invalid_client", f"client metadata document is larger than {self.max_bytes // 1024} KiB"
                        )
                    chunks.append(chunk)
        except httpx.HTTPError as error:
            raise ClientError("invalid_client", f"client metadata document not reachable: {error}") from error
        return b"".join(chunks)
