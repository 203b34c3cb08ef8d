"""Coverage: which days have data from which source, and where the gaps are (history.coverage)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from core.marts.windows import Period, date_range_text
from dashboards import charts, common, figures

SOURCES = {
    "import_zip": "Spotify export (ZIP)",
    "spotify_api": "Spotify API (polled)",
    "listenbrainz": "ListenBrainz (scrobbles)",
    "lastfm": "Last.fm (scrobbles)",
}

st.title("Coverage")
listener = (
    common.pick_user() if common.require_marts("dim_users", "fct_coverage_daily", "agg_daily_listening") else None
)
if listener is not None and common.has_history(listener):
    span = common.pick_window(listener, key="coverage", default=Period.all_time)
    found = figures.coverage(listener.user_id, span)
    columns = st.columns(3)
    columns[0].metric("Days with data", f"{found.days_with_data:,} of {found.days_elapsed:,}")
    columns[1].metric("Coverage", common.percent(found.coverage_ratio))
    longest = found.largest_gaps[0].days if found.largest_gaps else 0
    columns[2].metric("Longest gap", "none" if not longest else f"{longest:,} day" + ("s" if longest > 1 else ""))
    st.caption(common.describe_window(span, listener) + " " + found.note)
    if found.sources:
        st.dataframe(
            pl.DataFrame(
                [
                    {
                        "source": SOURCES.get(item.source, item.source),
                        "days": item.days_with_data,
                        "listens": item.listens,
                    }
                    for item in found.sources
                ]
            ),
            hide_index=True,
        )
    rows = figures.coverage_rows(listener.user_id, span)
    st.altair_chart(charts.coverage_calendar(charts.coverage_days(rows, span)), width="content")
    if found.largest_gaps:
        st.subheader("Largest gaps")
        st.dataframe(
            pl.DataFrame(
                [
                    {"from – to": date_range_text(gap.start_date, gap.end_date), "days": gap.days}
                    for gap in found.largest_gaps
                ]
            ),
            hide_index=True,
        )
    st.caption(
        "Grey days have no listens: either you did not listen or nothing collected them. Spotify's API returns only "
        "the last 50 plays, so days before you connected come from export ZIPs only."
    )
