"""Repeat behaviour: how concentrated listening is on a few tracks (history.repeat_rate)."""

from __future__ import annotations

import streamlit as st

from core.marts.windows import Period
from dashboards import charts, common, figures

st.title("Repeat behaviour")
listener = (
    common.pick_user() if common.require_marts("dim_users", "fct_repeat_stats", "agg_daily_track_plays") else None
)
if listener is not None and common.has_history(listener):
    span = common.pick_window(listener, key="repeat", default=Period.all_time)
    stats = figures.repeat(listener.user_id, span)
    if stats.plays == 0:
        common.empty_window(span, listener)
    else:
        columns = st.columns(4)
        columns[0].metric(
            "Repeat rate", common.percent(stats.repeat_rate), help="1 − different tracks / plays: how much is replayed"
        )
        columns[1].metric(
            "Top-10 share", common.percent(stats.top10_share), help="share of plays by the 10 most played tracks"
        )
        columns[2].metric("Tracks played once", common.number(stats.tracks_played_once))
        columns[3].metric("Most plays of one track", common.number(stats.max_plays_single_track))
        st.caption(f"{common.describe_window(span, listener)} {stats.plays:,} plays of {stats.unique_tracks:,} tracks.")
        st.altair_chart(charts.plays_histogram(figures.plays_per_track(listener.user_id, span)), width="stretch")
