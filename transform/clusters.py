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
(DESIGN §4): PostgreSQL filters the window's listens by its index and copies them to DuckDB, which aggregates
them per artist (and per artist and track, and per listening session) so only aggregates reach polars.
`compute_clusters()` computes any window on demand (the API calls it); `refresh_standard_windows()` writes the
three standard windows of every user to `ml.taste_clusters` (and every clustered artist with its cluster to
`ml.taste_cluster_artists`), which dbt exposes as `marts.fct_taste_clusters` and `marts.fct_taste_cluster_artists`.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
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
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

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
create table if not exists {ML_SCHEMA}.taste_cluster_artists (
    user_id uuid not null,
    window_name text not null,
    cluster_id integer not null,
    artist_id text not null,
    plays bigint not null,
    primary key (user_id, window_name, artist_id)
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
    # Every artist of the cluster with its plays in the window (ml.taste_cluster_artists): what lets the
    # dashboards show a cluster's share over time and a year's mix of clusters.
    member_plays: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------------
# Reading: DuckDB attached read-only to PostgreSQL → aggregated polars frames
# --------------------------------------------------------------------------------------------------

# One in-memory DuckDB per process with the postgres extension loaded once (loading it costs ~0.1 s per DuckDB
# database, a tenth of the on-demand budget). Each computation gets its own connection to it (its own temp
# table) and attaches PostgreSQL under its own alias, detached when it is done: nothing read is kept.
_engine_lock = threading.Lock()
_engine: tuple[int, duckdb.DuckDBPyConnection] | None = None  # (pid, engine): a forked child makes its own
# The window's listens inside DuckDB (a temp table: private to the computation's connection).
_LISTENS: Final = "window_listens"


class _Source:
    """A DuckDB connection with one PostgreSQL database attached read-only."""

    def __init__(self, database_url: str) -> None:
        global _engine
        with _engine_lock:
            if _engine is None or _engine[0] != os.getpid():
                # Installs the bundled postgres_scanner (no download; DESIGN §9).
                duckdb_extensions.import_extension("postgres_scanner")
                engine = duckdb.connect()
                engine.execute("LOAD postgres_scanner")
                _engine = (os.getpid(), engine)
            self.connection = _engine[1].cursor()
        self.alias = f"pg_{secrets.token_hex(8)}"
        self.connection.execute("SET enable_progress_bar = false")
        fields = connection_fields(database_url)
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
        try:
            self.connection.execute(f"ATTACH {_sql_literal(dsn)} AS {self.alias} (TYPE postgres, READ_ONLY)")
        except BaseException:
            self.connection.close()
            raise

    def scan(self, sql: str) -> str:
        """The DuckDB table function that runs `sql` inside PostgreSQL (filters and joins where the indexes are)."""
        return f"postgres_query({_sql_literal(self.alias)}, {_sql_literal(sql)})"

    def query(self, sql: str) -> pl.DataFrame:
        """Run `sql` inside PostgreSQL and return it as polars."""
        return self.connection.execute(f"select * from {self.scan(sql)}").pl()

    def close(self) -> None:
        try:
            self.connection.execute(f"DETACH DATABASE IF EXISTS {self.alias}")
        finally:
            self.connection.close()


def _dsn_quote(value: str) -> str:
    if value and all(ch.isalnum() or ch in "._-/:" for ch in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _load_listens(source: _Source, user_id: UUID, start: datetime | None, end: datetime) -> None:
    """Land the user's music listens with `start <= played_at < end` in the temp table `_LISTENS`, one narrow row
    each. Grouping them inside PostgreSQL costs it more than the binary copy of the rows (text keys, and its
    planner sorts them), so PostgreSQL filters by its (user_id, played_at) index and DuckDB aggregates."""
    start_sql = f"and played_at >= {_sql_literal(start.isoformat())}::timestamptz" if start is not None else ""
    sql = f"""
        select
            primary_artist_id as artist_id,
            track_id,
            played_at,
            local_hour,
            local_weekday,
            (not counts_as_play or coalesce(skipped, false)) as is_skip
        from marts.fct_plays
        where user_id = {_sql_literal(str(user_id))}::uuid
            and content_kind = 'track'
            and primary_artist_id is not null
            and played_at < {_sql_literal(end.isoformat())}::timestamptz
            {start_sql}
    """
    # played_epoch: whole seconds, rounded half up (as PostgreSQL casts `extract(epoch ...)` to bigint).
    source.connection.execute(
        f"""
        create or replace temp table {_LISTENS} as
        select
            artist_id,
            track_id,
            (epoch_us(played_at) + 500000) // 1000000 as played_epoch,
            local_hour,
            local_weekday >= 6 as weekend,
            is_skip
        from {source.scan(sql)}
        """
    )


@dataclass(frozen=True, slots=True)
class _Window:
    """A window's listens, aggregated: all the features and the description need."""

    # artist_id, track_id, listens, plays (listens that count as plays and were not skipped).
    tracks: pl.DataFrame
    # artist_id, listens, skips, part_<i> (listens in DAY_PARTS[i]), weekend (listens on Saturday or Sunday).
    profiles: pl.DataFrame
    # artist_id, session: the listening sessions (numbered 1, 2, … in time order) each artist with plays is in.
    sessions: pl.DataFrame
    first_epoch: int


def _aggregate(connection: duckdb.DuckDBPyConnection, since_epoch: int | None) -> _Window | None:
    """The listens in `_LISTENS` from `since_epoch` on (None: all), aggregated by DuckDB; None when there are none."""
    where = f"played_epoch >= {int(since_epoch)}" if since_epoch is not None else "true"
    tracks = connection.execute(
        f"""
        select artist_id, track_id, count(*) as listens, count(*) filter (where not is_skip) as plays
        from {_LISTENS} where {where}
        group by artist_id, track_id
        """
    ).pl()
    if tracks.is_empty():
        return None
    parts = ", ".join(
        f"count(*) filter (where local_hour >= {hours.start} and local_hour < {hours.stop}) as part_{index}"
        for index, (_, hours) in enumerate(DAY_PARTS)
    )
    profiles = connection.execute(
        f"""
        select
            artist_id,
            count(*) as listens,
            count(*) filter (where is_skip) as skips,
            {parts},
            count(*) filter (where weekend) as weekend,
            min(played_epoch) as first_epoch
        from {_LISTENS} where {where}
        group by artist_id
        """
    ).pl()
    # Sessions over the listens of the artists with plays: a gap of more than SESSION_GAP_SECONDS starts one.
    # Listens in the same second share the session (the running sum over a range frame includes them all).
    only_played = (
        f"and artist_id in (select artist_id from {_LISTENS} where {where} and not is_skip)"
        if not profiles.filter(pl.col("skips") == pl.col("listens")).is_empty()
        else ""
    )
    sessions = connection.execute(
        f"""
        with kept_listens as (
            select
                artist_id,
                played_epoch,
                coalesce(played_epoch - lag(played_epoch) over (order by played_epoch) > {SESSION_GAP_SECONDS}, true)
                    as starts_session
            from {_LISTENS}
            where {where} {only_played}
        )
        select distinct
            artist_id,
            sum(starts_session::integer) over (
                order by played_epoch range between unbounded preceding and current row
            )::bigint as session
        from kept_listens
        """
    ).pl()
    first = profiles["first_epoch"].min()
    return _Window(tracks, profiles.drop("first_epoch"), sessions, int(first) if isinstance(first, int) else 0)


def _load_names(
    source: _Source, artist_ids: Sequence[str], track_ids: Sequence[str]
) -> tuple[dict[str, str], dict[str, tuple[str | None, str | None]]]:
    artists: dict[str, str] = {}
    tracks: dict[str, tuple[str | None, str | None]] = {}
    if artist_ids:
        ids = ",".join(_sql_literal(artist_id) for artist_id in artist_ids)
        frame = source.query(f"select artist_id, name from marts.dim_artists where artist_id in ({ids})")
        artists = {row[0]: row[1] or row[0] for row in frame.iter_rows()}
    if track_ids:
        ids = ",".join(_sql_literal(track_id) for track_id in track_ids)
        frame = source.query(
            f"select track_id, name, primary_artist_name from marts.dim_tracks where track_id in ({ids})"
        )
        tracks = {row[0]: (row[1], row[2]) for row in frame.iter_rows()}
    return artists, tracks


def _has_rows(source: _Source, sql: str) -> bool:
    return bool(source.query(f"select exists ({sql}) as present")["present"][0])


def _load_audio_features(source: _Source, user_id: UUID) -> pl.DataFrame:
    if not _has_rows(source, "select 1 from staging.stg_spotify_api__audio_features"):
        return pl.DataFrame()
    columns = ", ".join(f"features.{column}::double precision as {column}" for column in AUDIO_COLUMNS)
    sql = f"""
        select features.track_id, {columns}
        from staging.stg_spotify_api__audio_features as features
        where features.track_id in (
            select distinct track_id from marts.agg_daily_track_plays where user_id = {_sql_literal(str(user_id))}::uuid
        )
    """
    return source.query(sql)


def _load_genres(source: _Source, user_id: UUID) -> pl.DataFrame:
    if not _has_rows(source, "select 1 from marts.dim_artists where genres <> '[]'::jsonb"):
        return pl.DataFrame()
    sql = f"""
        select artists.artist_id, genre.value as genre
        from marts.dim_artists as artists
        cross join lateral jsonb_array_elements_text(artists.genres) as genre (value)
        where artists.artist_id in (
            select distinct primary_artist_id from marts.agg_daily_track_plays
            where user_id = {_sql_literal(str(user_id))}::uuid
        )
    """
    return source.query(sql)


# --------------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Features:
    feature_set: FeatureSet
    artist_ids: list[str]
    matrix: FloatMatrix
    names: list[str]  # column names, for "what sets it apart"


def _artist_plays(window: _Window) -> pl.DataFrame:
    """artist_id, plays of the artists with plays in the window, most played first."""
    return (
        window.tracks.group_by("artist_id")
        .agg(pl.col("plays").sum())
        .filter(pl.col("plays") > 0)
        .sort(["plays", "artist_id"], descending=[True, False])
    )


def _audio_features(window: _Window, audio: pl.DataFrame, artists: list[str]) -> _Features | None:
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
    return _Features("audio_features", frame["artist_id"].to_list(), matrix, list(AUDIO_COLUMNS))


def _genre_features(artist_plays: pl.DataFrame, genres: pl.DataFrame, artists: list[str]) -> _Features | None:
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
    return _Features("genres", kept, np.asarray(weighted, dtype=np.float64), vocabulary)


def _behaviour_features(window: _Window, artists: list[str]) -> _Features:
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


# k-means, the silhouette and the SVD run on a few hundred artists, where OpenMP/BLAS threads cost more than
# they bring (several times the single-threaded time on a busy 2-core machine). The limit is process-wide, so
# computations take turns inside it (the lock); the reading before it runs concurrently.
_numeric_lock = threading.Lock()
_threadpools: ThreadpoolController | None = None


@contextmanager
def _single_threaded() -> Iterator[None]:
    global _threadpools
    with _numeric_lock:
        if _threadpools is None:
            _threadpools = ThreadpoolController()
        with _threadpools.limit(limits=1):
            yield


def _cluster_window(
    window: _Window,
    *,
    user_id: UUID,
    window_name: str,
    window_start: datetime,
    window_end: datetime,
    audio: pl.DataFrame,
    genres: pl.DataFrame,
    source: _Source,
    computed_at: datetime,
) -> list[TasteCluster]:
    artist_plays = _artist_plays(window)
    if artist_plays.height < min(K_RANGE) + 1:
        return []
    all_artists = sorted(artist_plays["artist_id"].to_list())
    fit_artists = sorted(artist_plays.head(MAX_FIT_ARTISTS)["artist_id"].to_list())
    with _single_threaded():
        features = (
            _audio_features(window, audio, all_artists)
            or _genre_features(artist_plays, genres, all_artists)
            or _behaviour_features(window, all_artists)
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
    artist_names, track_names = _load_names(
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
                member_plays=member_plays,
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
    source = _Source(database_url)
    try:
        _load_listens(source, user, start, end)
        window = _aggregate(source.connection, None)
        if window is None:
            return []
        audio = _load_audio_features(source, user)
        genres = _load_genres(source, user)
        window_start = start if start is not None else datetime.fromtimestamp(window.first_epoch, UTC)
        return _cluster_window(
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
    user = _as_uuid(user_id)
    end = now or datetime.now(UTC)
    source = _Source(database_url)
    try:
        _load_listens(source, user, None, end)
        audio: pl.DataFrame | None = None
        genres = pl.DataFrame()
        computed_at = datetime.now(UTC)
        result: list[TasteCluster] = []
        for window_name, length in STANDARD_WINDOWS.items():
            window = _aggregate(source.connection, int((end - length).timestamp()) if length is not None else None)
            if window is None:
                continue
            if audio is None:
                audio = _load_audio_features(source, user)
                genres = _load_genres(source, user)
            window_start = end - length if length is not None else datetime.fromtimestamp(window.first_epoch, UTC)
            result += _cluster_window(
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


# --------------------------------------------------------------------------------------------------
# Writing ml.taste_clusters
# --------------------------------------------------------------------------------------------------


def ensure_table(database_url: str) -> None:
    """Create the `ml` schema, `ml.taste_clusters` and `ml.taste_cluster_artists` if missing (the cluster step
    owns them)."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(CREATE_TABLE_SQL)


def write_clusters(database_url: str, user_id: UUID | str, clusters: Iterable[TasteCluster]) -> int:
    """Replace the user's standard-window clusters with `clusters` in one transaction."""
    user = _as_uuid(user_id)
    rows = list(clusters)
    with psycopg.connect(libpq_url(database_url)) as connection, connection.transaction():
        connection.execute(f"delete from {ML_SCHEMA}.taste_clusters where user_id = %s", (user,))
        connection.execute(f"delete from {ML_SCHEMA}.taste_cluster_artists where user_id = %s", (user,))
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
                cursor.executemany(
                    f"""insert into {ML_SCHEMA}.taste_cluster_artists
                        (user_id, window_name, cluster_id, artist_id, plays) values (%s, %s, %s, %s, %s)""",
                    [
                        (row.user_id, row.window_name, row.cluster_id, artist, count)
                        for row in rows
                        for artist, count in row.member_plays.items()
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
        for table in ("taste_clusters", "taste_cluster_artists"):
            connection.execute(f"delete from {ML_SCHEMA}.{table} where user_id <> all(%s::uuid[])", (users,))
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
