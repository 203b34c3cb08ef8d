"""One artist: find them by name; first and last play, plays over time, top tracks and share of listening."""

from __future__ import annotations

import altair as alt
import polars as pl
import streamlit as st

from core.marts.windows import Period, date_text, grain_for
from dashboards import charts, common, figures

st.title("Artist")
listener = common.pick_user() if common.require_marts("dim_users", "agg_daily_track_plays", "dim_artists") else None
if listener is not None and common.has_history(listener):
    text = st.text_input("Search an artist", key="artist_search", placeholder="a name or part of it")
    found = figures.artist_search(listener.user_id, text, common.all_time(listener))
    if found.height == 0:
        st.info(f"No artist you played has “{text}” in their name.")
    else:
        options = {row["artist_id"]: f"{row['name']} ({row['plays']:,} plays)" for row in found.iter_rows(named=True)}
        artist_id = st.selectbox("Artist", list(options), format_func=lambda key: options[key], key="artist_pick")
        span = common.pick_window(listener, key="artist", default=Period.all_time)
        profile = figures.artist_profile(listener.user_id, str(artist_id), span)
        st.header(str(profile["name"] or "(unnamed artist)"))
        columns = st.columns(4)
        columns[0].metric("Plays", common.number(profile["plays"]))
        columns[1].metric("Minutes listened", f"{profile['minutes']:,.0f}")
        columns[2].metric(
            "Share of your plays", f"{profile['share']:.1%}", help="of all your music plays in this window"
        )
        columns[3].metric(
            "Rank",
            f"#{profile['rank']:,}" if profile["rank"] else "—",
            help=f"among {profile['artists']:,} artists with plays in this window",
        )
        first, last = profile["first_date"], profile["last_date"]
        if first is not None and last is not None:
            first_track = f" (“{profile['first_track']}”)" if profile["first_track"] else ""
            st.markdown(
                f"**First play** {date_text(first)}{first_track} · **last play** {date_text(last)} · "
                f"{profile['tracks']:,} different tracks on {profile['days']:,} days in this window."
            )
        st.caption(common.describe_window(span, listener))
        if profile["plays"] == 0:
            st.info("No plays of this artist in this window.")
        else:
            grain = grain_for(span)
            over_time = figures.artist_over_time(listener.user_id, str(artist_id), span, grain)
            st.altair_chart(charts.timeline(over_time, "plays", "Plays", grain, span.today), width="stretch")
            tracks = figures.artist_top_tracks(listener.user_id, str(artist_id), span)
            st.altair_chart(
                charts.ranked_bars(
                    tracks.with_columns(pl.col("name").alias("track")),
                    "track",
                    title="Top tracks",
                    details=[alt.Tooltip("minutes:Q", format=",.1f")],
                ),
                width="stretch",
            )
