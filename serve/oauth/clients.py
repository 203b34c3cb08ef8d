"""OAuth clients: pre-registered (by the admin), dynamically registered (RFC 7591) and CIMD (the client_id is
the https URL of a client metadata document, fetched, validated and cached here).

Redirect URIs must be https, or http on a loopback host (native/desktop clients). They are matched exactly,
except that a loopback one matches on any port (RFC 8252 §7.3: a native app listens on whatever port is free).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import tables
from core.crypto import constant_time_equals
from core.db import SessionFactory, page_of, unit_of_work
from serve.oauth.cimd import CimdFetcher
from serve.oauth.common import CIMD_TTL, CLIENT_SECRET_PREFIX, SCOPES_SUPPORTED, new_secret, stored
from serve.oauth.errors import ClientError
from serve.oauth.tokens import live_token_count

AUTH_METHODS = ("none", "client_secret_post", "client_secret_basic")
GRANT_TYPES = ("authorization_code", "refresh_token")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
# Registration is open to anyone who reaches the API: every field is bounded (issue 16.4).
MAX_CLIENT_NAME_CHARS = 200
MAX_REDIRECT_URIS = 10
MAX_URI_BYTES = 2048


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    kind: str
    client_name: str | None
    client_uri: str | None
    redirect_uris: tuple[str, ...]
    token_endpoint_auth_method: str
    client_secret_hash: str | None

    @property
    def display_name(self) -> str:
        return self.client_name or urlsplit(self.client_id).hostname or self.client_id

    def check_secret(self, secret: str | None) -> bool:
        if self.client_secret_hash is None:
            return True
        return secret is not None and constant_time_equals(stored(secret), self.client_secret_hash)


def is_metadata_url(client_id: str) -> bool:
    """A URL-shaped client_id (CIMD): https with a path."""
    parts = urlsplit(client_id)
    return parts.scheme in ("https", "http") and bool(parts.netloc) and parts.path not in ("", "/")


def valid_redirect_uri(uri: str) -> bool:
    parts = urlsplit(uri)
    if parts.fragment or not parts.netloc or "*" in uri:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS


def _without_port(uri: str) -> str | None:
    """A loopback http redirect URI with its port removed (None: not a loopback http URI)."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return None
    host = parts.hostname or ""
    if parts.scheme != "http" or host not in LOOPBACK_HOSTS or parts.username or parts.password:
        return None
    netloc = f"[{host}]" if ":" in host else host
    return parts._replace(netloc=netloc).geturl()


def redirect_uri_matches(registered: Sequence[str], requested: str) -> bool:
    """Exact match, or (RFC 8252 §7.3) the same loopback http URI on another port."""
    if requested in registered:
        return True
    portless = _without_port(requested)
    return portless is not None and any(_without_port(uri) == portless for uri in registered)


def _bounded_string(raw: dict[str, Any], field: str, limit: int, *, in_bytes: bool = False) -> None:
    value = raw.get(field)
    if value is None:
        return
    if not isinstance(value, str):
        raise ClientError("invalid_client_metadata", f"{field} must be a string")
    size = len(value.encode()) if in_bytes else len(value)
    if size > limit:
        unit = "bytes" if in_bytes else "characters"
        raise ClientError("invalid_client_metadata", f"{field} is longer than {limit} {unit}")


