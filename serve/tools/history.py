"""Handlers of the `history.*` tools: answers from the marts, each with its window, freshness and coverage."""

from __future__ import annotations

import asyncio
import importlib
import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.marts import compare as comparing
from core.marts import listening, rankings
from core.marts import windows as shared_windows
from core.marts.listening import minutes as _minutes
from core.marts.rankings import share as _share
from serve.tools import repository as repo
from serve.tools.errors import NoData, UnknownUser
from serve.tools.models import (
    ArtistCount,
    ArtistMove,
    AudioProfile,
    ClusterArtist,
    ClustersArgs,
    ClusterTrack,
    CompareArgs,
    Comparison,
    CoverageResult,
    CoverageStats,
    Freshness,
    Gap,
    Heatmap,
    HeatmapResult,
    LimitWindowArgs,
    PeriodStats,
    RepeatRateResult,
    RepeatStats,
    SourceCoverage,
    TasteCluster,
    TasteClusters,
    TasteSummary,
    TasteSummaryArgs,
    TopArtists,
    TopTracks,
    TrackCount,
    WindowArgs,
)
from serve.tools.registry import ToolContext
from serve.tools.windows import Period, Span, resolve_span, user_zone, window_model

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
    rows = await repo.coverage_days(context.session, scope.user_id, window)
    found = listening.summarize_coverage(rows, window, scope.bounds.first_date)
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


def repeat_stats(row: repo.RepeatRow) -> RepeatStats:
    figures = rankings.repeat_figures(
        row.plays,
        row.unique_tracks,
        row.tracks_played_once,
        row.max_plays_single_track,
        repeat_rate=row.repeat_rate or 0.0,
        top10_share=row.top10_share or 0.0,
    )
    return RepeatStats(
        plays=figures.plays,
        unique_tracks=figures.unique_tracks,
        repeat_rate=figures.repeat_rate,
        top10_share=figures.top10_share,
        tracks_played_once=figures.tracks_played_once,
        max_plays_single_track=figures.max_plays_single_track,
    )


async def heatmap_of(context: ToolContext, scope: Scope, window: Span) -> Heatmap:
    span = None if covers_all_history(scope, window) else window
    found = listening.summarize_heatmap(await repo.heatmap_cells(context.session, scope.user_id, span))
    return Heatmap(
        plays=found.plays,
        weekday_hour_plays=found.grid,
        weekday_totals=found.weekday_totals,
        hour_totals=found.hour_totals,
        peak_weekday=found.peak_weekday,
        peak_hour=found.peak_hour,
    )


async def repeat_of(context: ToolContext, scope: Scope, window: Span) -> RepeatStats:
    if covers_all_history(scope, window):
        row = await repo.repeat_all_time(context.session, scope.user_id)
        if row is not None:
            return repeat_stats(row)
    row = await repo.repeat_window(context.session, scope.user_id, window, all_time=reads_all_time_marts(scope, window))
    return repeat_stats(row)


def _cluster(row: dict[str, Any]) -> TasteCluster:
    return TasteCluster(
        cluster_id=int(row["cluster_id"]),
        label=str(row["label"]),
        share_of_plays=round(float(row["share_of_plays"]), 4),
        plays=int(row["plays"]),
        top_artists=[ClusterArtist.model_validate(item) for item in row.get("top_artists") or []],
        top_tracks=[ClusterTrack.model_validate(item) for item in row.get("top_tracks") or []],
        distinguishing=dict(row.get("distinguishing") or {}),
    )


def standard_cluster_window(scope: Scope, window: Span) -> str | None:
    if covers_all_history(scope, window) or window.label == Period.all_time.value:
        return "all_time"
    if window.end_date == scope.today:
        return STANDARD_CLUSTER_WINDOWS.get(window.days)
    return None


