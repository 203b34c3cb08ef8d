"""Taste clusters: k-means over a user's artists, per time window (issue 5, spec §11).

Unit: the artists of the user's music listens in the window (an artist is the natural "taste" atom and gives
each cluster readable top artists). Every artist with plays in the window gets a cluster; the model is fitted on
the `MAX_FIT_ARTISTS` most played ones (weighted by plays) and the rest are assigned to the nearest centre.

Feature set, the first the data allows:
1. `audio_features` — when at least `MIN_FEATURE_COVERAGE` of the plays have Spotify audio features: the
   play-weighted mean of danceability, energy, valence, acousticness, instrumentalness, speechiness, liveness,
   tempo and loudness per artist.
2. `genres` — when that share of plays is by artists with genres: TF-IDF-weighted genre vectors.
3. `behaviour` — always available: co-listening (artists in the same listening session, gap > 30 min starts a
   new one, embedded by a truncated SVD of the artist × session matrix), the time-of-day and weekday profile,
   repeat intensity (plays per distinct track) and skip rate (listens under the play rule or flagged skipped).

k is chosen in 3–6 by the highest silhouette score (ties → smaller k); that score is the cluster's
`quality_score`. Deterministic: inputs sorted, fixed `random_state`, clusters numbered by plays (desc).

Feature frames come from PostgreSQL through DuckDB's postgres extension (attached read-only) into polars
(DESIGN §4). `compute_clusters()` computes any window on demand (the API calls it); `refresh_standard_windows()`
writes the three standard windows of every user to `ml.taste_clusters`, which dbt exposes as
`marts.fct_taste_clusters`.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal
from uuid import UUID

import duckdb
import duckdb_extensions
import numpy as np
import numpy.typing as npt
import polars as pl
import psycopg
from psycopg.types.json import Jsonb
from scipy import sparse  # type: ignore[import-untyped]
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler, normalize

from core.dburl import connection_fields, libpq_url

type FeatureSet = Literal["audio_features", "genres", "behaviour"]
type WindowName = str
type FloatMatrix = npt.NDArray[np.float64]

ML_SCHEMA: Final = "ml"
STANDARD_WINDOWS: Final[dict[str, timedelta | None]] = {
    "last_90_days": timedelta(days=90),
    "last_365_days": timedelta(days=365),
    "all_time": None,
}
K_RANGE: Final = range(3, 7)
MIN_FEATURE_COVERAGE: Final = 0.5
MAX_FIT_ARTISTS: Final = 400
SESSION_GAP_SECONDS: Final = 30 * 60
RANDOM_STATE: Final = 0
TOP_N: Final = 5
AUDIO_COLUMNS: Final = (
    "danceability",
    "energy",
    "valence",
    "acousticness",
    "instrumentalness",
    "speechiness",
    "liveness",
    "tempo",
    "loudness",
)
# Day parts by local hour (the heatmap's time zone).
DAY_PARTS: Final = (
    ("night", range(0, 5)),
    ("morning", range(5, 10)),
    ("midday", range(10, 14)),
    ("afternoon", range(14, 18)),
    ("evening", range(18, 22)),
    ("late night", range(22, 24)),
)

CREATE_TABLE_SQL: Final = f"""
create schema if not exists {ML_SCHEMA};
create table if not exists {ML_SCHEMA}.taste_clusters (
    user_id uuid not null,
    window_name text not null,
    window_start timestamptz not null,
    window_end timestamptz not null,
    cluster_id integer not null,
    label text not null,
    share_of_plays double precision not null,
    plays bigint not null,
    top_artists jsonb not null,
    top_tracks jsonb not null,
    distinguishing jsonb not null,
    feature_set text not null,
    k integer not null,
    quality_score double precision not null,
    computed_at timestamptz not null,
    primary key (user_id, window_name, cluster_id)
);
"""


@dataclass(frozen=True, slots=True)
class TasteCluster:
    """One cluster of one user's taste in one window (the columns of ml.taste_clusters)."""

    user_id: UUID
    window_name: str
    window_start: datetime
    window_end: datetime
    cluster_id: int
    label: str
    share_of_plays: float
    plays: int
    top_artists: list[dict[str, Any]]
    top_tracks: list[dict[str, Any]]
    distinguishing: dict[str, str]
    feature_set: FeatureSet
    k: int
    quality_score: float
    computed_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------------
