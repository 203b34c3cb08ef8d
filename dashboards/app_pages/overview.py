"""Plays, listening time and different tracks and artists over any window, at the grain the span calls for."""

from __future__ import annotations

import streamlit as st

from core.marts.windows import grain_for
from dashboards import charts, common, figures

st.title("Overview")
listener = (
    common.pick_user() if common.require_marts("dim_users", "agg_daily_listening", "agg_daily_track_plays") else None
)
if listener is not None and common.has_history(listener):
    span = common.pick_window(listener, key="overview")
    found = figures.summary(listener.user_id, span)
    columns = st.columns(4)
    columns[0].metric("Plays", common.number(found.plays))
    columns[1].metric(
        "Minutes listened", f"{found.minutes:,.0f}", help=f"{found.minutes / 60:,.1f} hours, every listen counted"
    )
    columns[2].metric("Different tracks", common.number(found.unique_tracks), help="tracks with at least one play")
    columns[3].metric("Different artists", common.number(found.unique_artists), help="artists with at least one play")
    st.caption(
        common.describe_window(span, listener) + " A play is a listen of at least 30 s (or an API play of unknown "
        "length) — the same figures an assistant gets for this window."
    )
    if found.plays == 0 and found.listens == 0:
        common.empty_window(span, listener)
    else:
        grain = grain_for(span)
        series = figures.series(listener.user_id, span, grain)
        st.altair_chart(charts.timeline(series, "plays", "Plays", grain, span.today), width="stretch")
        st.altair_chart(
            charts.timeline(series, "hours", "Hours", grain, span.today, value_format=",.1f"), width="stretch"
        )
        st.altair_chart(charts.uniques_timeline(series, grain, span.today), width="stretch")
