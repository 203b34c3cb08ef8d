"""Discovery: artists heard for the first time, per month."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, common, data

st.title("Discovery")
picked = common.pick_user() if common.require_marts("dim_users", "agg_daily_track_plays") else None
if picked is not None:
    user_id, _ = picked
    months = data.new_artists_per_month(user_id)
    if months.height == 0:
        st.info("No plays yet for this user.")
    else:
        st.altair_chart(charts.monthly_bars(months, "new_artists", "New artists per month"), width="stretch")
        st.caption("An artist counts as new in the month of its first play in your history (imports included).")