# Reading: DuckDB attached read-only to PostgreSQL → polars
# --------------------------------------------------------------------------------------------------

_extension_lock = threading.Lock()
_extension_ready = False


def _duckdb_connection(database_url: str) -> duckdb.DuckDBPyConnection:
    global _extension_ready
    with _extension_lock:
        if not _extension_ready:
            # Installs the bundled postgres_scanner (no download; DESIGN §9).
            duckdb_extensions.import_extension("postgres_scanner")
            _extension_ready = True
    fields = connection_fields(database_url)
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")
    connection.execute("LOAD postgres_scanner")
    dsn = " ".join(
        f"{key}={_dsn_quote(str(value))}"
        for key, value in (
            ("host", fields.host),
            ("port", fields.port),
            ("user", fields.user),
            ("password", fields.password),
            ("dbname", fields.dbname),
        )
        if value != ""
    )
    connection.execute(f"ATTACH '{dsn.replace("'", "''")}' AS pg (TYPE postgres, READ_ONLY)")
    return connection


def _dsn_quote(value: str) -> str:
    if value and all(ch.isalnum() or ch in "._-/:" for ch in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _pg_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _postgres_query(connection: duckdb.DuckDBPyConnection, sql: str) -> pl.DataFrame:
    """Run `sql` inside PostgreSQL (filters and joins where the indexes are) and return it as polars."""
    return connection.execute(f"select * from postgres_query('pg', {_pg_literal(sql)})").pl()


def _load_listens(
    connection: duckdb.DuckDBPyConnection, user_id: UUID, start: datetime | None, end: datetime
) -> pl.DataFrame:
    start_sql = f"and played_at >= {_pg_literal(start.isoformat())}::timestamptz" if start is not None else ""
    sql = f"""
        select
            primary_artist_id as artist_id,
            track_id,
            extract(epoch from played_at)::bigint as played_epoch,
            local_hour::integer as local_hour,
            local_weekday::integer as local_weekday,
            (not counts_as_play or coalesce(skipped, false)) as is_skip
        from marts.fct_plays
        where user_id = {_pg_literal(str(user_id))}::uuid
            and content_kind = 'track'
            and primary_artist_id is not null
            and played_at < {_pg_literal(end.isoformat())}::timestamptz
            {start_sql}
    """
    return _postgres_query(connection, sql)


def _load_names(
    connection: duckdb.DuckDBPyConnection, artist_ids: Sequence[str], track_ids: Sequence[str]
) -> tuple[dict[str, str], dict[str, tuple[str | None, str | None]]]:
    artists: dict[str, str] = {}
    tracks: dict[str, tuple[str | None, str | None]] = {}
    if artist_ids:
        ids = ",".join(_pg_literal(artist_id) for artist_id in artist_ids)
        frame = _postgres_query(connection, f"select artist_id, name from marts.dim_artists where artist_id in ({ids})")
        artists = {row[0]: row[1] or row[0] for row in frame.iter_rows()}
    if track_ids:
        ids = ",".join(_pg_literal(track_id) for track_id in track_ids)
        frame = _postgres_query(
            connection,
            f"select track_id, name, primary_artist_name from marts.dim_tracks where track_id in ({ids})",
        )
        tracks = {row[0]: (row[1], row[2]) for row in frame.iter_rows()}
    return artists, tracks


def _has_rows(connection: duckdb.DuckDBPyConnection, sql: str) -> bool:
    return bool(_postgres_query(connection, f"select exists ({sql}) as present")["present"][0])


def _load_audio_features(connection: duckdb.DuckDBPyConnection, user_id: UUID) -> pl.DataFrame:
    if not _has_rows(connection, "select 1 from staging.stg_spotify_api__audio_features"):
        return pl.DataFrame()
    columns = ", ".join(f"features.{column}::double precision as {column}" for column in AUDIO_COLUMNS)
    sql = f"""
        select features.track_id, {columns}
        from staging.stg_spotify_api__audio_features as features
        where features.track_id in (
            select distinct track_id from marts.agg_daily_track_plays where user_id = {_pg_literal(str(user_id))}::uuid
        )
    """
    return _postgres_query(connection, sql)


def _load_genres(connection: duckdb.DuckDBPyConnection, user_id: UUID) -> pl.DataFrame:
    if not _has_rows(connection, "select 1 from marts.dim_artists where genres <> '[]'::jsonb"):
        return pl.DataFrame()
    sql = f"""
        select artists.artist_id, genre.value as genre
        from marts.dim_artists as artists
        cross join lateral jsonb_array_elements_text(artists.genres) as genre (value)
        where artists.artist_id in (
            select distinct primary_artist_id from marts.agg_daily_track_plays
            where user_id = {_pg_literal(str(user_id))}::uuid
        )
    """
    return _postgres_query(connection, sql)


# --------------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Features:
    feature_set: FeatureSet
    artist_ids: list[str]
    matrix: FloatMatrix
    names: list[str]  # column names, for "what sets it apart"


def _artist_plays(listens: pl.DataFrame) -> pl.DataFrame:
    return (
        listens.filter(~pl.col("is_skip"))
        .group_by("artist_id")
        .agg(pl.len().alias("plays"))
        .sort(["plays", "artist_id"], descending=[True, False])
    )


def _audio_features(listens: pl.DataFrame, audio: pl.DataFrame, artists: list[str]) -> _Features | None:
    plays = listens.filter(~pl.col("is_skip"))
    if audio.is_empty() or plays.is_empty():
        return None
    joined = plays.join(audio, on="track_id", how="inner")
    if joined.height < MIN_FEATURE_COVERAGE * plays.height:
        return None
    per_artist = joined.group_by("artist_id").agg([pl.col(column).mean() for column in AUDIO_COLUMNS])
    frame = pl.DataFrame({"artist_id": artists}).join(per_artist, on="artist_id", how="inner")
    if frame.height < min(K_RANGE) + 1:
        return None
    matrix = frame.select(AUDIO_COLUMNS).fill_null(strategy="mean").fill_null(0.0).to_numpy().astype(np.float64)
    return _Features("audio_features", frame["artist_id"].to_list(), matrix, list(AUDIO_COLUMNS))


def _genre_features(listens: pl.DataFrame, genres: pl.DataFrame, artists: list[str]) -> _Features | None:
    plays = listens.filter(~pl.col("is_skip"))
    if genres.is_empty() or plays.is_empty():
        return None
    with_genres = set(genres["artist_id"].unique().to_list())
    covered = plays.filter(pl.col("artist_id").is_in(list(with_genres))).height
    if covered < MIN_FEATURE_COVERAGE * plays.height:
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
    return _Features("genres", kept, np.asarray(weighted, dtype=np.float64), vocabulary)


def _behaviour_features(listens: pl.DataFrame, artists: list[str]) -> _Features:
    """Co-listening, day-part and weekday profile, repeat intensity and skip rate per artist."""
    rows = pl.DataFrame({"artist_id": artists, "artist_row": np.arange(len(artists), dtype=np.int64)})
    ordered = (
        listens.join(rows, on="artist_id", how="inner")
        .sort(["played_epoch", "artist_id", "track_id"])
        .with_columns(
            (pl.col("played_epoch").diff().fill_null(SESSION_GAP_SECONDS + 1) > SESSION_GAP_SECONDS)
            .cast(pl.Int64)
            .cum_sum()
            .alias("session")
        )
    )

    # Day parts and weekend share (shares of each artist's listens).
    part_of_hour = np.zeros(24, dtype=np.int64)
    for index, (_, part_hours) in enumerate(DAY_PARTS):
        for hour in part_hours:
            part_of_hour[hour] = index
    artist_rows = ordered["artist_row"].to_numpy().astype(np.int64)
    hours = ordered["local_hour"].to_numpy().astype(np.int64)
    weekdays = ordered["local_weekday"].to_numpy().astype(np.int64)
    skips = ordered["is_skip"].to_numpy().astype(np.float64)
    count = np.bincount(artist_rows, minlength=len(artists)).astype(np.float64)
    safe_count = np.maximum(count, 1.0)
    cells = artist_rows * len(DAY_PARTS) + part_of_hour[hours]
    parts = np.bincount(cells, minlength=len(artists) * len(DAY_PARTS)).astype(np.float64)
    parts = parts.reshape(len(artists), len(DAY_PARTS)) / safe_count[:, None]
    weekend = np.bincount(artist_rows, weights=(weekdays >= 6).astype(np.float64), minlength=len(artists))
    weekend /= safe_count
    skip_rate = np.bincount(artist_rows, weights=skips, minlength=len(artists)) / safe_count
    distinct_tracks = ordered.group_by("artist_row").agg(pl.col("track_id").n_unique().alias("tracks"))
    tracks_per_artist = np.ones(len(artists), dtype=np.float64)
    tracks_per_artist[distinct_tracks["artist_row"].to_numpy()] = distinct_tracks["tracks"].to_numpy()
    repeat = np.log1p(count / tracks_per_artist)

    # Co-listening: artist × session incidence, tf-idf-like scaled, embedded by a truncated SVD.
    sessions = ordered["session"].to_numpy().astype(np.int64)
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
    return _Features("behaviour", artists, np.nan_to_num(matrix.astype(np.float64)), names)


# --------------------------------------------------------------------------------------------------
# Clustering and description
# --------------------------------------------------------------------------------------------------


def _choose_k(matrix: FloatMatrix, weights: FloatMatrix) -> tuple[int, npt.NDArray[np.int64], KMeans, float]:
    best: tuple[int, npt.NDArray[np.int64], KMeans, float] | None = None
    distinct = len(np.unique(matrix.round(9), axis=0))
    for k in K_RANGE:
        if k >= min(len(matrix), distinct):
            break
        model = KMeans(n_clusters=k, random_state=RANDOM_STATE, n_init=4).fit(matrix, sample_weight=weights)
        labels = np.asarray(model.labels_, dtype=np.int64)
        if len(set(labels.tolist())) < 2:
            continue
        score = float(silhouette_score(matrix, labels))
        if best is None or score > best[3] + 1e-9:
            best = (k, labels, model, score)
    if best is None:
        raise _NotEnoughData
    return best


class _NotEnoughData(Exception):
    pass


def _describe(features: _Features, member_rows: npt.NDArray[np.bool_]) -> tuple[dict[str, str], list[str]]:
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
        standardised = delta / np.where(spread > 0, spread, 1.0)
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


def _cluster_listens(
    listens: pl.DataFrame,
    *,
    user_id: UUID,
    window_name: str,
    window_start: datetime,
    window_end: datetime,
    audio: pl.DataFrame,
    genres: pl.DataFrame,
    connection: duckdb.DuckDBPyConnection,
    computed_at: datetime,
) -> list[TasteCluster]:
    artist_plays = _artist_plays(listens)
    if artist_plays.height < min(K_RANGE) + 1:
        return []
    all_artists = sorted(artist_plays["artist_id"].to_list())
    fit_artists = sorted(artist_plays.head(MAX_FIT_ARTISTS)["artist_id"].to_list())
    features = (
        _audio_features(listens, audio, all_artists)
        or _genre_features(listens, genres, all_artists)
        or _behaviour_features(listens, all_artists)
    )
    plays_of = dict(artist_plays.iter_rows())
    row_of = {artist: index for index, artist in enumerate(features.artist_ids)}
    fit_rows = np.array([row_of[artist] for artist in fit_artists if artist in row_of], dtype=np.int64)
    if len(fit_rows) < min(K_RANGE) + 1:
        return []
    fit_matrix = features.matrix[fit_rows]
    fit_weights = np.array([float(plays_of[features.artist_ids[row]]) for row in fit_rows], dtype=np.float64)
    try:
        k, _, model, score = _choose_k(fit_matrix, fit_weights)
    except _NotEnoughData:
        return []
    assigned = np.asarray(model.predict(features.matrix), dtype=np.int64)
    cluster_of = dict(zip(features.artist_ids, assigned.tolist(), strict=True))

    plays = listens.filter(~pl.col("is_skip") & pl.col("artist_id").is_in(features.artist_ids))
    plays = plays.with_columns(pl.col("artist_id").replace_strict(cluster_of, return_dtype=pl.Int64).alias("cluster"))
    total = plays.height
    per_cluster = plays.group_by("cluster").agg(pl.len().alias("plays"))
    plays_per_cluster = dict(per_cluster.iter_rows())
    # Number clusters by plays (desc), then by their smallest artist id: stable across runs.
    order = sorted(
        range(k),
        key=lambda c: (-plays_per_cluster.get(c, 0), min((a for a, v in cluster_of.items() if v == c), default="")),
    )
    renumber = {old: new for new, old in enumerate(order)}

    top_artist_frame = (
        plays.group_by(["cluster", "artist_id"])
        .agg(pl.len().alias("plays"))
        .sort(["cluster", "plays", "artist_id"], descending=[False, True, False])
        .group_by("cluster", maintain_order=True)
        .head(TOP_N)
    )
    top_track_frame = (
        plays.group_by(["cluster", "track_id"])
        .agg(pl.len().alias("plays"))
        .sort(["cluster", "plays", "track_id"], descending=[False, True, False])
        .group_by("cluster", maintain_order=True)
        .head(TOP_N)
    )
    artist_names, track_names = _load_names(
        connection, top_artist_frame["artist_id"].to_list(), top_track_frame["track_id"].to_list()
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
        distinguishing, words = _describe(features, members)
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
            )
        )
    return clusters


def _as_uuid(user_id: UUID | str) -> UUID:
    return user_id if isinstance(user_id, UUID) else UUID(str(user_id))


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
    user = _as_uuid(user_id)
    connection = _duckdb_connection(database_url)
    try:
        listens = _load_listens(connection, user, start, end)
        if listens.is_empty():
            return []
        audio = _load_audio_features(connection, user)
        genres = _load_genres(connection, user)
        window_start = start if start is not None else _first_played(listens)
        return _cluster_listens(
            listens,
            user_id=user,
            window_name=window_name,
            window_start=window_start,
            window_end=end,
            audio=audio,
            genres=genres,
            connection=connection,
            computed_at=datetime.now(UTC),
        )
    finally:
        connection.close()


def _first_played(listens: pl.DataFrame) -> datetime:
    first = listens["played_epoch"].min()
    return datetime.fromtimestamp(int(first) if isinstance(first, (int, float)) else 0, UTC)


def compute_standard_windows(
    database_url: str, user_id: UUID | str, *, now: datetime | None = None
) -> list[TasteCluster]:
    """The clusters of the three standard windows (last 90 days, last 365 days, all time), one read."""
    user = _as_uuid(user_id)
    end = now or datetime.now(UTC)
    connection = _duckdb_connection(database_url)
    try:
        listens = _load_listens(connection, user, None, end)
        if listens.is_empty():
            return []
        audio = _load_audio_features(connection, user)
        genres = _load_genres(connection, user)
        computed_at = datetime.now(UTC)
        result: list[TasteCluster] = []
        for window_name, length in STANDARD_WINDOWS.items():
            if length is None:
                window_listens = listens
                window_start = _first_played(listens)
            else:
                window_start = end - length
                window_listens = listens.filter(pl.col("played_epoch") >= int(window_start.timestamp()))
            if window_listens.is_empty():
                continue
            result += _cluster_listens(
                window_listens,
                user_id=user,
                window_name=window_name,
                window_start=window_start,
                window_end=end,
                audio=audio,
                genres=genres,
                connection=connection,
                computed_at=computed_at,
            )
        return result
    finally:
        connection.close()


# --------------------------------------------------------------------------------------------------
# Writing ml.taste_clusters
# --------------------------------------------------------------------------------------------------


def ensure_table(database_url: str) -> None:
    """Create the `ml` schema and `ml.taste_clusters` if missing (the cluster step owns them)."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(CREATE_TABLE_SQL)


def write_clusters(database_url: str, user_id: UUID | str, clusters: Iterable[TasteCluster]) -> int:
    """Replace the user's standard-window clusters with `clusters` in one transaction."""
    user = _as_uuid(user_id)
    rows = list(clusters)
    with psycopg.connect(libpq_url(database_url)) as connection, connection.transaction():
        connection.execute(f"delete from {ML_SCHEMA}.taste_clusters where user_id = %s", (user,))
        if rows:
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"""insert into {ML_SCHEMA}.taste_clusters (user_id, window_name, window_start, window_end,
                        cluster_id, label, share_of_plays, plays, top_artists, top_tracks, distinguishing,
                        feature_set, k, quality_score, computed_at)
                        values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                    [
                        (
                            row.user_id,
                            row.window_name,
                            row.window_start,
                            row.window_end,
                            row.cluster_id,
                            row.label,
                            row.share_of_plays,
                            row.plays,
                            Jsonb(row.top_artists),
                            Jsonb(row.top_tracks),
                            Jsonb(row.distinguishing),
                            row.feature_set,
                            row.k,
                            row.quality_score,
                            row.computed_at,
                        )
                        for row in rows
                    ],
                )
    return len(rows)


def refresh_standard_windows(
    database_url: str, *, now: datetime | None = None, changed_only: bool = False
) -> dict[str, int]:
    """Recompute and store the standard windows of every user with music plays (with `changed_only`, of the
    users whose plays were transformed since their clusters were computed). Returns counts."""
    ensure_table(database_url)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        users = [row[0] for row in connection.execute("select distinct user_id from marts.fct_repeat_stats")]
        # Users without plays any more lose their clusters.
        connection.execute(f"delete from {ML_SCHEMA}.taste_clusters where user_id <> all(%s::uuid[])", (users,))
        if changed_only:
            stale = connection.execute(
                f"""select users.user_id from unnest(%s::uuid[]) as users (user_id)
                    where coalesce((select max(computed_at) from {ML_SCHEMA}.taste_clusters as clusters
                                    where clusters.user_id = users.user_id), '-infinity')
                        < (select max(transformed_at) from intermediate.int_plays_deduplicated as plays
                           where plays.user_id = users.user_id)""",
                (users,),
            )
            recompute = [row[0] for row in stale]
        else:
            recompute = users
    written = 0
    for user in sorted(recompute, key=str):
        written += write_clusters(database_url, user, compute_standard_windows(database_url, user, now=now))
    return {"users": len(users), "recomputed_users": len(recompute), "clusters": written}


def to_json(clusters: Sequence[TasteCluster]) -> str:
    """Clusters as JSON (datetimes ISO-8601)."""
    return json.dumps([cluster.as_dict() for cluster in clusters], default=str)
