"""Coverage: which days have data from which source, and where the gaps are."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, common, data

st.title("Coverage")
picked = common.pick_user() if common.require_marts("dim_users", "fct_coverage_daily", "agg_daily_listening") else None
if picked is not None:
    user_id, _ = picked
    summary = data.coverage_summary(user_id)
    if summary.height == 0:
        st.info("No data yet for this user.")
    else:
        st.dataframe(summary, hide_index=True, width="stretch")
        window = common.pick_window(user_id, key="coverage", default="Last 365 days")
        if window is not None:
            start, end = window
            days = data.coverage(user_id, start, end)
            span = (end - start).days + 1
            st.metric("Days with data", f"{days.height:,} of {span:,}", help="days without a cell are gaps")
            if days.height:
                st.altair_chart(charts.coverage_calendar(days), width="stretch")
            st.caption(
                "Spotify's API returns only the last 50 plays: days before you connected come from export ZIPs only."
            )
