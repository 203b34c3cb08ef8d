"""When and how much: the weekday × hour heatmap, repeat figures and data coverage of a window."""

from __future__ import annotations

from uuid import UUID

from core.marts import listening, rankings
from serve.tools import repository as repo
from serve.tools.models import (
    CoverageResult,
    Heatmap,
    HeatmapResult,
    RepeatRateResult,
    RepeatStats,
    WindowArgs,
)
from serve.tools.registry import ToolContext
from serve.tools.scope import (
    Scope,
    coverage_of,
    covers_all_history,
    open_scope,
    reads_all_time_marts,
    window_of,
)
from serve.tools.windows import Span, window_model


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
