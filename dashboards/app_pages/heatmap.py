"""Weekday × hour heatmap in the user's time zone."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, common, data

st.title("When you listen")
picked = (
    common.pick_user()
    if common.require_marts("dim_users", "fct_listening_heatmap", "agg_hourly_listening", "agg_daily_listening")
    else None
)
if picked is not None:
    user_id, timezone = picked
    window = common.pick_window(user_id, key="heatmap", default="All time")
    if window is not None:
        start, end = window
        bounds = data.date_bounds(user_id)
        all_time = bounds is not None and (start, end) == bounds
        frame = data.heatmap(user_id) if all_time else data.heatmap(user_id, start, end)
        if frame.height == 0 or int(frame["plays"].sum()) == 0:
            st.info("No music plays in this window.")
        else:
            st.altair_chart(charts.heatmap(frame, timezone), width="stretch")
            busiest = frame.sort("plays", descending=True).row(0, named=True)
            st.caption(
                f"Busiest: {charts.WEEKDAYS[busiest['weekday'] - 1]} {busiest['hour']:02d}:00 "
                f"({busiest['plays']:,} plays). Hours are local to {timezone}; change it in the admin UI (Users)."
            )
