"""Who is signing in: Spotify (the existing `/auth/login` flow, continued here afterwards), or for local
ZIP-only users a password (hashlib.scrypt) or a one-time sign-in link, both set by the admin.

A successful sign-in sets a short-lived signed cookie (path `/oauth`) naming the user; the consent page reads it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from uuid import UUID

from fastapi.responses import RedirectResponse
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import tables
from core.db import SessionFactory, unit_of_work
from core.settings import Settings
from serve.oauth.common import LINK_PREFIX, SESSION_COOKIE, SESSION_TTL, SIGNIN_LINK_TTL, new_secret, sign, stored
from serve.oauth.common import unsign as _unsign

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 10
LOGIN_NAME = re.compile(r"^[a-zA-Z0-9._@-]{2,64}$")
RESUME_PATH = "/oauth/authorize/resume"
MAX_FAILURES = 5
LOCK_TIME = timedelta(minutes=15)


class SigninError(Exception):
    pass


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, encoded: str | None) -> bool:
    if not encoded:
        return False
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        computed = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
        )
    except ValueError:
        return False
    return scheme == "scrypt" and hmac.compare_digest(computed.hex(), digest)


async def _user_exists(session: AsyncSession, user_id: UUID) -> None:
    if (await session.execute(select(tables.users.c.id).where(tables.users.c.id == user_id))).first() is None:
        raise SigninError(f"no user with id {user_id}")


async def set_password(session: AsyncSession, user_id: UUID, login_name: str, password: str) -> None:
    """Set (or replace) a local user's sign-in name and password."""
    if not LOGIN_NAME.match(login_name):
        raise SigninError("login name: 2-64 letters, digits, or . _ @ -")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise SigninError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    await _user_exists(session, user_id)
    table = tables.oauth_local_credentials
    taken = (
        await session.execute(
            select(table.c.user_id).where(table.c.login_name == login_name, table.c.user_id != user_id)
        )
    ).first()
    if taken is not None:
        raise SigninError(f"login name {login_name!r} is taken")
    values = {
        "login_name": login_name,
        "password_hash": hash_password(password),
        "failed_attempts": 0,
        "locked_until": None,
    }
    await session.execute(
        insert(table)
        .values(user_id=user_id, **values)
        .on_conflict_do_update(index_elements=[table.c.user_id], set_={**values, "updated_at": func.now()})
    )


async def check_password(session: AsyncSession, login_name: str, password: str) -> UUID | None:
    """The user whose name and password these are, or None. After MAX_FAILURES wrong passwords in a row the
    name is locked for LOCK_TIME (nothing is checked meanwhile, so guessing gains nothing)."""
    table = tables.oauth_local_credentials
    row = (
        await session.execute(
            select(table.c.user_id, table.c.password_hash, table.c.failed_attempts, table.c.locked_until)
            .where(table.c.login_name == login_name)
            .with_for_update()
        )
    ).first()
    if row is None:
        verify_password(password, hash_password("not-a-user-timing-pad"))  # same cost either way
        return None
    now = datetime.now(UTC)
    if row.locked_until is not None and row.locked_until > now:
        return None
    if verify_password(password, row.password_hash):
        if row.failed_attempts:
            await session.execute(
                update(table).where(table.c.user_id == row.user_id).values(failed_attempts=0, locked_until=None)
            )
        return UUID(str(row.user_id))
    failures = row.failed_attempts + 1
    locked = now + LOCK_TIME if failures >= MAX_FAILURES else None
    await session.execute(
        update(table)
        .where(table.c.user_id == row.user_id)
        .values(failed_attempts=0 if locked else failures, locked_until=locked)
    )
    return None


async def issue_link(
    session: AsyncSession, settings: Settings, user_id: UUID, ttl: timedelta = SIGNIN_LINK_TTL
) -> tuple[str, datetime]:
    """A one-time sign-in link (shown once; only its hash is stored)."""
    await _user_exists(session, user_id)
    token = new_secret(LINK_PREFIX)
    expires = datetime.now(UTC) + ttl
    await session.execute(
        tables.oauth_signin_links.insert().values(link_hash=stored(token), user_id=user_id, expires_at=expires)
    )
    return f"{settings.effective_public_base_url}/oauth/signin/link?token={token}", expires


async def consume_link(session: AsyncSession, token: str) -> UUID | None:
    table = tables.oauth_signin_links
    row = (
        await session.execute(
            update(table)
            .where(table.c.link_hash == stored(token), table.c.used_at.is_(None), table.c.expires_at > func.now())
            .values(used_at=func.now())
            .returning(table.c.user_id)
        )
    ).first()
    return None if row is None else UUID(str(row.user_id))


def session_value(settings: Settings, user_id: UUID) -> str:
    return sign(settings, "session", {"user": str(user_id)}, SESSION_TTL)


def signed_in_user(settings: Settings, cookie: str | None) -> UUID | None:
    payload = _unsign(settings, "session", cookie)
    if payload is None:
        return None
    try:
        return UUID(str(payload["user"]))
    except KeyError, ValueError:
        return None


def set_session_cookie(response: RedirectResponse, settings: Settings, user_id: UUID) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_value(settings, user_id),
        max_age=int(SESSION_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=settings.effective_public_base_url.startswith("https://"),
        path="/oauth",
    )


async def remember_resume(sessions: SessionFactory, state: str, target: str) -> None:
    """After `/auth/login` started: carry the pending MCP authorization through the Spotify state row."""
    async with unit_of_work(sessions) as session:
        await session.execute(
            update(tables.oauth_states)
            .where(tables.oauth_states.c.state_hash == stored(state))
            .values(redirect_after=target)
        )


async def resume_after_spotify(
    sessions: SessionFactory, settings: Settings, state: str, user_id: UUID
) -> RedirectResponse | None:
    """Called by `/auth/callback` after a successful Spotify sign-in: when the login was started by
    `/oauth/authorize`, go back to its consent page signed in as that user; otherwise None."""
    async with unit_of_work(sessions) as session:
        row = (
            await session.execute(
                select(tables.oauth_states.c.redirect_after).where(tables.oauth_states.c.state_hash == stored(state))
            )
        ).first()
    target = None if row is None else row.redirect_after
    if not target or urlsplit(target).netloc or not target.startswith(RESUME_PATH + "?"):
        return None
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, settings, user_id)
    return response
