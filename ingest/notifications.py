"""Tell the owner when something needs them, once per occurrence (issue 17, part 4).

Events are read off the state the system keeps anyway, so it does not matter which process caused them (the
API refreshing a token, `spotify-mcp import` in a shell, another collector):

| kind | found when | key (one notification per key) |
|---|---|---|
| needs_reauth | a connected user's status is `needs_reauth` | user + the consent that ended |
| token_expiring | an active user's refresh token ends within NOTIFY_TOKEN_EXPIRY_DAYS | user + expiry date |
| quota_exhausted | Spotify stopped the app (`app.spotify_quota_blocks`) | the block |
| poll_failures | NOTIFY_POLL_FAILURES failed polls in a row | user + the last good poll |
| import_failed | an import job ended in error (finished in the last day) | the import job |

Each event is a row of `app.notifications` with a unique `event_key`, inserted once (a second find adds
nothing) and logged once. Rows are then delivered through Apprise (https://github.com/caronc/apprise) to every
URL of NOTIFY_URLS — ntfy, Slack, Discord, e-mail, generic JSON webhooks and ~100 more — each URL once: a URL
that took the message is remembered (a fingerprint, never the URL) and skipped when a retry is needed for
another. Failed deliveries are retried with backoff, at most `MAX_ATTEMPTS` times. Without NOTIFY_URLS, events
are still recorded and shown in the admin UI (status `unconfigured`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.log import redact_text
from core.settings import Settings
from core.spotify.budget import BudgetPolicy, budget_state
from core.spotify.tokens import REFRESH_TOKEN_LIFETIME_MONTHS

logger = logging.getLogger(__name__)

MAX_ATTEMPTS: Final = 5
# Waits after failed attempt 1, 2, 3, 4.
BACKOFF: Final = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
# A delivery in progress keeps its row this long before another collector may try it.
LEASE: Final = timedelta(minutes=5)
IMPORT_FAILURES_SINCE: Final = timedelta(days=1)

# Sends one message to one URL; returns None when delivered, else what went wrong (for a person).
type Sender = Callable[[str, str, str], str | None]


@dataclass(frozen=True, slots=True)
class Event:
    key: str
    kind: str
    user_id: UUID | None
    title: str
    body: str


def fingerprint(url: str) -> str:
    """Which URL took a message, without storing the URL (they hold webhook secrets)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _reconnect(settings: Settings) -> str:
    return f"{settings.effective_public_base_url}/auth/login"


# --------------------------------------------------------------------------------------------------
# Finding events
# --------------------------------------------------------------------------------------------------
_NAME = "coalesce(u.display_name, u.spotify_user_id, CAST(u.id AS text))"


