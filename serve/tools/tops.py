"""The most played artists and tracks of a window."""

from __future__ import annotations

from uuid import UUID

from serve.tools import repository as repo
from serve.tools.models import (
    LimitWindowArgs,
    TopArtists,
    TopTracks,
)
from serve.tools.registry import ToolContext
from serve.tools.scope import (
    artist_counts,
    coverage_of,
    open_scope,
    reads_all_time_marts,
    track_counts,
    window_of,
)
from serve.tools.windows import window_model


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
