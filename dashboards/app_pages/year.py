"""A year in review: the figures a recap has — time, plays, top artists, tracks and albums, discoveries, the
busiest day, the longest streak, the listening clock, the mix of taste clusters — against the same days before."""

from __future__ import annotations

import polars as pl
import streamlit as st

from core.marts import clusters as words
from core.marts.compare import pct
from core.marts.recap import previous_span
from core.marts.windows import date_range_text, date_text, user_zone, year_span
from dashboards import charts, common, figures


def _delta(now: float, before: float, label: str) -> str | None:
    change = pct(now, before) if label else None
    return None if change is None else f"{change:+.0f}% vs {label}"


def _track_labels(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        pl.concat_str(pl.col("name").fill_null("(unnamed)"), pl.lit(" — "), pl.col("artist_name").fill_null("?")).alias(
            "track"
        )
    )


st.title("Year in review")
listener = (
    common.pick_user() if common.require_marts("dim_users", "agg_daily_listening", "agg_daily_track_plays") else None
)
if listener is not None and common.has_history(listener):
    years = figures.active_years(listener.user_id)
    today = listener.today
    complete = [year for year in years if year < today.year]
    default = complete[0] if complete else years[0]
    year = st.selectbox(
        "Year",
        years,
        index=years.index(default),
        format_func=lambda value: f"{value} (so far)" if value == today.year else str(value),
        key="year_pick",
    )
    span = year_span(int(year), user_zone(listener.timezone), today)
    previous = previous_span(span)
    now, before = figures.summary(listener.user_id, span), figures.summary(listener.user_id, previous)
    first = figures.bounds(listener.user_id).first_date
    # A change is only worth showing against a year the history fully covers.
    comparable = first is not None and first <= previous.start_date
    label = str(previous.start_date.year) if previous.label.isdigit() else f"same days of {previous.start_date.year}"
    versus = label if comparable else ""
    against = (
        f"changes against {date_range_text(previous.start_date, previous.end_date)} (the same days of the year before)."
        if comparable
        else f"your history starts on {date_range_text(first, first) if first else '?'}, so there is no whole year "
        "before this one to compare with."
    )
    st.caption(f"{date_range_text(span.start_date, span.end_date)}, days in {listener.timezone}; {against}")
    columns = st.columns(4)
    columns[0].metric("Minutes listened", f"{now.minutes:,.0f}", _delta(now.minutes, before.minutes, versus))
    columns[1].metric("Plays", common.number(now.plays), _delta(now.plays, before.plays, versus))
    columns[2].metric(
        "Different artists",
        common.number(now.unique_artists),
        _delta(now.unique_artists, before.unique_artists, versus),
    )
    columns[3].metric(
        "Different tracks",
        common.number(now.unique_tracks),
        _delta(now.unique_tracks, before.unique_tracks, versus),
    )

    new_artists, new_tracks, fresh_artists = figures.discoveries(listener.user_id, span, 10)
    busiest = figures.busiest_day(listener.user_id, span)
    streak = figures.longest_streak(listener.user_id, span)
    columns = st.columns(4)
    columns[0].metric("New artists", common.number(new_artists), help="first played ever this year")
    columns[1].metric("New tracks", common.number(new_tracks), help="first played ever this year")
    columns[2].metric(
        "Busiest day",
        date_text(busiest["local_date"]) if busiest else "—",
        help=f"{busiest['plays']:,} plays" if busiest else None,
    )
    columns[3].metric(
        "Longest streak",
        f"{streak['days']:,} days" if streak else "—",
        help=date_range_text(streak["start_date"], streak["end_date"]) if streak else None,
    )

    left, right = st.columns(2)
    artists = figures.top_artists(listener.user_id, span, 10)
    left.altair_chart(
        charts.ranked_bars(artists.with_columns(pl.col("name").alias("artist")), "artist", title="Top artists"),
        width="stretch",
    )
    tracks = figures.top_tracks(listener.user_id, span, 10)
    right.altair_chart(charts.ranked_bars(_track_labels(tracks), "track", title="Top tracks"), width="stretch")
    left, right = st.columns(2)
    albums = figures.top_albums(listener.user_id, span, 10)
    if albums.height:
        shown = albums.with_columns(
            pl.concat_str(pl.col("album"), pl.lit(" — "), pl.col("artist_name").fill_null("?")).alias("album")
        )
        left.altair_chart(charts.ranked_bars(shown, "album", title="Top albums"), width="stretch")
    if fresh_artists.height:
        right.altair_chart(
            charts.ranked_bars(
                fresh_artists.with_columns(pl.col("name").alias("artist")),
                "artist",
                title="Most played new artists",
                color="#6b5bd6",
            ),
            width="stretch",
        )
    clock = figures.heatmap(listener.user_id, span)
    left, right = st.columns(2)
    left.altair_chart(charts.hour_bars(clock.hour_totals, "Listening clock: plays by hour"), width="stretch")
    mix = figures.cluster_mix(listener.user_id, "all_time", span)
    if mix:
        right.altair_chart(
            charts.share_bars(
                [
                    {"cluster": words.cluster_name(row["top_artists"]), "share": row["share"], "plays": row["plays"]}
                    for row in mix
                ],
                "cluster",
                "Mix of your taste clusters (all-time clusters)",
            ),
            width="stretch",
        )
