"""Plays, listening time and unique artists/tracks over time."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, common, data

st.title("Overview")
picked = (
    common.pick_user() if common.require_marts("dim_users", "agg_daily_listening", "agg_daily_track_plays") else None
)
if picked is not None:
    user_id, timezone = picked
    window = common.pick_window(user_id, key="overview")
    if window is not None:
        start, end = window
        totals = data.window_totals(user_id, start, end)
        columns = st.columns(4)
        columns[0].metric("Plays", f"{totals['plays']:,.0f}")
        columns[1].metric("Hours listened", f"{totals['hours']:,.1f}")
        columns[2].metric("Unique tracks", f"{totals['unique_tracks']:,.0f}")
        columns[3].metric("Unique artists", f"{totals['unique_artists']:,.0f}")
        st.caption(f"{start} to {end}, days in {timezone}. A play is a listen of at least 30 s (or an API play).")
        daily = data.daily_listening(user_id, start, end)
        if daily.height == 0:
            st.info("No music plays in this window.")
        else:
            st.altair_chart(charts.daily_series(daily, "plays", "Plays per day"), width="stretch")
            st.altair_chart(charts.daily_series(daily, "hours", "Hours per day"), width="stretch")
            st.altair_chart(charts.weekly_uniques(daily), width="stretch")
