"""What the collector is doing about Spotify's limits, for the admin UI and the ops tools: the installation's
request budget (used, remaining, per purpose, requests per day, a stop by Spotify), the name-resolution backlog
(resolved / ambiguous / not found / pending), and the notifications sent to the owner."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from core.settings import Settings
from core.spotify.budget import BudgetPolicy, budget_state


class SpotifyBudget(BaseModel):
    per_day: int = Field(description="SPOTIFY_REQUEST_BUDGET: requests per rolling 24 h for the whole installation.")
    used_24h: int = Field(description="Requests sent in the last 24 h, by every process.")
    remaining: int
    by_purpose: dict[str, int] = Field(description="Requests of the last 24 h per purpose (token, polling, …).")
    limits: dict[str, int] = Field(description="Per purpose: the 24 h count at which it stops (priorities).")
    resets_at: datetime | None = Field(
        description="When the oldest counted request leaves the 24 h window (one more request becomes possible)."
    )
    blocked_until: datetime | None = Field(description="Spotify stopped this app's requests until then (quota).")
    blocked_reason: str | None
    blocked_since: datetime | None


class DayCount(BaseModel):
    day: date
    requests: int


class NameResolution(BaseModel):
    resolved: int
    ambiguous: int
    not_found: int
    pending: int
    searched: int = Field(description="Spotify searches spent on it so far (each name is looked up once).")


class Notification(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class CollectorStatus(BaseModel):
    budget: SpotifyBudget
    requests_per_day: list[DayCount] = Field(description="Requests per UTC day, last 7 days.")
    name_resolution: NameResolution
    notifications: list[Notification]
    notifications_configured: bool


async def spotify_budget(connection: AsyncConnection, settings: Settings) -> SpotifyBudget:
    state = await budget_state(connection, BudgetPolicy.from_settings(settings))
    return SpotifyBudget(
        per_day=state.per_day,
        used_24h=state.used,
        remaining=state.remaining,
        by_purpose=state.by_purpose,
        limits=state.ceilings,
        resets_at=state.next_release_at,
        blocked_until=state.blocked_until,
        blocked_reason=state.blocked_reason,
        blocked_since=state.blocked_since,
    )


async def name_resolution(connection: AsyncConnection) -> NameResolution:
    row = (
        await connection.execute(
            text(
                """
                SELECT count(*) FILTER (WHERE status = 'resolved') AS resolved,
                       count(*) FILTER (WHERE status = 'ambiguous') AS ambiguous,
                       count(*) FILTER (WHERE status = 'not_found') AS not_found,
                       count(*) FILTER (WHERE method = 'search') AS searched,
                       (SELECT count(*) FROM raw.tracks t WHERE t.track_id LIKE 'local:%'
                          AND NOT EXISTS (SELECT 1 FROM raw.track_resolutions r
                                          WHERE r.local_track_id = t.track_id)) AS pending
                FROM raw.track_resolutions
                """
            )
        )
    ).one()
    return NameResolution(
        resolved=row.resolved, ambiguous=row.ambiguous, not_found=row.not_found, pending=row.pending,
        searched=row.searched,
    )  # fmt: skip


async def collector_status(
    connection: AsyncConnection, settings: Settings, *, notifications: int = 10
) -> CollectorStatus:
    days = await connection.execute(
        text(
            "SELECT (requested_at AT TIME ZONE 'UTC')::date AS day, count(*) AS requests FROM app.spotify_requests "
            "WHERE requested_at > now() - interval '7 days' GROUP BY 1 ORDER BY 1"
        )
    )
    sent = await connection.execute(
        text(
            "SELECT id, kind, title, body, status, attempts, last_error, created_at, sent_at FROM app.notifications "
            "ORDER BY created_at DESC, id DESC LIMIT :limit"
        ),
        {"limit": notifications},
    )
    return CollectorStatus(
        budget=await spotify_budget(connection, settings),
        requests_per_day=[DayCount(day=row.day, requests=row.requests) for row in days],
        name_resolution=await name_resolution(connection),
        notifications=[Notification.model_validate(dict(row)) for row in sent.mappings()],
        notifications_configured=bool(settings.notify_urls),
    )
