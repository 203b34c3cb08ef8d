"""Reading: DuckDB attached read-only to PostgreSQL → a window's listens, aggregated into polars frames.

PostgreSQL filters the window's listens by its index and copies them to DuckDB, which aggregates them per artist
(and per artist and track, and per listening session) so only aggregates reach polars (DESIGN §4).
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from uuid import UUID

import duckdb
import duckdb_extensions
import polars as pl

from core.dburl import connection_fields
from transform.clusters.model import AUDIO_COLUMNS, DAY_PARTS, SESSION_GAP_SECONDS

# One in-memory DuckDB per process with the postgres extension loaded once (loading it costs ~0.1 s per DuckDB
# database, a tenth of the on-demand budget). Each computation gets its own connection to it (its own temp
# table) and attaches PostgreSQL under its own alias, detached when it is done: nothing read is kept.
_engine_lock = threading.Lock()
_engine: tuple[int, duckdb.DuckDBPyConnection] | None = None  # (pid, engine): a forked child makes its own
# The window's listens inside DuckDB (a temp table: private to the computation's connection).
LISTENS: Final = "window_listens"


class Source:
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
            self.connection.execute(f"ATTACH {sql_literal(dsn)} AS {self.alias} (TYPE postgres, READ_ONLY)")
        except BaseException:
            self.connection.close()
            raise

    def scan(self, sql: str) -> str:
        """The DuckDB table function that runs `sql` inside PostgreSQL (filters and joins where the indexes are)."""
        return f"postgres_query({sql_literal(self.alias)}, {sql_literal(sql)})"

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


def sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def load_listens(source: Source, user_id: UUID, start: datetime | None, end: datetime) -> None:
    """Land the user's music listens with `start <= played_at < end` in the temp table `LISTENS`, one narrow row
    each. Grouping them inside PostgreSQL costs it more than the binary copy of the rows (text keys, and its
    planner sorts them), so PostgreSQL filters by its (user_id, played_at) index and DuckDB aggregates."""
    start_sql = f"and played_at >= {sql_literal(start.isoformat())}::timestamptz" if start is not None else ""
    sql = f"""
        select
            primary_artist_id as artist_id,
            track_id,
            played_at,
            local_hour,
            local_weekday,
            (not counts_as_play or coalesce(skipped, false)) as is_skip
        from marts.fct_plays
        where user_id = {sql_literal(str(user_id))}::uuid
            and content_kind = 'track'
            and primary_artist_id is not null
            and played_at < {sql_literal(end.isoformat())}::timestamptz
            {start_sql}
    """
    # played_epoch: whole seconds, rounded half up (as PostgreSQL casts `extract(epoch ...)` to bigint).
    source.connection.execute(
        f"""
        create or replace temp table {LISTENS} as
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
class Window:
    """A window's listens, aggregated: all the features and the description need."""

    # artist_id, track_id, listens, plays (listens that count as plays and were not skipped).
    tracks: pl.DataFrame
    # artist_id, listens, skips, part_<i> (listens in DAY_PARTS[i]), weekend (listens on Saturday or Sunday).
    profiles: pl.DataFrame
    # artist_id, session: the listening sessions (numbered 1, 2, … in time order) each artist with plays is in.
    sessions: pl.DataFrame
    first_epoch: int


def aggregate(connection: duckdb.DuckDBPyConnection, since_epoch: int | None) -> Window | None:
    """The listens in `LISTENS` from `since_epoch` on (None: all), aggregated by DuckDB; None when there are none."""
    where = f"played_epoch >= {int(since_epoch)}" if since_epoch is not None else "true"
    tracks = connection.execute(
        f"""
        select artist_id, track_id, count(*) as listens, count(*) filter (where not is_skip) as plays
        from {LISTENS} where {where}
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
        from {LISTENS} where {where}
        group by artist_id
        """
    ).pl()
    # Sessions over the listens of the artists with plays: a gap of more than SESSION_GAP_SECONDS starts one.
    # Listens in the same second share the session (the running sum over a range frame includes them all).
    only_played = (
        f"and artist_id in (select artist_id from {LISTENS} where {where} and not is_skip)"
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
            from {LISTENS}
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
    return Window(tracks, profiles.drop("first_epoch"), sessions, int(first) if isinstance(first, int) else 0)


def load_names(
    source: Source, artist_ids: Sequence[str], track_ids: Sequence[str]
) -> tuple[dict[str, str], dict[str, tuple[str | None, str | None]]]:
    artists: dict[str, str] = {}
    tracks: dict[str, tuple[str | None, str | None]] = {}
    if artist_ids:
        ids = ",".join(sql_literal(artist_id) for artist_id in artist_ids)
        frame = source.query(f"select artist_id, name from marts.dim_artists where artist_id in ({ids})")
        artists = {row[0]: row[1] or row[0] for row in frame.iter_rows()}
    if track_ids:
        ids = ",".join(sql_literal(track_id) for track_id in track_ids)
        frame = source.query(
            f"select track_id, name, primary_artist_name from marts.dim_tracks where track_id in ({ids})"
        )
        tracks = {row[0]: (row[1], row[2]) for row in frame.iter_rows()}
    return artists, tracks


def _has_rows(source: Source, sql: str) -> bool:
    return bool(source.query(f"select exists ({sql}) as present")["present"][0])


def load_audio_features(source: Source, user_id: UUID) -> pl.DataFrame:
    if not _has_rows(source, "select 1 from staging.stg_spotify_api__audio_features"):
        return pl.DataFrame()
    columns = ", ".join(f"features.{column}::double precision as {column}" for column in AUDIO_COLUMNS)
    sql = f"""
        select features.track_id, {columns}
        from staging.stg_spotify_api__audio_features as features
        where features.track_id in (
            select distinct track_id from marts.agg_daily_track_plays where user_id = {sql_literal(str(user_id))}::uuid
        )
    """
    return source.query(sql)


def load_genres(source: Source, user_id: UUID) -> pl.DataFrame:
    if not _has_rows(source, "select 1 from marts.dim_artists where genres <> '[]'::jsonb"):
        return pl.DataFrame()
    sql = f"""
        select artists.artist_id, genre.value as genre
        from marts.dim_artists as artists
        cross join lateral jsonb_array_elements_text(artists.genres) as genre (value)
        where artists.artist_id in (
            select distinct primary_artist_id from marts.agg_daily_track_plays
            where user_id = {sql_literal(str(user_id))}::uuid
        )
    """
    return source.query(sql)
