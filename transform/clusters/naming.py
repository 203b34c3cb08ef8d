"""Naming: clusters numbered by plays (stable across runs), their top artists and tracks, what sets each apart
(the features furthest from the overall mean) and a label in words."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import numpy as np
import numpy.typing as npt
import polars as pl

from transform.clusters.features import Features
from transform.clusters.fitting import Fit
from transform.clusters.model import DAY_PARTS, TOP_N, TasteCluster
from transform.clusters.source import Source, Window, load_names


def describe(features: Features, member_rows: npt.NDArray[np.bool_]) -> tuple[dict[str, str], list[str]]:
    """What sets a cluster apart: the features whose cluster mean is furthest from the overall mean."""
    distinguishing: dict[str, str] = {}
    words: list[str] = []
    matrix = features.matrix
    delta = matrix[member_rows].mean(axis=0) - matrix.mean(axis=0)
    if features.feature_set == "genres":
        top = [features.names[index] for index in np.argsort(-delta, kind="stable")[:3] if delta[index] > 0]
        if top:
            distinguishing["genres"] = ", ".join(top)
            words.append(" · ".join(top[:2]))
    elif features.feature_set == "audio_features":
        spread = matrix.std(axis=0)
        # A feature the same for every artist (up to rounding in the play-weighted means) sets no cluster apart.
        varies = spread > 1e-9 * (1.0 + np.abs(matrix.mean(axis=0)))
        standardised = np.where(varies, delta / np.where(varies, spread, 1.0), 0.0)
        for index in np.argsort(-np.abs(standardised), kind="stable")[:3]:
            if abs(standardised[index]) >= 0.3:
                level = "high" if standardised[index] > 0 else "low"
                distinguishing[features.names[index]] = level
                words.append(f"{level} {features.names[index]}")
    else:
        # Behaviour columns are standardised: a delta of 0.1 is a tenth of a standard deviation (block-scaled).
        parts = len(DAY_PARTS)
        part = int(np.argmax(delta[:parts]))
        if delta[part] > 0:
            distinguishing["hour_profile"] = DAY_PARTS[part][0]
            words.append(DAY_PARTS[part][0])
        for offset, key, high, low in (
            (0, "weekday", "weekend", "weekdays"),
            (1, "repeat", "on repeat", "exploring"),
            (2, "skips", "often skipped", "rarely skipped"),
        ):
            value = delta[parts + offset]
            if abs(value) > 0.1:
                distinguishing[key] = high if value > 0 else low
                if key == "weekday":
                    words.append(distinguishing[key])
    return distinguishing, words


def name_clusters(
    window: Window,
    artist_plays: pl.DataFrame,
    fit: Fit,
    *,
    user_id: UUID,
    window_name: str,
    window_start: datetime,
    window_end: datetime,
    source: Source,
    computed_at: datetime,
) -> list[TasteCluster]:
    """The fitted clusters numbered by plays, each with its top artists and tracks, what sets it apart and a label."""
    features, k, assigned, score = fit.features, fit.k, fit.assigned, fit.score
    cluster_of = dict(zip(features.artist_ids, assigned.tolist(), strict=True))
    clustered = pl.DataFrame({"artist_id": features.artist_ids, "cluster": assigned})

    plays = artist_plays.join(clustered, on="artist_id", how="inner")
    total = int(plays["plays"].sum())
    per_cluster = plays.group_by("cluster").agg(pl.col("plays").sum())
    plays_per_cluster = dict(per_cluster.iter_rows())
    # Number clusters by plays (desc), then by their smallest artist id: stable across runs.
    order = sorted(
        range(k),
        key=lambda c: (-plays_per_cluster.get(c, 0), min((a for a, v in cluster_of.items() if v == c), default="")),
    )
    renumber = {old: new for new, old in enumerate(order)}

    top_artist_frame = (
        plays.select("cluster", "artist_id", "plays")
        .sort(["cluster", "plays", "artist_id"], descending=[False, True, False])
        .group_by("cluster", maintain_order=True)
        .head(TOP_N)
    )
    top_track_frame = (
        window.tracks.filter(pl.col("plays") > 0)
        .join(clustered, on="artist_id", how="inner")
        .group_by(["cluster", "track_id"])
        .agg(pl.col("plays").sum())
        .sort(["cluster", "plays", "track_id"], descending=[False, True, False])
        .group_by("cluster", maintain_order=True)
        .head(TOP_N)
    )
    artist_names, track_names = load_names(
        source, top_artist_frame["artist_id"].to_list(), top_track_frame["track_id"].to_list()
    )

    clusters: list[TasteCluster] = []
    for old in order:
        members = assigned == old
        top_artists = [
            {"artist_id": artist, "name": artist_names.get(artist, artist), "plays": int(count)}
            for _, artist, count in top_artist_frame.filter(pl.col("cluster") == old).iter_rows()
        ]
        top_tracks = [
            {
                "track_id": track,
                "name": track_names.get(track, (None, None))[0],
                "artist_name": track_names.get(track, (None, None))[1],
                "plays": int(count),
            }
            for _, track, count in top_track_frame.filter(pl.col("cluster") == old).iter_rows()
        ]
        member_plays = {
            artist: int(count)
            for artist, count in plays.filter(pl.col("cluster") == old).select("artist_id", "plays").iter_rows()
        }
        distinguishing, words = describe(features, members)
        lead = list(dict.fromkeys(str(artist["name"]) for artist in top_artists))[:2]
        label = (" · ".join(words[:2]) + " — " if words else "") + " & ".join(lead)
        cluster_plays = int(plays_per_cluster.get(old, 0))
        clusters.append(
            TasteCluster(
                user_id=user_id,
                window_name=window_name,
                window_start=window_start,
                window_end=window_end,
                cluster_id=renumber[old],
                label=label or f"cluster {renumber[old] + 1}",
                share_of_plays=round(cluster_plays / total, 6) if total else 0.0,
                plays=cluster_plays,
                top_artists=top_artists,
                top_tracks=top_tracks,
                distinguishing=distinguishing,
                feature_set=features.feature_set,
                k=k,
                quality_score=round(score, 6),
                computed_at=computed_at,
                member_plays=member_plays,
            )
        )
    return clusters
