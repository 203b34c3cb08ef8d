"""Every figure the pages show: the `core.marts` queries and finishing functions the tools use, run through DuckDB
(`data.run`) and cached with `st.cache_data(ttl=…)`.

The choices a tool makes are made here the same way (`core.marts.windows`): all-time answers read the all-time
marts when the window covers the whole history, the repeat figures come from `fct_repeat_stats` then, and so on —
so a dashboard and an assistant never disagree on the same question.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import polars as pl
import streamlit as st

from core.marts import artists, clusters, compare, listening, rankings, recap
from core.marts.windows import Bounds, Grain, Span, covers_all, reads_all_time_marts
from dashboards import data

TTL = data.CACHE_TTL_SECONDS


def _user(user_id: str) -> uuid.UUID:
    return uuid.UUID(user_id)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _all_time(user_id: str, span: Span) -> bool:
    return reads_all_time_marts(span, bounds(user_id), "agg_track_totals" in data.available_marts())


# ----- extent and totals ------------------------------------------------------------------------------


@st.cache_data(ttl=TTL, show_spinner=False)
def bounds(user_id: str) -> Bounds:
    row = data.run(listening.bounds(_user(user_id))).row(0, named=True)
    return Bounds(row["first_date"], row["last_date"], row["latest_play_at"])


@dataclass(frozen=True, slots=True)
class Summary:
    plays: int
    listens: int
    ms_played: int
    minutes: float
    unique_tracks: int
    unique_artists: int


@st.cache_data(ttl=TTL, show_spinner=False)
def summary(user_id: str, span: Span) -> Summary:
    """Plays, listening time and unique tracks and artists of a window (taste_summary's figures)."""
    user = _user(user_id)
    totals = data.run(listening.totals(user, span)).row(0, named=True)
    uniques = data.run(rankings.window_summary(user, span, 1, all_time=_all_time(user_id, span))).row(0, named=True)
    return Summary(
        plays=int(uniques["plays"]),
        listens=int(totals["listens"]),
        ms_played=int(totals["ms_played"]),
        minutes=listening.minutes(int(totals["ms_played"])),
        unique_tracks=int(uniques["unique_tracks"]),
        unique_artists=int(uniques["unique_artists"]),
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def series(user_id: str, span: Span, grain: Grain) -> pl.DataFrame:
    """period_start, period_end (exclusive), days, plays, hours, minutes, unique_tracks, unique_artists."""
    frame = data.run(listening.series(_user(user_id), span, grain))
    return frame.with_columns(
        (pl.col("period_start") + pl.duration(days=pl.col("days"))).alias("period_end"),
        (pl.col("ms_played") / 3_600_000).alias("hours"),
        (pl.col("ms_played") / 60_000).round(1).alias("minutes"),
    )


# ----- rankings --------------------------------------------------------------------------------------


def _with_shares(frame: pl.DataFrame, total_plays: int) -> pl.DataFrame:
    return frame.with_columns(
        pl.int_range(1, frame.height + 1).alias("rank"),
        (pl.col("ms") / 60_000).round(1).alias("minutes"),
        pl.col("plays")
        .map_elements(lambda plays: rankings.share(plays, total_plays), return_dtype=pl.Float64)
        .alias("share"),
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def top_artists(user_id: str, span: Span, limit: int) -> pl.DataFrame:
    """rank, artist_id, name, plays, minutes, share (of the window's plays) — history.top_artists' list."""
    frame = data.run(rankings.top_artists(_user(user_id), span, limit, all_time=_all_time(user_id, span)))
    return _with_shares(frame, summary(user_id, span).plays)


@st.cache_data(ttl=TTL, show_spinner=False)
def top_tracks(user_id: str, span: Span, limit: int) -> pl.DataFrame:
    """rank, track_id, name, artist_id, artist_name, plays, minutes, share — history.top_tracks' list."""
    frame = data.run(rankings.top_tracks(_user(user_id), span, limit, all_time=_all_time(user_id, span)))
    return _with_shares(frame, summary(user_id, span).plays)


@st.cache_data(ttl=TTL, show_spinner=False)
def repeat(user_id: str, span: Span) -> rankings.Repeat:
    """history.repeat_rate's figures: the all-time mart when the window covers the history, else the window's."""
    user = _user(user_id)
    if covers_all(span, bounds(user_id)):
        found = data.run(rankings.repeat_all_time(user))
        if found.height:
            row = found.row(0, named=True)
            return rankings.repeat_figures(
                int(row["plays"]),
                int(row["unique_tracks"]),
                int(row["tracks_played_once"]),
                int(row["max_plays_single_track"]),
                repeat_rate=float(row["repeat_rate"] or 0.0),
                top10_share=float(row["top10_share"] or 0.0),
            )
    row = data.run(rankings.repeat_window(user, span, all_time=_all_time(user_id, span))).row(0, named=True)
    return rankings.repeat_figures(
        int(row["plays"]), int(row["unique_tracks"]), int(row["once"]), int(row["maxp"]), top10_plays=int(row["top10"])
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def plays_per_track(user_id: str, span: Span) -> pl.DataFrame:
    """bucket, low, tracks: how many tracks were played how often."""
    return data.run(rankings.plays_per_track(_user(user_id), span, all_time=_all_time(user_id, span)))


# ----- when ------------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL, show_spinner=False)
def heatmap(user_id: str, span: Span) -> listening.HeatmapSummary:
    """history.listening_heatmap's grid, totals and peaks."""
    window = None if covers_all(span, bounds(user_id)) else span
    frame = data.run(listening.heatmap_cells(_user(user_id), window))
    cells = [(int(row[0]), int(row[1]), int(row[2])) for row in frame.select("weekday", "hour", "plays").iter_rows()]
    return listening.summarize_heatmap(cells)


# ----- coverage --------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL, show_spinner=False)
def coverage_rows(user_id: str, span: Span) -> pl.DataFrame:
    """local_date, source, listens of every day and source with data in the window."""
    return data.run(listening.coverage_days(_user(user_id), span))


@st.cache_data(ttl=TTL, show_spinner=False)
def coverage(user_id: str, span: Span) -> listening.Coverage:
    """history.coverage's figures: days with data, per source, the largest gaps, complete or partial."""
    rows = [(row[0], str(row[1]), int(row[2])) for row in coverage_rows(user_id, span).iter_rows()]
    return listening.summarize_coverage(rows, span, bounds(user_id).first_date)


# ----- comparison ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    first: Summary
    second: Summary
    movers: pl.DataFrame  # artist_id, name, plays, compare_plays, change, rank, compare_rank
    new_artists: pl.DataFrame  # artist_id, name, plays, minutes, share


def _artist_plays(user_id: str, span: Span) -> compare.ArtistPlays:
    frame = data.run(compare.artist_plays(_user(user_id), span, all_time=_all_time(user_id, span)))
    return {
        str(artist): (int(plays), int(ms)) for artist, plays, ms in frame.select("artist_id", "plays", "ms").iter_rows()
    }


@st.cache_data(ttl=TTL, show_spinner=False)
def comparison(user_id: str, first: Span, second: Span, limit: int) -> Comparison:
    """history.compare_periods' figures for two resolved windows."""
    user = _user(user_id)
    plays_a, plays_b = _artist_plays(user_id, first), _artist_plays(user_id, second)
    moves = compare.movers(plays_a, plays_b, limit)
    candidates = compare.new_artist_candidates(plays_a)
    known: set[str] = set()
    if candidates:
        known = set(data.run(compare.played_before(user, candidates, first.start_date))["artist_id"].to_list())
    new = [artist for artist in candidates if artist not in known][:limit]
    wanted = sorted({move.artist_id for move in moves} | set(new))
    names: dict[str, str | None] = {}
    if wanted:
        names = dict(data.run(compare.artist_names(user, wanted)).select("artist_id", "name").iter_rows())
    first_summary = summary(user_id, first)
    movers = pl.DataFrame(
        [
            {
                "artist_id": move.artist_id,
                "name": names.get(move.artist_id),
                "plays": move.plays,
                "compare_plays": move.compare_plays,
                "change": move.change,
                "rank": move.rank,
                "compare_rank": move.compare_rank,
            }
            for move in moves
        ],
        schema={
            "artist_id": pl.String,
            "name": pl.String,
            "plays": pl.Int64,
            "compare_plays": pl.Int64,
            "change": pl.Int64,
            "rank": pl.Int64,
            "compare_rank": pl.Int64,
        },
    )
    new_artists = pl.DataFrame(
        [
            {
                "artist_id": artist,
                "name": names.get(artist),
                "plays": plays_a[artist][0],
                "minutes": listening.minutes(plays_a[artist][1]),
                "share": rankings.share(plays_a[artist][0], first_summary.plays),
            }
            for artist in new
        ],
        schema={
            "artist_id": pl.String,
            "name": pl.String,
            "plays": pl.Int64,
            "minutes": pl.Float64,
            "share": pl.Float64,
        },
    )
    return Comparison(first_summary, summary(user_id, second), movers, new_artists)


# ----- one artist ------------------------------------------------------------------------------------


@st.cache_data(ttl=TTL, show_spinner=False)
def artist_search(user_id: str, text: str, all_time_span: Span, limit: int = 25) -> pl.DataFrame:
    """artist_id, name, plays of the user's artists whose name contains `text`, most played first."""
    return data.run(
        artists.search(_user(user_id), text, all_time_span, limit, all_time=_all_time(user_id, all_time_span))
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def artist_profile(user_id: str, artist_id: str, span: Span) -> dict[str, Any]:
    row: dict[str, Any] = data.run(artists.profile(_user(user_id), artist_id, span)).row(0, named=True)
    rank = data.run(artists.rank(_user(user_id), artist_id, span, all_time=_all_time(user_id, span))).row(0, named=True)
    row["rank"], row["artists"] = rank["rank"], int(rank["artists"])
    row["minutes"] = listening.minutes(int(row["ms"]))
    row["share"] = rankings.share(int(row["plays"]), summary(user_id, span).plays)
    return row


@st.cache_data(ttl=TTL, show_spinner=False)
def artist_over_time(user_id: str, artist_id: str, span: Span, grain: Grain) -> pl.DataFrame:
    frame = data.run(artists.plays_over_time(_user(user_id), artist_id, span, grain))
    return frame.with_columns((pl.col("period_start") + pl.duration(days=pl.col("days"))).alias("period_end"))


@st.cache_data(ttl=TTL, show_spinner=False)
def artist_top_tracks(user_id: str, artist_id: str, span: Span, limit: int = 15) -> pl.DataFrame:
    frame = data.run(artists.top_tracks(_user(user_id), artist_id, span, limit))
    return frame.with_columns((pl.col("ms") / 60_000).round(1).alias("minutes"))


# ----- a period in review ----------------------------------------------------------------------------


@st.cache_data(ttl=TTL, show_spinner=False)
def active_years(user_id: str) -> list[int]:
    return [int(year) for year in data.run(recap.active_years(_user(user_id)))["year"].to_list()]


@st.cache_data(ttl=TTL, show_spinner=False)
def top_albums(user_id: str, span: Span, limit: int = 10) -> pl.DataFrame:
    frame = data.run(recap.top_albums(_user(user_id), span, limit, all_time=_all_time(user_id, span)))
    return frame.with_columns((pl.col("ms") / 60_000).round(1).alias("minutes"))


@st.cache_data(ttl=TTL, show_spinner=False)
def discoveries(user_id: str, span: Span, limit: int = 10) -> tuple[int, int, pl.DataFrame]:
    """(new artists, new tracks, the most played new artists) of the window: played there, never before."""
    user = _user(user_id)
    counts = data.run(recap.discovery_counts(user, span)).row(0, named=True)
    return int(counts["new_artists"]), int(counts["new_tracks"]), data.run(recap.new_artists(user, span, limit))


@st.cache_data(ttl=TTL, show_spinner=False)
def new_tracks(user_id: str, span: Span, limit: int = 10) -> pl.DataFrame:
    """The most played tracks first played in the window."""
    return data.run(recap.new_tracks(_user(user_id), span, limit))


@st.cache_data(ttl=TTL, show_spinner=False)
def discoveries_over_time(user_id: str, span: Span, grain: Grain) -> pl.DataFrame:
    frame = data.run(recap.discoveries_over_time(_user(user_id), span, grain))
    return frame.with_columns((pl.col("period_start") + pl.duration(days=pl.col("days"))).alias("period_end"))


@st.cache_data(ttl=TTL, show_spinner=False)
def busiest_day(user_id: str, span: Span) -> dict[str, Any] | None:
    frame = data.run(recap.busiest_day(_user(user_id), span))
    return frame.row(0, named=True) if frame.height else None


@st.cache_data(ttl=TTL, show_spinner=False)
def longest_streak(user_id: str, span: Span) -> dict[str, Any] | None:
    frame = data.run(recap.longest_streak(_user(user_id), span))
    return frame.row(0, named=True) if frame.height else None


# ----- taste clusters --------------------------------------------------------------------------------


@st.cache_data(ttl=TTL, show_spinner=False)
def clusterings(user_id: str) -> pl.DataFrame:
    return data.run(clusters.clusterings(_user(user_id)))


@st.cache_data(ttl=TTL, show_spinner=False)
def cluster_rows(user_id: str, window_name: str) -> list[dict[str, Any]]:
    """history.taste_clusters' clusters of a stored clustering (json columns parsed)."""
    rows = data.run(clusters.clusters(_user(user_id), window_name)).to_dicts()
    for row in rows:
        for key in ("top_artists", "top_tracks", "distinguishing"):
            row[key] = _json(row[key])
    return rows


@st.cache_data(ttl=TTL, show_spinner=False)
def cluster_share_over_time(user_id: str, window_name: str, span: Span, grain: Grain) -> pl.DataFrame:
    if "fct_taste_cluster_artists" not in data.available_marts():
        return pl.DataFrame(schema={"period_start": pl.Date, "cluster_id": pl.Int64, "plays": pl.Int64})
    return data.run(clusters.share_over_time(_user(user_id), window_name, span, grain))


@st.cache_data(ttl=TTL, show_spinner=False)
def cluster_mix(user_id: str, window_name: str, span: Span) -> list[dict[str, Any]]:
    if "fct_taste_cluster_artists" not in data.available_marts():
        return []
    rows = data.run(clusters.mix(_user(user_id), window_name, span)).to_dicts()
    for row in rows:
        row["top_artists"] = _json(row["top_artists"])
        row["distinguishing"] = _json(row["distinguishing"])
    return rows
