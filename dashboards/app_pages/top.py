"""Top artists and tracks for any window."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, common, data

st.title("Top artists & tracks")
picked = (
    common.pick_user()
    if common.require_marts("dim_users", "agg_daily_track_plays", "dim_tracks", "dim_artists")
    else None
)
if picked is not None:
    user_id, _ = picked
    window = common.pick_window(user_id, key="top", default="Last 30 days")
    if window is not None:
        start, end = window
        limit = st.slider("How many", 5, 100, 20, key="top_limit")
        artists_tab, tracks_tab = st.tabs(["Artists", "Tracks"])
        with artists_tab:
            artists = data.top_artists(user_id, start, end, limit)
            if artists.height == 0:
                st.info("No plays in this window.")
            else:
                st.altair_chart(charts.ranked_bars(artists, "artist"), width="stretch")
                st.dataframe(artists, hide_index=True, width="stretch")
        with tracks_tab:
            tracks = data.top_tracks(user_id, start, end, limit)
            if tracks.height == 0:
                st.info("No plays in this window.")
            else:
                st.altair_chart(charts.ranked_bars(tracks, "track"), width="stretch")
                st.dataframe(tracks, hide_index=True, width="stretch")
