"""Repeat behaviour: how concentrated listening is on a few tracks."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, common, data

st.title("Repeat behaviour")
picked = common.pick_user() if common.require_marts("dim_users", "fct_repeat_stats", "agg_daily_track_plays") else None
if picked is not None:
    user_id, _ = picked
    stats = data.repeat_stats(user_id)
    if stats is None:
        st.info("No plays yet for this user.")
    else:
        columns = st.columns(4)
        columns[0].metric("Repeat rate", f"{stats['repeat_rate']:.0%}", help="1 − unique tracks / plays")
        columns[1].metric(
            "Top-10 share", f"{stats['top10_share']:.0%}", help="share of plays by the 10 most played tracks"
        )
        columns[2].metric("Played once", f"{stats['tracks_played_once']:,.0f}")
        columns[3].metric("Most plays of one track", f"{stats['max_plays_single_track']:,.0f}")
        st.altair_chart(charts.buckets(data.plays_per_track_distribution(user_id)), width="stretch")