def _validated_metadata(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ClientError("invalid_client_metadata", "client metadata must be a JSON object")
    uris = raw.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(uri, str) for uri in uris):
        raise ClientError("invalid_redirect_uri", "redirect_uris must be a non-empty list of URLs")
    if len(uris) > MAX_REDIRECT_URIS:
        raise ClientError("invalid_redirect_uri", f"redirect_uris holds {len(uris)} URLs; at most {MAX_REDIRECT_URIS}")
    for uri in uris:
        if len(uri.encode()) > MAX_URI_BYTES:
            raise ClientError("invalid_redirect_uri", f"a redirect URI is longer than {MAX_URI_BYTES} bytes")
        if not valid_redirect_uri(uri):
            raise ClientError("invalid_redirect_uri", f"redirect URI not allowed (https or http loopback): {uri}")
    grants = raw.get("grant_types", ["authorization_code"])
    if not isinstance(grants, list) or not set(grants) <= set(GRANT_TYPES):
        raise ClientError("invalid_client_metadata", f"grant_types must be within {list(GRANT_TYPES)}")
    responses = raw.get("response_types", ["code"])
    if not isinstance(responses, list) or not set(responses) <= {"code"}:
        raise ClientError("invalid_client_metadata", "response_types must be ['code']")
    scope = raw.get("scope")
    if scope is not None and (not isinstance(scope, str) or not set(scope.split()) <= set(SCOPES_SUPPORTED)):
        raise ClientError("invalid_client_metadata", f"scope must be within {list(SCOPES_SUPPORTED)}")
    _bounded_string(raw, "client_name", MAX_CLIENT_NAME_CHARS)
    for field in ("client_uri", "logo_uri"):
        _bounded_string(raw, field, MAX_URI_BYTES, in_bytes=True)
    return dict(raw)


def _client(row: Any) -> Client:
    return Client(
        client_id=row.client_id,
        kind=row.kind,
        client_name=row.client_name,
        client_uri=row.client_uri,
        redirect_uris=tuple(row.redirect_uris),
        token_endpoint_auth_method=row.token_endpoint_auth_method,
        client_secret_hash=row.client_secret_hash,
    )


# Any constant: with the client's address, serialises the "how many registrations this hour" check with the
# insert that follows it.
_REGISTRATION_LOCK = 0x5350_4D43


