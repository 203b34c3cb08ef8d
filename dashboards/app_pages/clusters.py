"""Taste clusters in plain words: what each group of artists is, how big it is, and how its share moved."""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from core.marts import clusters as words
from core.marts.windows import Grain, date_range_text, grain_for, make_span, user_zone
from dashboards import charts, common, figures

st.title("Taste clusters")
listener = common.pick_user() if common.require_marts("dim_users", "fct_taste_clusters") else None
if listener is not None and common.has_history(listener):
    zone = user_zone(listener.timezone)
    stored = {row["window_name"]: row for row in figures.clusterings(listener.user_id).iter_rows(named=True)}
    names = [name for name in words.WINDOW_ORDER if name in stored]
    if not names:
        st.info("No taste clusters yet: the transform computes them once there are at least four artists with plays.")
    else:
        choice = st.radio(
            "Window",
            names,
            format_func=lambda name: words.WINDOW_TITLES.get(name, name),
            horizontal=True,
            key="clusters_window",
        )
        meta = stored[choice]
        start = meta["window_start"].astimezone(zone).date()
        end = (meta["window_end"] - dt.timedelta(microseconds=1)).astimezone(zone).date()
        computed = meta["computed_at"].astimezone(zone)
        st.markdown(words.MEANING)
        st.markdown(
            f"**Built from** {words.FEATURE_SETS.get(str(meta['feature_set']), str(meta['feature_set']))}.  \n"
            f"**How distinct:** {words.describe_silhouette(meta['quality_score'])}.  \n"
            f"**Covers** {date_range_text(start, end)}; computed {computed:%-d %b %Y at %H:%M} ({listener.timezone})."
        )
        rows = figures.cluster_rows(listener.user_id, choice)
        names_of = {int(row["cluster_id"]): words.cluster_name(row["top_artists"]) for row in rows}
        st.altair_chart(
            charts.share_bars(
                [
                    {"cluster": names_of[int(row["cluster_id"])], "share": row["share_of_plays"], "plays": row["plays"]}
                    for row in rows
                ],
                "cluster",
                f"Share of plays per cluster ({words.WINDOW_TITLES.get(choice, choice).lower()})",
            ),
            width="stretch",
        )
        span = make_span(choice, start, end, zone, listener.today)
        # A share moves slowly and a day holds few plays: one grain coarser than a plays chart of the span.
        grain = {Grain.day: Grain.week, Grain.week: Grain.month}.get(grain_for(span), Grain.month)
        over_time = figures.cluster_share_over_time(listener.user_id, choice, span, grain)
        if over_time.height:
            st.altair_chart(charts.cluster_timeline(over_time, names_of, grain), width="stretch")
        for row in rows:
            name = names_of[int(row["cluster_id"])]
            with st.expander(f"{name} — {row['share_of_plays']:.0%} of plays", expanded=True):
                apart = words.describe_distinguishing(row["distinguishing"] or {})
                if apart:
                    st.markdown(f"**What sets it apart:** {apart}.")
                left, right = st.columns(2)
                left.dataframe(
                    pl.DataFrame(
                        [{"artist": item.get("name"), "plays": item.get("plays")} for item in row["top_artists"]],
                        schema={"artist": pl.String, "plays": pl.Int64},
                    ),
                    hide_index=True,
                    width="stretch",
                )
                right.dataframe(
                    pl.DataFrame(
                        [
                            {"track": item.get("name"), "artist": item.get("artist_name"), "plays": item.get("plays")}
                            for item in row["top_tracks"]
                        ],
                        schema={"track": pl.String, "artist": pl.String, "plays": pl.Int64},
                    ),
                    hide_index=True,
                    width="stretch",
                )
