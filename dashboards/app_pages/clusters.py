"""Taste clusters from the cluster step (marts.fct_taste_clusters)."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, common, data

st.title("Taste clusters")
picked = common.pick_user() if common.require_marts("dim_users", "fct_taste_clusters") else None
if picked is not None:
    user_id, _ = picked
    clusters = data.taste_clusters(user_id)
    if clusters.height == 0:
        st.info("No taste clusters yet: they are computed by the transform once there is enough listening.")
    else:
        windows = sorted(set(clusters["window_name"].to_list()))
        window = st.radio("Window", windows, horizontal=True, key="clusters_window")
        chosen = clusters.filter(clusters["window_name"] == window)
        first = chosen.row(0, named=True)
        st.caption(
            f"{first['k']} clusters from {first['feature_set']} features, silhouette {first['quality_score']:.2f} "
            f"(−1…1, higher is cleaner), computed {first['computed_at']}."
        )
        st.altair_chart(charts.cluster_shares(chosen), width="stretch")
        for row in chosen.iter_rows(named=True):
            with st.expander(f"{row['label']} — {row['share_of_plays']:.0%} of plays"):
                st.write("**Artists:** " + (data.names_from_json(row["top_artists"]) or "—"))
                st.write("**Tracks:** " + (data.names_from_json(row["top_tracks"]) or "—"))
                st.write("**What sets it apart:** " + (row["distinguishing"] or "—"))