async def on_demand_clusters(context: ToolContext, scope: Scope, window: Span) -> list[dict[str, Any]] | None:
    """Clusters for any window from the transform's Python API (`transform.clusters.compute_clusters`, DuckDB
    over the marts, k-means), run in a worker thread. None when it is unavailable or fails."""
    try:
        # In a worker thread: the first import (DuckDB, polars, scikit-learn) takes seconds, and on the event loop
        # it would stall every other request meanwhile.
        module = await asyncio.to_thread(importlib.import_module, "transform.clusters")
    except ImportError:
        return None
    compute = getattr(module, "compute_clusters", None)
    engine = context.session.bind
    if compute is None or not isinstance(engine, AsyncEngine):
        return None
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    end = min(window.end, context.now)
    try:
        found = await asyncio.to_thread(compute, url, scope.user_id, window.start, end, window_name="custom")
    except Exception:  # the optional on-demand path must never turn a tool answer into a 500
        logger.exception("on-demand clustering failed")
        return None
    rows: list[dict[str, Any]] = []
    for item in found or []:
        as_dict = getattr(item, "as_dict", None)
        rows.append(dict(as_dict()) if callable(as_dict) else dict(item))
    return rows


async def clusters_of(
    context: ToolContext, scope: Scope, window: Span, *, on_demand: bool
) -> tuple[str | None, list[dict[str, Any]]]:
    """Precomputed clusters of a standard window (the mart), else, when `on_demand`, computed now."""
    name = standard_cluster_window(scope, window)
    if name is not None and scope.has_clusters:
        try:
            async with context.session.begin_nested():
                rows = await repo.clusters(context.session, scope.user_id, name)
        except DBAPIError:
            logger.warning("taste clusters mart unreadable", exc_info=True)
            rows = []
        if rows:
            return name, rows
    if not on_demand:
        return None, []
    return None, await on_demand_clusters(context, scope, window) or []


# ----- handlers -------------------------------------------------------------------------------------


async def taste_summary(context: ToolContext, args: TasteSummaryArgs, user_id: UUID) -> TasteSummary:
    scope = await open_scope(context, user_id)
    window = window_of(scope, args)
    session = context.session
    from_totals = reads_all_time_marts(scope, window)
    summary = await repo.window_summary(session, user_id, window, args.limit, all_time=from_totals)
    totals = await repo.totals(session, user_id, window)
    if covers_all_history(scope, window) and (all_time := await repo.repeat_all_time(session, user_id)) is not None:
        repeat = repeat_stats(all_time)
    else:
        repeat = repeat_stats(
            repo.RepeatRow(
                plays=summary.plays,
                unique_tracks=summary.unique_tracks,
                repeat_rate=(1 - summary.unique_tracks / summary.plays) if summary.plays else None,
                top10_share=(summary.top10_plays / summary.plays) if summary.plays else None,
                tracks_played_once=summary.tracks_played_once,
                max_plays_single_track=summary.max_plays_single_track,
            )
        )
    audio = await repo.audio_profile(session, user_id, window, all_time=from_totals)
    _, cluster_rows = await clusters_of(context, scope, window, on_demand=False)
    return TasteSummary(
        window=window_model(window),
        freshness=scope.freshness,
        coverage=await coverage_of(context, scope, window),
        window_start=window.start,
        window_end=window.end,
        plays=summary.plays,
        unique_tracks=summary.unique_tracks,
        unique_artists=summary.unique_artists,
        listening_minutes=_minutes(totals.ms_played),
        top_artists=artist_counts(summary.top_artists, summary.plays),
        top_tracks=track_counts(summary.top_tracks, summary.plays),
        repeat_stats=repeat,
        heatmap=await heatmap_of(context, scope, window),
        audio_profile=_audio(audio),
        clusters=[_cluster(row) for row in cluster_rows] or None,
    )


