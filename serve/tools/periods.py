"""Two periods side by side (`history.compare_periods`), equal spans by default."""

from __future__ import annotations

from uuid import UUID

from core.marts import compare as comparing
from core.marts import windows as shared_windows
from core.marts.listening import minutes as _minutes
from serve.tools import repository as repo
from serve.tools.models import (
    ArtistMove,
    CompareArgs,
    Comparison,
    PeriodStats,
)
from serve.tools.registry import ToolContext
from serve.tools.scope import (
    Scope,
    artist_counts,
    coverage_of,
    open_scope,
    reads_all_time_marts,
)
from serve.tools.windows import Period, Span, resolve_span, window_model


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
