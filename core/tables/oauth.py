"""app: the OAuth 2.1 authorization server for MCP clients (ChatGPT, Claude): serve/oauth. Migration 0002.

Every secret (client secret, authorization code, access/refresh token, one-time sign-in link) is stored as a
sha256 hash; passwords with scrypt.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from core.tables.base import (
    APP_SCHEMA,
    created_at,
    metadata,
    one_of,
    updated_at,
    user_fk,
)

OAUTH_CLIENT_KINDS = ("preregistered", "dcr", "cimd")
OAUTH_TOKEN_KINDS = ("access", "refresh")


def _oauth_client_fk() -> Column[object]:
    return Column(
        "client_id",
        Text,
        ForeignKey(f"{APP_SCHEMA}.oauth_clients.client_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


oauth_clients = Table(
    "oauth_clients",
    metadata,
    # DCR: a random id; CIMD: the https URL of the client's metadata document; pre-registered: set by the admin.
    Column("client_id", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("client_secret_hash", Text, nullable=True),
    Column("token_endpoint_auth_method", Text, nullable=False, server_default=text("'none'")),
    Column("client_name", Text, nullable=True),
    Column("client_uri", Text, nullable=True),
    Column("redirect_uris", JSONB, nullable=False),
    # The registration request (DCR) or the fetched metadata document (CIMD), as validated.
    Column("client_metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    # CIMD cache: when the document was last fetched (refetched after a TTL).
    Column("fetched_at", DateTime(timezone=True), nullable=True),
    # DCR: the registering client's address (IPv4, or an IPv6 /64), for the per-address registration limit.
    Column("registered_from", Text, nullable=True),
    created_at(),
    CheckConstraint(one_of("kind", OAUTH_CLIENT_KINDS), name="kind"),
    Index("ix_oauth_clients_registered_from_created_at", "registered_from", "created_at"),
    schema=APP_SCHEMA,
)

oauth_authorization_codes = Table(
    "oauth_authorization_codes",
    metadata,
    Column("code_hash", Text, primary_key=True),
    _oauth_client_fk(),
    user_fk(),
    Column("redirect_uri", Text, nullable=False),
    # PKCE S256 only: base64url(sha256(verifier)).
    Column("code_challenge", Text, nullable=False),
    Column("resource", Text, nullable=False),
    Column("scope", Text, nullable=False),
    # Tokens issued for this code share it: a replayed code revokes them (RFC 9700 §4.5).
    Column("family_id", UUID(as_uuid=True), nullable=False),
    created_at(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    schema=APP_SCHEMA,
)

oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    Column("token_hash", Text, nullable=False, unique=True),
    Column("kind", Text, nullable=False),
    # One family per authorization: refresh rotation keeps it; reuse of a rotated refresh token revokes it all.
    Column("family_id", UUID(as_uuid=True), nullable=False, index=True),
    _oauth_client_fk(),
    user_fk(),
    # RFC 8707 audience: `<public base>/mcp`.
    Column("resource", Text, nullable=False),
    Column("scope", Text, nullable=False),
    created_at(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    # Refresh tokens: when it was exchanged for a new pair (a second use is reuse).
    Column("rotated_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(one_of("kind", OAUTH_TOKEN_KINDS), name="kind"),
    schema=APP_SCHEMA,
)

oauth_grants = Table(
    "oauth_grants",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    user_fk(),
    _oauth_client_fk(),
    Column("scope", Text, nullable=False),
    created_at(),
    Column("last_authorized_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("user_id", "client_id"),
    schema=APP_SCHEMA,
)

oauth_local_credentials = Table(
    "oauth_local_credentials",
    metadata,
    user_fk(primary_key=True),
    # What a local (ZIP-only) user types on the sign-in page.
    Column("login_name", Text, nullable=False, unique=True),
    # `scrypt$n$r$p$salt_hex$hash_hex` (hashlib.scrypt); null when only one-time links are used.
    Column("password_hash", Text, nullable=True),
    # Brute-force brake: consecutive failures, and no attempts are checked until `locked_until`.
    Column("failed_attempts", Integer, nullable=False, server_default=text("0")),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    created_at(),
    updated_at(),
    schema=APP_SCHEMA,
)

oauth_signin_links = Table(
    "oauth_signin_links",
    metadata,
    Column("link_hash", Text, primary_key=True),
    user_fk(),
    created_at(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    schema=APP_SCHEMA,
)
