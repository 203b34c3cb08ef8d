"""Connecting a Spotify account: authorization code with PKCE plus the client secret.

`start_login` makes a single-use `state` bound to the browser (a random cookie whose hash is stored with the
state) and keeps the PKCE verifier encrypted until the callback. `consume_state` checks and burns the state
in its own committed transaction, so a replayed, forged, expired or other-browser state is refused even if
the rest of the callback fails. `complete_login` exchanges the code, reads the profile, and stores the user,
the encrypted tokens (scope, type, access-token expiry, consent date and the 6-month refresh-token expiry)
and a due sync checkpoint — all in one transaction: on any failure nothing is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from starlette.responses import Response

from core import tables
from core.crypto import TokenCipher, hash_secret
from core.db import SessionFactory, unit_of_work
from core.settings import Settings
from core.spotify.accounts import SpotifyAccounts, code_challenge, new_code_verifier
from core.spotify.budget import Purpose, RequestBudget
from core.spotify.client import SpotifyClient, StaticToken
from core.spotify.errors import SpotifyError, SpotifyHTTPError
from core.spotify.tokens import refresh_token_expiry

STATE_TTL = timedelta(minutes=10)
BROWSER_COOKIE = "spotify_mcp_oauth"
USER_COOKIE = "spotify_mcp_user"


def set_browser_cookie(response: Response, settings: Settings, browser_secret: str) -> None:
    """The cookie that binds a login's `state` to this browser (`consume_state` checks it): it lives as long as
    the state, and is sent only to /auth."""
    response.set_cookie(
        BROWSER_COOKIE,
        browser_secret,
        max_age=int(STATE_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=settings.effective_redirect_uri.startswith("https://"),
        path="/auth",
    )


class OAuthFailure(Exception):
    """A login that cannot go on; `title` and `message` are shown to the person."""

    def __init__(self, title: str, message: str, *, status_code: int = 400) -> None:
        super().__init__(message)
        self.title = title
        self.message = message
        self.status_code = status_code


@dataclass(frozen=True, slots=True)
class LoginStart:
    authorize_url: str
    browser_secret: str


@dataclass(frozen=True, slots=True)
class ConnectedUser:
    user_id: UUID
    spotify_user_id: str
    display_name: str | None
    scope: str
    refresh_token_expires_at: datetime
    first_connection: bool


def accounts_for(settings: Settings, http: httpx.AsyncClient, budget: RequestBudget) -> SpotifyAccounts:
    if not settings.spotify_configured or settings.spotify_client_id is None or settings.spotify_client_secret is None:
        raise OAuthFailure(
            "Spotify is not set up",
            "This server has no Spotify app configured (SPOTIFY_CLIENT_ID and SPOTIFY_CLIENT_SECRET). "
            "You can still import your Spotify data export ZIP without it.",
            # 404: this server has no such feature (a 5xx would page whoever watches for server faults).
            status_code=404,
        )
    return SpotifyAccounts(
        http,
        base_url=str(settings.spotify_accounts_base_url),
        client_id=settings.spotify_client_id,
        client_secret=settings.spotify_client_secret.get_secret_value(),
        timeout=settings.spotify_timeout_seconds,
        budget=budget,
    )


async def start_login(
    sessions: SessionFactory,
    settings: Settings,
    cipher: TokenCipher,
    accounts: SpotifyAccounts,
    *,
    browser_secret: str | None,
) -> LoginStart:
    browser = browser_secret if browser_secret and len(browser_secret) >= 32 else secrets.token_urlsafe(32)
    state = secrets.token_urlsafe(32)
    verifier = new_code_verifier()
    now = datetime.now(UTC)
    async with unit_of_work(sessions) as session:
        # Housekeeping: states are worthless after they expire.
        await session.execute(
            delete(tables.oauth_states).where(tables.oauth_states.c.expires_at < now - timedelta(days=1))
        )
        await session.execute(
            insert(tables.oauth_states).values(
                state_hash=hash_secret(state),
                browser_binding_hash=hash_secret(browser),
                code_verifier_enc=cipher.encrypt(verifier),
                expires_at=now + STATE_TTL,
            )
        )
    url = accounts.authorize_url(
        state=state, challenge=code_challenge(verifier), redirect_uri=settings.effective_redirect_uri
    )
    return LoginStart(url, browser)


async def consume_state(sessions: SessionFactory, cipher: TokenCipher, state: str, browser_secret: str | None) -> str:
    """Burn the state (single use) and return the PKCE verifier, or raise `OAuthFailure`."""
    states = tables.oauth_states
    async with unit_of_work(sessions) as session:
        row = (
            await session.execute(select(states).where(states.c.state_hash == hash_secret(state)).with_for_update())
        ).first()
        if row is None:
            failure = OAuthFailure(
                "This login link is not valid",
                "We did not start this login (unknown state). Start again from the login page.",
            )
        elif row.used_at is not None:
            failure = OAuthFailure(
                "This login link was already used", "Each login link works once. Start again from the login page."
            )
        elif row.expires_at < datetime.now(UTC):
            failure = OAuthFailure("This login link expired", "Logins must finish within 10 minutes. Start again.")
        elif not browser_secret or not hmac.compare_digest(row.browser_binding_hash, hash_secret(browser_secret)):
            failure = OAuthFailure(
                "This login was started in another browser",
                "For your safety a login must finish in the browser that started it. Start again here.",
            )
        else:
            await session.execute(
                update(states).where(states.c.state_hash == row.state_hash).values(used_at=func.now())
            )
            return cipher.decrypt(row.code_verifier_enc)
        if row is not None and row.used_at is None:
            await session.execute(
                update(states).where(states.c.state_hash == row.state_hash).values(used_at=func.now())
            )
    raise failure


async def complete_login(
    sessions: SessionFactory,
    settings: Settings,
    cipher: TokenCipher,
    accounts: SpotifyAccounts,
    http: httpx.AsyncClient,
    *,
    code: str,
    code_verifier: str,
) -> ConnectedUser:
    try:
        granted = await accounts.exchange_code(
            code=code, redirect_uri=settings.effective_redirect_uri, code_verifier=code_verifier
        )
        if not granted.refresh_token:
            raise OAuthFailure(
                "Spotify sent no refresh token", "Nothing was stored. Please try again.", status_code=502
            )
        profile = await SpotifyClient(
            http,
            StaticToken(granted.access_token),
            base_url=str(settings.spotify_api_base_url),
            budget=accounts.budget,
            purpose=Purpose.token,  # part of signing in: the highest priority, like the code exchange
        ).get_me()
    except SpotifyHTTPError as problem:
        if problem.status_code != 403:
            raise OAuthFailure(
                "Spotify did not complete the login", f"Nothing was stored. Spotify said: {problem}", status_code=502
            ) from None
        raise OAuthFailure(
            "This Spotify account is not allowed for this app yet",
            "Spotify refused to show the account to this app (403). Apps in development mode accept only the "
            "users added under User Management in the Spotify developer dashboard (at most 5, and the app owner "
            "needs Premium). Add the account there, then connect again. Nothing was stored.",
            status_code=403,
        ) from None
    except SpotifyError as problem:
        raise OAuthFailure(
            "Spotify did not complete the login", f"Nothing was stored. Spotify said: {problem}", status_code=502
        ) from None
    now = datetime.now(UTC)
    expires = refresh_token_expiry(now)
    scope = granted.scope or ""
    users, token_table, checkpoints = tables.users, tables.spotify_tokens, tables.sync_checkpoints
    async with unit_of_work(sessions) as session:
        existing = await session.scalar(select(users.c.id).where(users.c.spotify_user_id == profile.id))
        user_insert = insert(users).values(
            spotify_user_id=profile.id,
            display_name=profile.display_name,
            email=profile.email,
            timezone=settings.default_timezone,
        )
        user_id = await session.scalar(
            user_insert.on_conflict_do_update(
                index_elements=[users.c.spotify_user_id],
                set_={
                    "display_name": func.coalesce(user_insert.excluded.display_name, users.c.display_name),
                    "email": func.coalesce(user_insert.excluded.email, users.c.email),
                    "status": case((users.c.status == "needs_reauth", "active"), else_=users.c.status),
                    "updated_at": func.now(),
                },
            ).returning(users.c.id)
        )
        assert user_id is not None
        token_values = {
            "refresh_token_enc": cipher.encrypt(granted.refresh_token),
            "access_token_enc": cipher.encrypt(granted.access_token),
            "access_token_expires_at": now + timedelta(seconds=granted.expires_in),
            "scope": scope,
            "token_type": granted.token_type,
            "consented_at": now,
            "refresh_token_expires_at": expires,
            "client_id": accounts.client_id,
            "updated_at": now,
        }
        token_insert = insert(token_table).values(user_id=user_id, **token_values)
        await session.execute(
            token_insert.on_conflict_do_update(index_elements=[token_table.c.user_id], set_=token_values)
        )
        checkpoint_insert = insert(checkpoints).values(user_id=user_id, status="idle", next_poll_at=now)
        await session.execute(
            checkpoint_insert.on_conflict_do_update(
                index_elements=[checkpoints.c.user_id],
                set_={
                    "status": case(
                        (checkpoints.c.status.in_(("needs_reauth", "error", "rate_limited")), "idle"),
                        else_=checkpoints.c.status,
                    ),
                    "error_message": None,
                    "consecutive_errors": 0,
                    "next_attempt_at": None,
                    "next_poll_at": now,
                    "updated_at": now,
                },
            )
        )
    return ConnectedUser(
        user_id=user_id,
        spotify_user_id=profile.id,
        display_name=profile.display_name,
        scope=scope,
        refresh_token_expires_at=expires,
        first_connection=existing is None,
    )


async def disconnect(sessions: SessionFactory, user_id: UUID) -> bool:
    """Forget the user's Spotify tokens (their history stays). Returns whether a connection existed."""
    async with unit_of_work(sessions) as session:
        result = await session.execute(
            delete(tables.spotify_tokens)
            .where(tables.spotify_tokens.c.user_id == user_id)
            .returning(tables.spotify_tokens.c.user_id)
        )
        return result.first() is not None


# --- The "connected in this browser" cookie: the user id, signed. ------------------------------------
def _signing_key(settings: Settings) -> bytes:
    if settings.session_secret is not None:
        return settings.session_secret.get_secret_value().encode()
    return hashlib.sha256(b"spotify-mcp user cookie|" + settings.encryption_keys[0].encode()).digest()


def sign_user(settings: Settings, user_id: UUID) -> str:
    signature = hmac.new(_signing_key(settings), str(user_id).encode(), hashlib.sha256).hexdigest()
    return f"{user_id}.{signature}"


def verify_user(settings: Settings, value: str | None) -> UUID | None:
    if not value or "." not in value:
        return None
    raw_id, _, signature = value.partition(".")
    expected = hmac.new(_signing_key(settings), raw_id.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature, expected):
        return None
    try:
        return UUID(raw_id)
    except ValueError:
        return None
