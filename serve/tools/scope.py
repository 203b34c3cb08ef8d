"""What every history answer starts from: the user and their zone (`Scope`), the window, freshness and
coverage, and the ranked lists the answers share."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from core.marts import windows as shared_windows
from core.marts.listening import minutes as _minutes
from core.marts.rankings import share as _share
from serve.tools import repository as repo
from serve.tools.errors import NoData, UnknownUser
from serve.tools.models import (
    ArtistCount,
    CoverageStats,
    Freshness,
    Gap,
    SourceCoverage,
    TrackCount,
    WindowArgs,
)
from serve.tools.registry import ToolContext
from serve.tools.windows import Span, resolve_span, user_zone

logger = logging.getLogger(__name__)

STANDARD_CLUSTER_WINDOWS = {90: "last_90_days", 365: "last_365_days"}


@dataclass(frozen=True, slots=True)
class Scope:
    """A user, their time zone, today there, the extent of their data and the freshness of the warehouse."""

    user_id: UUID
    zone: ZoneInfo
    today: date
    bounds: shared_windows.Bounds
    freshness: Freshness
    has_clusters: bool
    has_totals: bool


async def open_scope(context: ToolContext, user_id: UUID) -> Scope:
    found = await repo.context(context.session, user_id)
    if found.user is None:
        raise UnknownUser(f"no user with id {user_id}", details={"user_id": str(user_id)})
    if not found.has_marts:
        raise NoData(
            "no data yet: the warehouse has not been built; it is built after the first import or sync",
            details={"user_id": str(user_id), "reason": "warehouse_not_built"},
        )
    bounds = await repo.bounds(context.session, user_id)
    if bounds.first_date is None:
        raise NoData(
            "no listening history for this user yet: connect Spotify or import an export, then wait for the transform",
            details={"user_id": str(user_id), "reason": "no_history"},
        )
    zone = user_zone(found.user.timezone)
    freshness = _freshness(found.last_transform_at, bounds.latest_play_at)
    today = context.now.astimezone(zone).date()
    return Scope(user_id, zone, today, bounds, freshness, found.has_clusters, found.has_totals)


def _freshness(last_transform_at: datetime | None, latest_play_at: datetime | None) -> Freshness:
    if last_transform_at is None:
        note = "No transform run is recorded; listens collected since the warehouse was built are not counted yet."
    else:
        note = f"Warehouse rebuilt at {last_transform_at.isoformat()}; later listens are not counted yet."
    return Freshness(last_transform_at=last_transform_at, latest_play_at=latest_play_at, note=note)


def window_of(scope: Scope, args: WindowArgs) -> Span:
    return resolve_span(
        days=args.days,
        start=args.start,
        end=args.end,
        period=args.period,
        zone=scope.zone,
        today=scope.today,
        first_date=scope.bounds.first_date,
    )


def covers_all_history(scope: Scope, window: Span) -> bool:
    return shared_windows.covers_all(window, scope.bounds)


def reads_all_time_marts(scope: Scope, window: Span) -> bool:
    return shared_windows.reads_all_time_marts(window, scope.bounds, scope.has_totals)


async def coverage_of(context: ToolContext, scope: Scope, window: Span) -> CoverageStats:
    found = await repo.coverage(context.session, scope.user_id, window, scope.bounds.first_date)
    return CoverageStats(
        window_days=found.window_days,
        days_elapsed=found.days_elapsed,
        days_with_data=found.days_with_data,
        coverage_ratio=found.coverage_ratio,
        first_data_date=found.first_data_date,
        last_data_date=found.last_data_date,
        history_starts=found.history_starts,
        sources=[
            SourceCoverage(source=item.source, days_with_data=item.days_with_data, listens=item.listens)
            for item in found.sources
        ],
        largest_gaps=[
            Gap(start_date=gap.start_date, end_date=gap.end_date, days=gap.days) for gap in found.largest_gaps
        ],
        complete=found.complete,
        note=found.note,
    )


def artist_counts(rows: list[repo.ArtistRow], total_plays: int) -> list[ArtistCount]:
    return [
        ArtistCount(
            rank=rank,
            artist_id=row.artist_id,
            name=row.name,
            plays=row.plays,
            listening_minutes=_minutes(row.ms_played),
            share_of_plays=_share(row.plays, total_plays),
        )
        for rank, row in enumerate(rows, start=1)
    ]


def track_counts(rows: list[repo.TrackRow], total_plays: int) -> list[TrackCount]:
    return [
        TrackCount(
            rank=rank,
            track_id=row.track_id,
            name=row.name,
            artist_id=row.artist_id,
            artist_name=row.artist_name,
            plays=row.plays,
            listening_minutes=_minutes(row.ms_played),
            share_of_plays=_share(row.plays, total_plays),
        )
        for rank, row in enumerate(rows, start=1)
    ]
