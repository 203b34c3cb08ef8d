"""Top artists and tracks of any window: history.top_artists and history.top_tracks, drawn."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from core.marts.windows import Period
from dashboards import charts, common, figures

st.title("Top artists & tracks")
listener = (
    common.pick_user()
    if common.require_marts("dim_users", "agg_daily_track_plays", "dim_tracks", "dim_artists")
    else None
)
if listener is not None and common.has_history(listener):
    span = common.pick_window(listener, key="top", default=Period.last_30_days)
    limit = st.slider("How many", 5, 50, 20, key="top_limit")
    st.caption(common.describe_window(span, listener) + " Ranked by plays (listens of at least 30 s).")
    artists_tab, tracks_tab = st.tabs(["Artists", "Tracks"])
    with artists_tab:
        artists = figures.top_artists(listener.user_id, span, limit)
        if artists.height == 0:
            common.empty_window(span, listener)
        else:
            st.altair_chart(
                charts.ranked_bars(
                    artists.with_columns(pl.col("name").alias("artist")),
                    "artist",
                    details=[alt.Tooltip("minutes:Q", format=",.1f"), alt.Tooltip("share:Q", format=".1%")],
                ),
                width="stretch",
            )
            st.dataframe(
                artists.select("rank", pl.col("name").alias("artist"), "plays", "minutes", "share"),
                hide_index=True,
                width="stretch",
                column_config={"share": st.column_config.NumberColumn("share of plays", format="percent")},
            )
    with tracks_tab:
        tracks = figures.top_tracks(listener.user_id, span, limit)
        if tracks.height == 0:
            common.empty_window(span, listener)
        else:
            shown = tracks.with_columns(
                pl.concat_str(
                    pl.col("name").fill_null("(unnamed)"), pl.lit(" — "), pl.col("artist_name").fill_null("?")
                ).alias("track")
            )
            st.altair_chart(
                charts.ranked_bars(
                    shown,
                    "track",
                    details=[alt.Tooltip("minutes:Q", format=",.1f"), alt.Tooltip("share:Q", format=".1%")],
                ),
                width="stretch",
            )
            st.dataframe(
                tracks.select(
                    "rank",
                    pl.col("name").alias("track"),
                    pl.col("artist_name").alias("artist"),
                    "plays",
                    "minutes",
                    "share",
                ),
                hide_index=True,
                width="stretch",
                column_config={"share": st.column_config.NumberColumn("share of plays", format="percent")},
            )
