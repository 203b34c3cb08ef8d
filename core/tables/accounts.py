"""app: who the users are and the credentials that act for them (Spotify tokens, API tokens, Spotify login state)."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

from core.tables.base import (
    APP_SCHEMA,
    created_at,
    metadata,
    one_of,
    updated_at,
    user_fk,
)

USER_STATUSES = ("active", "paused", "needs_reauth", "disabled")

users = Table(
    "users",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    # Null for local (ZIP-only) users, who never connected a Spotify account.
    Column("spotify_user_id", Text, nullable=True, unique=True),
    Column("email", Text, nullable=True),
    Column("display_name", Text, nullable=True),
    Column("timezone", Text, nullable=False, server_default=text("'UTC'")),
    # Set by a trigger (migration 0008) whenever `timezone` changes: the transform rebuilds the user's local-time
    # marts when it is newer than its watermark.
    Column("timezone_changed_at", DateTime(timezone=True), nullable=True),
    Column("status", Text, nullable=False, server_default=text("'active'")),
    created_at(),
    updated_at(),
    CheckConstraint(one_of("status", USER_STATUSES), name="status"),
    schema=APP_SCHEMA,
)

spotify_tokens = Table(
    "spotify_tokens",
    metadata,
    user_fk(primary_key=True),
    # Fernet ciphertext (core.crypto); the raw refresh token is never stored.
    Column("refresh_token_enc", Text, nullable=False),
    # Access tokens are short-lived but are bearer credentials too: kept encrypted as well.
    Column("access_token_enc", Text, nullable=True),
    Column("access_token_expires_at", DateTime(timezone=True), nullable=True),
    Column("scope", Text, nullable=False),
    Column("token_type", Text, nullable=False, server_default=text("'Bearer'")),
    # Spotify refresh tokens die 6 months after the original consent; refreshing does not extend it.
    Column("consented_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("refresh_token_expires_at", DateTime(timezone=True), nullable=True),
    # The Spotify app (client id) that issued it: removed endpoints are remembered per app.
    Column("client_id", Text, nullable=True),
    updated_at(),
    schema=APP_SCHEMA,
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")),
    user_fk(),
    Column("name", Text, nullable=False),
    # sha256 of the token; the token itself is shown once at creation and never stored.
    Column("token_hash", Text, nullable=False, unique=True),
    # First characters of the token, to recognise it in lists.
    Column("token_prefix", Text, nullable=False),
    Column("scopes", Text, nullable=False, server_default=text("'tools:read'")),
    created_at(),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index(None, "user_id"),
    schema=APP_SCHEMA,
)

oauth_states = Table(
    "oauth_states",
    metadata,
    # sha256 of the `state` sent to Spotify: single-use, bound to the browser that started login.
    Column("state_hash", Text, primary_key=True),
    Column("browser_binding_hash", Text, nullable=False),
    Column("code_verifier_enc", Text, nullable=False),
    Column("redirect_after", Text, nullable=True),
    created_at(),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    schema=APP_SCHEMA,
)
