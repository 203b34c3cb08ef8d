"""The one-call analysis of a window (`history.taste_summary`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from core.marts.listening import minutes as _minutes
from serve.tools import repository as repo
from serve.tools.clusters import cluster_model, clusters_of
from serve.tools.listening import heatmap_of, repeat_stats
from serve.tools.models import (
    AudioProfile,
    TasteSummary,
    TasteSummaryArgs,
)
from serve.tools.registry import ToolContext
from serve.tools.scope import (
    artist_counts,
    coverage_of,
    covers_all_history,
    open_scope,
    reads_all_time_marts,
    track_counts,
    window_of,
)
from serve.tools.windows import window_model


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
        clusters=[cluster_model(row) for row in cluster_rows] or None,
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
