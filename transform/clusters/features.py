"""Features: one matrix per window, from the first feature set the data allows (audio features, genres, behaviour)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import sparse  # type: ignore[import-untyped]
from sklearn.decomposition import TruncatedSVD
from sklearn.preprocessing import StandardScaler, normalize

from transform.clusters.model import (
    AUDIO_COLUMNS,
    DAY_PARTS,
    K_RANGE,
    MIN_FEATURE_COVERAGE,
    RANDOM_STATE,
    FeatureSet,
    FloatMatrix,
)
from transform.clusters.source import Window


@dataclass(frozen=True, slots=True)
class Features:
    feature_set: FeatureSet
    artist_ids: list[str]
    matrix: FloatMatrix
    names: list[str]  # column names, for "what sets it apart"


def artist_plays_of(window: Window) -> pl.DataFrame:
    """artist_id, plays of the artists with plays in the window, most played first."""
    return (
        window.tracks.group_by("artist_id")
        .agg(pl.col("plays").sum())
        .filter(pl.col("plays") > 0)
        .sort(["plays", "artist_id"], descending=[True, False])
    )


def audio_features(window: Window, audio: pl.DataFrame, artists: list[str]) -> Features | None:
    plays = window.tracks.filter(pl.col("plays") > 0).select("artist_id", "track_id", "plays")
    if audio.is_empty() or plays.is_empty():
        return None
    joined = plays.join(audio, on="track_id", how="inner")
    if int(joined["plays"].sum()) < MIN_FEATURE_COVERAGE * int(plays["plays"].sum()):
        return None
    # Play-weighted means per artist; a track without a value leaves its plays out of that feature's mean.
    means = []
    for column in AUDIO_COLUMNS:
        weight = pl.col("plays").filter(pl.col(column).is_not_null()).sum()
        means.append(pl.when(weight > 0).then((pl.col(column) * pl.col("plays")).sum() / weight).alias(column))
    per_artist = joined.group_by("artist_id").agg(means)
    frame = pl.DataFrame({"artist_id": artists}).join(per_artist, on="artist_id", how="inner")
    if frame.height < min(K_RANGE) + 1:
        return None
    matrix = frame.select(AUDIO_COLUMNS).fill_null(strategy="mean").fill_null(0.0).to_numpy().astype(np.float64)
    return Features("audio_features", frame["artist_id"].to_list(), matrix, list(AUDIO_COLUMNS))


def genre_features(artist_plays: pl.DataFrame, genres: pl.DataFrame, artists: list[str]) -> Features | None:
    total = int(artist_plays["plays"].sum())
    if genres.is_empty() or total == 0:
        return None
    with_genres = set(genres["artist_id"].unique().to_list())
    covered = int(artist_plays.filter(pl.col("artist_id").is_in(list(with_genres)))["plays"].sum())
    if covered < MIN_FEATURE_COVERAGE * total:
        return None
    kept = [artist for artist in artists if artist in with_genres]
    if len(kept) < min(K_RANGE) + 1:
        return None
    vocabulary = sorted(genres.filter(pl.col("artist_id").is_in(kept))["genre"].unique().to_list())
    column_of = {genre: index for index, genre in enumerate(vocabulary)}
    row_of = {artist: index for index, artist in enumerate(kept)}
    pairs = genres.filter(pl.col("artist_id").is_in(kept)).unique().sort(["artist_id", "genre"])
    rows = [row_of[artist] for artist in pairs["artist_id"].to_list()]
    columns = [column_of[genre] for genre in pairs["genre"].to_list()]
    matrix = np.zeros((len(kept), len(vocabulary)), dtype=np.float64)
    matrix[rows, columns] = 1.0
    idf = np.log((1 + len(kept)) / (1 + matrix.sum(axis=0))) + 1.0
    weighted = normalize(matrix * idf)
    return Features("genres", kept, np.asarray(weighted, dtype=np.float64), vocabulary)


def behaviour_features(window: Window, artists: list[str]) -> Features:
    """Co-listening, day-part and weekday profile, repeat intensity and skip rate per artist."""
    rows = pl.DataFrame({"artist_id": artists, "artist_row": np.arange(len(artists), dtype=np.int64)})

    # Day parts and weekend share (shares of each artist's listens).
    part_columns = [f"part_{index}" for index in range(len(DAY_PARTS))]
    profiles = rows.join(window.profiles, on="artist_id", how="left").sort("artist_row").fill_null(0)
    count = profiles["listens"].to_numpy().astype(np.float64)
    safe_count = np.maximum(count, 1.0)
    parts = profiles.select(part_columns).to_numpy().astype(np.float64) / safe_count[:, None]
    weekend = profiles["weekend"].to_numpy().astype(np.float64) / safe_count
    skip_rate = profiles["skips"].to_numpy().astype(np.float64) / safe_count
    distinct_tracks = rows.join(
        window.tracks.group_by("artist_id").agg(pl.len().alias("tracks")), on="artist_id", how="left"
    ).sort("artist_row")
    tracks_per_artist = distinct_tracks["tracks"].fill_null(1).to_numpy().astype(np.float64)
    repeat = np.log1p(count / tracks_per_artist)

    # Co-listening: artist × session incidence, tf-idf-like scaled, embedded by a truncated SVD.
    pairs = window.sessions.join(rows, on="artist_id", how="inner")
    artist_rows = pairs["artist_row"].to_numpy().astype(np.int64)
    sessions = pairs["session"].to_numpy().astype(np.int64)
    incidence = sparse.coo_matrix(
        (np.ones(len(artist_rows)), (artist_rows, sessions - 1)),
        shape=(len(artists), int(sessions.max()) if len(sessions) else 1),
    ).tocsr()
    incidence.data = np.ones_like(incidence.data)
    session_sizes = np.asarray(incidence.sum(axis=0)).ravel()
    incidence = incidence.multiply(1.0 / np.sqrt(np.maximum(session_sizes, 1.0))).tocsr()
    dims = max(1, min(8, len(artists) - 1, incidence.shape[1] - 1))
    if incidence.shape[1] > 1 and len(artists) > 2:
        embedding = TruncatedSVD(n_components=dims, random_state=RANDOM_STATE, algorithm="arpack").fit_transform(
            normalize(incidence)
        )
    else:
        embedding = np.zeros((len(artists), 1), dtype=np.float64)

    profile = np.column_stack([parts, weekend, repeat, skip_rate])
    scaled_profile = StandardScaler().fit_transform(profile)
    scaled_embedding = StandardScaler().fit_transform(embedding) if embedding.shape[1] else embedding
    # Both blocks weigh about the same whatever their width.
    matrix = np.column_stack(
        [
            scaled_profile / math.sqrt(profile.shape[1]),
            scaled_embedding / math.sqrt(max(1, scaled_embedding.shape[1])),
        ]
    )
    names = [name for name, _ in DAY_PARTS] + ["weekend", "repeat", "skip_rate"]
    names += [f"co_listening_{index}" for index in range(scaled_embedding.shape[1])]
    return Features("behaviour", artists, np.nan_to_num(matrix.astype(np.float64)), names)
