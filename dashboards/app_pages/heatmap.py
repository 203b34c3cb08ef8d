"""When you listen: weekday × hour in the user's time zone (history.listening_heatmap)."""

from __future__ import annotations

import streamlit as st

from core.marts.windows import Period
from dashboards import charts, common, figures

st.title("When you listen")
listener = (
    common.pick_user()
    if common.require_marts("dim_users", "fct_listening_heatmap", "agg_hourly_listening", "agg_daily_listening")
    else None
)
if listener is not None and common.has_history(listener):
    span = common.pick_window(listener, key="heatmap", default=Period.all_time)
    found = figures.heatmap(listener.user_id, span)
    if found.plays == 0:
        common.empty_window(span, listener)
    else:
        st.altair_chart(charts.heatmap(found, listener.timezone), width="stretch")
        left, right = st.columns(2)
        left.altair_chart(charts.hour_bars(found.hour_totals), width="stretch")
        right.altair_chart(charts.weekday_bars(found.weekday_totals), width="stretch")
        st.caption(
            f"{common.describe_window(span, listener)} Most plays on {found.peak_weekday}s and at "
            f"{found.peak_hour:02d}:00 ({found.plays:,} plays in all). Hours are local to {listener.timezone}; "
            "change the time zone on the user's page in the admin UI."
        )