async def find_events(engine: AsyncEngine, settings: Settings, now: datetime) -> list[Event]:
    events: list[Event] = []
    async with engine.connect() as connection:
        for row in await connection.execute(
            text(
                f"SELECT u.id, {_NAME} AS name, t.consented_at FROM app.users u "
                "JOIN app.spotify_tokens t ON t.user_id = u.id WHERE u.status = 'needs_reauth'"
            )
        ):
            events.append(
                Event(
                    f"needs_reauth:{row.id}:{row.consented_at.isoformat()}",
                    "needs_reauth",
                    row.id,
                    f"Spotify needs {row.name} to connect again",
                    f"Spotify no longer accepts {row.name}'s connection (the refresh token expired or was revoked), "
                    "so their plays are not being collected. Spotify keeps only the last 50 plays: reconnect soon at "
                    f"{_reconnect(settings)} (admin UI → Users shows who).",
                )
            )
        expiry = (
            f"coalesce(t.refresh_token_expires_at, t.consented_at + interval '{REFRESH_TOKEN_LIFETIME_MONTHS} months')"
        )
        for row in await connection.execute(
            text(
                f"SELECT u.id, {_NAME} AS name, {expiry} AS expires_at FROM app.users u "
                "JOIN app.spotify_tokens t ON t.user_id = u.id "
                f"WHERE u.status = 'active' AND {expiry} > :now AND {expiry} <= :soon"
            ),
            {"now": now, "soon": now + timedelta(days=settings.notify_token_expiry_days)},
        ):
            days = max(0, (row.expires_at - now).days)
            events.append(
                Event(
                    f"token_expiring:{row.id}:{row.expires_at.date().isoformat()}",
                    "token_expiring",
                    row.id,
                    f"{row.name}'s Spotify connection ends on {row.expires_at:%Y-%m-%d}",
                    f"Spotify ends every connection {REFRESH_TOKEN_LIFETIME_MONTHS} months after consent; "
                    f"{row.name}'s ends {_when(row.expires_at)} (in {days} day(s)). After that their plays stop "
                    f"being collected until they connect again: have them open {_reconnect(settings)} before then.",
                )
            )
        blocks = (
            await connection.execute(
                text(
                    "SELECT id, started_at, blocked_until, reason, endpoint FROM app.spotify_quota_blocks "
                    "WHERE blocked_until > :now ORDER BY id"
                ),
                {"now": now},
            )
        ).all()
        for row in await connection.execute(
            text(
                f"SELECT sc.user_id, {_NAME} AS name, sc.consecutive_errors, sc.error_message, "
                "sc.last_poll_completed_at FROM app.sync_checkpoints sc JOIN app.users u ON u.id = sc.user_id "
                "WHERE sc.status = 'error' AND sc.consecutive_errors >= :n"
            ),
            {"n": settings.notify_poll_failures},
        ):
            last = row.last_poll_completed_at
            events.append(
                Event(
                    f"poll_failures:{row.user_id}:{last.isoformat() if last else 'never'}",
                    "poll_failures",
                    row.user_id,
                    f"Polling {row.name} has failed {row.consecutive_errors} times in a row",
                    f"The last {row.consecutive_errors} polls of {row.name} failed"
                    + (f" (last success {_when(last)})" if last else " (none has succeeded yet)")
                    + f": {redact_text(row.error_message or 'no message')}. The collector keeps retrying; Spotify "
                    "keeps only the last 50 plays. Details: admin UI → Jobs.",
                )
            )
        for row in await connection.execute(
            text(
                "SELECT j.id, j.user_id, j.original_filename, j.error_message, j.finished_at, "
                f"{_NAME} AS name FROM app.import_jobs j JOIN app.users u ON u.id = j.user_id "
                "WHERE j.status = 'error' AND j.finished_at > :since ORDER BY j.id"
            ),
            {"since": now - IMPORT_FAILURES_SINCE},
        ):
            file_name = row.original_filename or f"import #{row.id}"
            events.append(
                Event(
                    f"import_failed:{row.id}",
                    "import_failed",
                    row.user_id,
                    f"Import of {file_name} failed",
                    f"The import of {file_name} for {row.name} (job #{row.id}) failed and nothing of it was kept: "
                    f"{redact_text(row.error_message or 'no message')}",
                )
            )
    if blocks:
        state = await budget_state(engine, BudgetPolicy.from_settings(settings), now)
        for block in blocks:
            hours = (block.blocked_until - now).total_seconds() / 3600
            events.append(
                Event(
                    f"quota_exhausted:{block.id}",
                    "quota_exhausted",
                    None,
                    f"Spotify quota exhausted until {_when(block.blocked_until)}",
                    f"Spotify stopped this app's requests ({block.reason or 'a long Retry-After'} on "
                    f"{block.endpoint or 'a request'}) at {_when(block.started_at)}. No Spotify request is sent "
                    f"until {_when(block.blocked_until)} (in {hours:.1f} h); polling resumes by itself then. "
                    f"Requests in the last 24 h: {state.used} of the budget's {state.per_day} "
                    "(SPOTIFY_REQUEST_BUDGET). Spotify keeps only the last 50 plays of each user meanwhile.",
                )
            )
    return events


async def record(engine: AsyncEngine, settings: Settings, events: Sequence[Event]) -> list[Event]:
    """Insert what is new (by key); returns the new events, each logged once."""
    if not events:
        return []
    status = "pending" if settings.notify_urls else "unconfigured"
    new: list[Event] = []
    async with engine.begin() as connection:
        for event in events:
            inserted = await connection.scalar(
                text(
                    "INSERT INTO app.notifications (event_key, kind, user_id, title, body, status) "
                    "VALUES (:key, :kind, :user_id, :title, :body, :status) "
                    "ON CONFLICT (event_key) DO NOTHING RETURNING id"
                ),
                {
                    "key": event.key,
                    "kind": event.kind,
                    "user_id": event.user_id,
                    "title": event.title,
                    "body": event.body,
                    "status": status,
                },
            )
            if inserted is not None:
                new.append(event)
    for event in new:
        logger.warning(
            "notification (%s): %s — %s",
            event.kind,
            event.title,
            event.body,
            extra={"ctx": {"notification": event.kind, "event_key": event.key}},
        )
    return new