def _audio(row: dict[str, Any] | None) -> AudioProfile | None:
    if row is None:
        return None

    def value(key: str) -> float | None:
        found = row.get(key)
        return None if found is None else round(float(found), 4)

    return AudioProfile(
        tracks_with_features=int(row["tracks"]),
        share_of_plays_with_features=value("share") or 0.0,
        avg_energy=value("avg_energy"),
        median_energy=value("median_energy"),
        avg_danceability=value("avg_danceability"),
        median_danceability=value("median_danceability"),
        avg_valence=value("avg_valence"),
        median_valence=value("median_valence"),
        avg_tempo=value("avg_tempo"),
        median_tempo=value("median_tempo"),
    )


async def top_artists(context: ToolContext, args: LimitWindowArgs, user_id: UUID) -> TopArtists:
    scope = await open_scope(context, user_id)
    window = window_of(scope, args)
    totals = await repo.totals(context.session, user_id, window)
    rows = await repo.top_artists(
        context.session, user_id, window, args.limit, all_time=reads_all_time_marts(scope, window)
    )
    return TopArtists(
        window=window_model(window),
        freshness=scope.freshness,
        coverage=await coverage_of(context, scope, window),
        plays=totals.plays,
        artists=artist_counts(rows, totals.plays),
    )


async def top_tracks(context: ToolContext, args: LimitWindowArgs, user_id: UUID) -> TopTracks:
    scope = await open_scope(context, user_id)
    window = window_of(scope, args)
    totals = await repo.totals(context.session, user_id, window)
    rows = await repo.top_tracks(
        context.session, user_id, window, args.limit, all_time=reads_all_time_marts(scope, window)
    )
    return TopTracks(
        window=window_model(window),
        freshness=scope.freshness,
        coverage=await coverage_of(context, scope, window),
        plays=totals.plays,
        tracks=track_counts(rows, totals.plays),
    )


async def listening_heatmap(context: ToolContext, args: WindowArgs, user_id: UUID) -> HeatmapResult:
    scope = await open_scope(context, user_id)
    window = window_of(scope, args)
    return HeatmapResult(
        window=window_model(window),
        freshness=scope.freshness,
        coverage=await coverage_of(context, scope, window),
        heatmap=await heatmap_of(context, scope, window),
    )


async def repeat_rate(context: ToolContext, args: WindowArgs, user_id: UUID) -> RepeatRateResult:
    scope = await open_scope(context, user_id)
    window = window_of(scope, args)
    return RepeatRateResult(
        window=window_model(window),
        freshness=scope.freshness,
        coverage=await coverage_of(context, scope, window),
        repeat_stats=await repeat_of(context, scope, window),
    )


async def coverage(context: ToolContext, args: WindowArgs, user_id: UUID) -> CoverageResult:
    scope = await open_scope(context, user_id)
    window = window_of(scope, args)
    return CoverageResult(
        window=window_model(window), freshness=scope.freshness, coverage=await coverage_of(context, scope, window)
    )


async def _period_stats(context: ToolContext, scope: Scope, window: Span) -> PeriodStats:
    summary = await repo.window_summary(
        context.session, scope.user_id, window, 1, all_time=reads_all_time_marts(scope, window)
    )
    totals = await repo.totals(context.session, scope.user_id, window)
    listening_minutes = _minutes(totals.ms_played)
    return PeriodStats(
        window=window_model(window),
        plays=summary.plays,
        listening_minutes=listening_minutes,
        unique_tracks=summary.unique_tracks,
        unique_artists=summary.unique_artists,
        plays_per_day=comparing.per_day(summary.plays, window),
        minutes_per_day=comparing.per_day(listening_minutes, window),
        coverage=await coverage_of(context, scope, window),
    )


