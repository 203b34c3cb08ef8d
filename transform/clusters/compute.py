"""Computing a window's clusters: read (`source`), featurise (`features`), fit (`fitting`), name (`naming`).

`compute_clusters()` computes any window on demand (the API calls it); `compute_standard_windows()` the three
standard windows from one read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import polars as pl

from transform.clusters.features import artist_plays_of
from transform.clusters.fitting import fit_window
from transform.clusters.model import K_RANGE, STANDARD_WINDOWS, TasteCluster, as_uuid
from transform.clusters.naming import name_clusters
from transform.clusters.source import Source, Window, aggregate, load_audio_features, load_genres, load_listens


def cluster_window(
    window: Window,
    *,
    user_id: UUID,
    window_name: str,
    window_start: datetime,
    window_end: datetime,
    audio: pl.DataFrame,
    genres: pl.DataFrame,
    source: Source,
    computed_at: datetime,
) -> list[TasteCluster]:
    """One window's clusters: fitted, then named. Empty when it has fewer than 4 artists with plays."""
    artist_plays = artist_plays_of(window)
    if artist_plays.height < min(K_RANGE) + 1:
        return []
    fit = fit_window(window, artist_plays, audio, genres)
    if fit is None:
        return []
    return name_clusters(
        window,
        artist_plays,
        fit,
        user_id=user_id,
        window_name=window_name,
        window_start=window_start,
        window_end=window_end,
        source=source,
        computed_at=computed_at,
    )


def compute_clusters(
    database_url: str,
    user_id: UUID | str,
    start: datetime | None,
    end: datetime,
    *,
    window_name: str = "custom",
) -> list[TasteCluster]:
    """Taste clusters of `user_id`'s music listens with `start <= played_at < end` (start None = all time).

    Reads marts (fct_plays, dim_*, agg_daily_track_plays) through DuckDB; writes nothing. Empty when the window
    has fewer than 4 artists with plays."""
    user = as_uuid(user_id)
    source = Source(database_url)
    try:
        load_listens(source, user, start, end)
        window = aggregate(source.connection, None)
        if window is None:
            return []
        audio = load_audio_features(source, user)
        genres = load_genres(source, user)
        window_start = start if start is not None else datetime.fromtimestamp(window.first_epoch, UTC)
        return cluster_window(
            window,
            user_id=user,
            window_name=window_name,
            window_start=window_start,
            window_end=end,
            audio=audio,
            genres=genres,
            source=source,
            computed_at=datetime.now(UTC),
        )
    finally:
        source.close()


def compute_standard_windows(
    database_url: str, user_id: UUID | str, *, now: datetime | None = None
) -> list[TasteCluster]:
    """The clusters of the three standard windows (last 90 days, last 365 days, all time), one read."""
    user = as_uuid(user_id)
    end = now or datetime.now(UTC)
    source = Source(database_url)
    try:
        load_listens(source, user, None, end)
        audio: pl.DataFrame | None = None
        genres = pl.DataFrame()
        computed_at = datetime.now(UTC)
        result: list[TasteCluster] = []
        for window_name, length in STANDARD_WINDOWS.items():
            window = aggregate(source.connection, int((end - length).timestamp()) if length is not None else None)
            if window is None:
                continue
            if audio is None:
                audio = load_audio_features(source, user)
                genres = load_genres(source, user)
            window_start = end - length if length is not None else datetime.fromtimestamp(window.first_epoch, UTC)
            result += cluster_window(
                window,
                user_id=user,
                window_name=window_name,
                window_start=window_start,
                window_end=end,
                audio=audio,
                genres=genres,
                source=source,
                computed_at=computed_at,
            )
        return result
    finally:
        source.close()