async def registration_wait(session: AsyncSession, per_hour: int, client_address: str) -> int:
    """Seconds until another dynamic registration from `client_address` is accepted (0: now). Registration is open
    to anyone on the network; counting per address (not for everyone together) keeps one caller from blocking
    every new connector. Call it in the transaction that registers."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:kind, hashtext(:address))"),
        {"kind": _REGISTRATION_LOCK, "address": client_address},
    )
    since = datetime.now(UTC) - timedelta(hours=1)
    table = tables.oauth_clients
    recent = (
        await session.execute(
            select(func.count(), func.min(table.c.created_at)).where(
                table.c.kind == "dcr", table.c.registered_from == client_address, table.c.created_at > since
            )
        )
    ).one()
    if recent[0] < per_hour:
        return 0
    return max(1, int((recent[1] - since).total_seconds()) + 1)


async def register_client(
    session: AsyncSession,
    raw: Any,
    *,
    kind: str = "dcr",
    client_id: str | None = None,
    registered_from: str | None = None,
) -> tuple[Client, str | None, dict[str, Any]]:
    """RFC 7591 registration (or the admin's pre-registration): the client, its secret (shown once) and the
    registration response body. `registered_from`: the caller's address key (dynamic registration)."""
    metadata = _validated_metadata(raw)
    method = metadata.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise ClientError("invalid_client_metadata", f"token_endpoint_auth_method must be one of {AUTH_METHODS}")
    client_id = client_id or "smcp-client-" + secrets.token_urlsafe(16)
    secret = new_secret(CLIENT_SECRET_PREFIX) if method != "none" else None
    now = datetime.now(UTC)
    row = (
        await session.execute(
            insert(tables.oauth_clients)
            .values(
                client_id=client_id,
                kind=kind,
                client_secret_hash=stored(secret) if secret else None,
                token_endpoint_auth_method=method,
                client_name=metadata.get("client_name"),
                client_uri=metadata.get("client_uri"),
                redirect_uris=metadata["redirect_uris"],
                client_metadata=metadata,
                registered_from=registered_from,
            )
            .returning(tables.oauth_clients)
        )
    ).one()
    body: dict[str, Any] = {
        **metadata,
        "client_id": client_id,
        "client_id_issued_at": int(now.timestamp()),
        "token_endpoint_auth_method": method,
        "grant_types": metadata.get("grant_types", ["authorization_code"]),
        "response_types": ["code"],
    }
    if secret:
        body["client_secret"] = secret
        body["client_secret_expires_at"] = 0
    return _client(row), secret, body


async def list_clients(
    session: AsyncSession, *, kind: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Registered clients, newest first, with how many people have them connected (unrevoked grants) and their
    live tokens; and the total."""
    clients, grants, tokens = tables.oauth_clients, tables.oauth_grants, tables.oauth_tokens
    connected = (
        select(func.count())
        .where(grants.c.client_id == clients.c.client_id, grants.c.revoked_at.is_(None))
        .scalar_subquery()
    )
    live = live_token_count(tokens.c.client_id == clients.c.client_id)
    query = select(
        clients.c.client_id,
        clients.c.kind,
        clients.c.client_name,
        clients.c.client_uri,
        clients.c.redirect_uris,
        clients.c.token_endpoint_auth_method,
        clients.c.created_at,
        connected.label("connected_users"),
        live.label("live_tokens"),
    )
    total, rows = await page_of(
        session,
        query,
        clients,
        [clients.c.kind == kind if kind else None],
        order_by=[clients.c.created_at.desc(), clients.c.client_id],
        limit=limit,
        offset=offset,
    )
    return [dict(row._mapping) for row in rows], total


async def delete_client(session: AsyncSession, client_id: str) -> bool:
    """Remove a client with its codes, grants and tokens (foreign keys cascade): every assistant using it is
    disconnected at once. False when there is no such client."""
    table = tables.oauth_clients
    deleted = await session.execute(delete(table).where(table.c.client_id == client_id).returning(table.c.client_id))
    return deleted.first() is not None


async def _cimd_client(sessions: SessionFactory, client_id: str, cached: Any, fetcher: CimdFetcher) -> Client:
    now = datetime.now(UTC)
    if cached is not None and cached.fetched_at is not None and now - cached.fetched_at < CIMD_TTL:
        return _client(cached)
    # No database connection is held while fetching: a slow document host must not drain the pool.
    document = await fetcher.fetch(client_id)
    metadata = _validated_metadata(document)
    if metadata.get("client_id") != client_id:
        raise ClientError("invalid_client", "the metadata document's client_id must equal its URL")
    method = metadata.get("token_endpoint_auth_method", "none")
    if method != "none":
        raise ClientError("invalid_client", "a URL client_id is a public client: token_endpoint_auth_method none")
    values = {
        "kind": "cimd",
        "client_secret_hash": None,
        "token_endpoint_auth_method": "none",
        "client_name": metadata.get("client_name"),
        "client_uri": metadata.get("client_uri"),
        "redirect_uris": metadata["redirect_uris"],
        "client_metadata": metadata,
        "fetched_at": now,
    }
    table = tables.oauth_clients
    async with unit_of_work(sessions) as session:
        row = (
            await session.execute(
                insert(table)
                .values(client_id=client_id, **values)
                .on_conflict_do_update(index_elements=[table.c.client_id], set_=values)
                .returning(table)
            )
        ).one()
    return _client(row)


async def find_client(sessions: SessionFactory, client_id: str | None, fetcher: CimdFetcher) -> Client:
    """The client named by `client_id`; a URL client_id's metadata document is fetched (or taken from the cache).
    Opens its own short units of work, never one around the fetch."""
    if not client_id:
        raise ClientError("invalid_client", "client_id is required")
    table = tables.oauth_clients
    async with unit_of_work(sessions) as session:
        row = (await session.execute(select(table).where(table.c.client_id == client_id))).first()
    if is_metadata_url(client_id):
        return await _cimd_client(sessions, client_id, row, fetcher)
    if row is None:
        raise ClientError("invalid_client", "unknown client_id")
    return _client(row)
