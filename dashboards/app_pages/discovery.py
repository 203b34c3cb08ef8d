"""Discovery: artists heard for the first time, over any window."""

from __future__ import annotations

import polars as pl
import streamlit as st

from core.marts.windows import Period, grain_for
from dashboards import charts, common, figures

st.title("Discovery")
listener = common.pick_user() if common.require_marts("dim_users", "agg_daily_track_plays") else None
if listener is not None and common.has_history(listener):
    span = common.pick_window(listener, key="discovery", default=Period.all_time)
    new_artists, new_tracks, artists = figures.discoveries(listener.user_id, span, 15)
    columns = st.columns(2)
    columns[0].metric("New artists", common.number(new_artists), help="first played ever in this window")
    columns[1].metric("New tracks", common.number(new_tracks), help="first played ever in this window")
    st.caption(
        common.describe_window(span, listener)
        + " An artist or track is new in the window of its first play in your whole history (imports included)."
    )
    if new_artists == 0 and figures.summary(listener.user_id, span).plays == 0:
        common.empty_window(span, listener)
    elif new_artists == 0:
        st.info("Every artist you played in this window had been played before it.")
    else:
        grain = grain_for(span)
        over_time = figures.discoveries_over_time(listener.user_id, span, grain)
        st.altair_chart(charts.timeline(over_time, "new_artists", "New artists", grain, span.today), width="stretch")
        left, right = st.columns(2)
        with left:
            st.subheader("Most played new artists")
            st.altair_chart(
                charts.ranked_bars(artists.with_columns(pl.col("name").alias("artist")), "artist"), width="stretch"
            )
        with right:
            st.subheader("Most played new tracks")
            shown = figures.new_tracks(listener.user_id, span, 15).with_columns(
                pl.concat_str(
                    pl.col("name").fill_null("(unnamed)"), pl.lit(" — "), pl.col("artist_name").fill_null("?")
                ).alias("track")
            )
            st.altair_chart(charts.ranked_bars(shown, "track"), width="stretch")