# --------------------------------------------------------------------------------------------------
# Delivering
# --------------------------------------------------------------------------------------------------
def send_with_apprise(url: str, title: str, body: str) -> str | None:
    """One message to one Apprise URL (blocking: run it in a thread)."""
    import apprise  # imported when first needed: ~0.2 s, and most processes never send

    with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
        client = apprise.Apprise()
        if not client.add(url):
            return "not a valid Apprise URL (check NOTIFY_URLS; see https://github.com/caronc/apprise/wiki)"
        if client.notify(title=title, body=body):
            return None
        detail = " ".join(line.split(" - ", 2)[-1] for line in captured.getvalue().splitlines() if line.strip())
    return redact_text(detail or "delivery failed")[:500]


_CLAIM = text(
    """
    WITH picked AS (
        SELECT id FROM app.notifications
        WHERE status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= :now)
        ORDER BY id LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE app.notifications n SET next_attempt_at = :lease
    FROM picked WHERE n.id = picked.id
    RETURNING n.id, n.title, n.body, n.attempts, n.delivered
    """
)


async def deliver_pending(
    engine: AsyncEngine, settings: Settings, now: datetime, *, send: Sender = send_with_apprise, limit: int = 20
) -> int:
    """Send what is pending to every URL that has not taken it yet. Returns how many were completely sent."""
    urls = [url.get_secret_value() for url in settings.notify_urls]
    if not urls:
        return 0
    async with engine.begin() as connection:
        rows = (await connection.execute(_CLAIM, {"now": now, "lease": now + LEASE, "limit": limit})).all()
    sent = 0
    for row in rows:
        delivered: list[str] = list(row.delivered or [])
        problems: list[str] = []
        for position, url in enumerate(urls, start=1):
            if fingerprint(url) in delivered:
                continue
            problem = await asyncio.to_thread(send, url, row.title, row.body)
            if problem is None:
                delivered.append(fingerprint(url))
            else:
                problems.append(f"NOTIFY_URLS #{position}: {problem}")
        attempts = row.attempts + 1
        values: dict[str, Any] = {"id": row.id, "attempts": attempts, "delivered": json.dumps(delivered)}
        if not problems:
            values |= {"status": "sent", "sent_at": now, "next": None, "error": None}
            sent += 1
        else:
            failed = attempts >= MAX_ATTEMPTS
            values |= {
                "status": "failed" if failed else "pending",
                "sent_at": None,
                "next": None if failed else now + BACKOFF[min(attempts, len(BACKOFF)) - 1],
                "error": "; ".join(problems)[:1000],
            }
            logger.warning(
                "notification %s not delivered to every URL (attempt %d of %d): %s",
                row.id,
                attempts,
                MAX_ATTEMPTS,
                values["error"],
            )
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE app.notifications SET status = :status, attempts = :attempts, "
                    "delivered = CAST(:delivered AS jsonb), sent_at = :sent_at, next_attempt_at = :next, "
                    "last_error = :error WHERE id = :id"
                ),
                values,
            )
    return sent


class Notifier:
    """What the collector runs each cycle: find events, record the new ones, deliver what is pending."""

    def __init__(self, engine: AsyncEngine, settings: Settings, *, send: Sender = send_with_apprise) -> None:
        self.engine = engine
        self.settings = settings
        self.send = send

    async def run(self, now: datetime) -> list[Event]:
        new = await record(self.engine, self.settings, await find_events(self.engine, self.settings, now))
        await deliver_pending(self.engine, self.settings, now, send=self.send)
        return new


async def send_test(settings: Settings, *, send: Sender = send_with_apprise) -> list[tuple[int, str | None]]:
    """A test message to every NOTIFY_URLS entry now (nothing recorded): (position, problem or None) each."""
    results = []
    for position, url in enumerate((url.get_secret_value() for url in settings.notify_urls), start=1):
        problem = await asyncio.to_thread(
            send,
            url,
            "spotify-mcp test notification",
            "Notifications from spotify-mcp reach you here. You will hear when a user must reconnect Spotify, a "
            "connection is about to expire, the Spotify quota is exhausted, polls keep failing or an import fails.",
        )
        results.append((position, problem))
    return results