def compared_spans(scope: Scope, args: CompareArgs) -> tuple[Span, Span, bool]:
    """The period and the one it is compared with, and whether one was cut so both have the same length.

    Default period: this month. Default comparison: the one just before, to the same day when the period is under
    way (`preceding`). With `equal_spans` (default) the longer is cut to its first N days, N the shorter's length,
    so this month on the 5th meets the first 5 days of last month, not all of it."""
    explicit = args.start is not None or args.end is not None
    period = args.period if (args.period is not None or explicit) else Period.this_month
    first = resolve_span(
        days=None,
        start=args.start,
        end=args.end,
        period=period,
        zone=scope.zone,
        today=scope.today,
        first_date=scope.bounds.first_date,
    )
    if args.compare_to is not None or args.compare_start is not None or args.compare_end is not None:
        second = resolve_span(
            days=None,
            start=args.compare_start,
            end=args.compare_end,
            period=args.compare_to,
            zone=scope.zone,
            today=scope.today,
            first_date=scope.bounds.first_date,
            field_prefix="compare_",
        )
    else:
        second = shared_windows.preceding(period, first)
    if not args.equal_spans:
        return first, second, False
    cut_first, cut_second = shared_windows.equal_spans(first, second)
    return cut_first, cut_second, (cut_first, cut_second) != (first, second)


async def compare_periods(context: ToolContext, args: CompareArgs, user_id: UUID) -> Comparison:
    scope = await open_scope(context, user_id)
    first, second, cut = compared_spans(scope, args)
    stats_a = await _period_stats(context, scope, first)
    stats_b = await _period_stats(context, scope, second)
    plays_a = await repo.artist_plays(context.session, user_id, first, all_time=reads_all_time_marts(scope, first))
    plays_b = await repo.artist_plays(context.session, user_id, second, all_time=reads_all_time_marts(scope, second))
    moves = comparing.movers(plays_a, plays_b, args.limit)
    candidates = comparing.new_artist_candidates(plays_a)
    known = await repo.artists_played_before(context.session, user_id, candidates, first.start_date)
    new = [artist for artist in candidates if artist not in known][: args.limit]
    names = await repo.artist_names(context.session, user_id, sorted({move.artist_id for move in moves} | set(new)))
    movers = [
        ArtistMove(
            artist_id=move.artist_id,
            name=names.get(move.artist_id),
            plays=move.plays,
            compare_plays=move.compare_plays,
            change=move.change,
            rank=move.rank,
            compare_rank=move.compare_rank,
        )
        for move in moves
    ]
    new_rows = [repo.ArtistRow(artist, plays_a[artist][0], plays_a[artist][1], names.get(artist)) for artist in new]
    return Comparison(
        period=stats_a,
        compare_to=stats_b,
        equal_spans=first.days == second.days,
        spans_note=comparing.spans_note(first, second, cut=cut),
        plays_change=stats_a.plays - stats_b.plays,
        plays_change_pct=comparing.pct(stats_a.plays, stats_b.plays),
        minutes_change=round(stats_a.listening_minutes - stats_b.listening_minutes, 1),
        minutes_change_pct=comparing.pct(stats_a.listening_minutes, stats_b.listening_minutes),
        top_movers=movers,
        new_artists=artist_counts(new_rows, stats_a.plays),
        freshness=scope.freshness,
    )


async def taste_clusters(context: ToolContext, args: ClustersArgs, user_id: UUID) -> TasteClusters:
    scope = await open_scope(context, user_id)
    window = window_of(scope, args)
    name, rows = await clusters_of(context, scope, window, on_demand=True)
    first = rows[0] if rows else {}
    if rows:
        note = f"{len(rows)} clusters of {first.get('feature_set')} features; labels are generated, not Spotify's."
    else:
        note = (
            "No clusters for this window: too few artists with plays, or clustering is not available yet. "
            "Precomputed windows: days=90, days=365 and period=all_time (after the transform has run)."
        )
    quality = first.get("quality_score")
    return TasteClusters(
        window=window_model(window),
        freshness=scope.freshness,
        coverage=await coverage_of(context, scope, window),
        window_name=name,
        feature_set=first.get("feature_set"),
        k=int(first["k"]) if first.get("k") is not None else (len(rows) or None),
        quality_score=None if quality is None else round(float(quality), 4),
        computed_at=first.get("computed_at"),
        clusters=[_cluster(row) for row in rows],
        note=note,
    )
