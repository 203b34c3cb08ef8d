"""Any two periods side by side (history.compare_periods): the same spans, figures and movers."""

from __future__ import annotations

import polars as pl
import streamlit as st

from core.marts import compare
from core.marts.windows import Period, equal_spans, preceding
from dashboards import charts, common, figures

st.title("Compare periods")
listener = (
    common.pick_user() if common.require_marts("dim_users", "agg_daily_listening", "agg_daily_track_plays") else None
)
if listener is not None and common.has_history(listener):
    left, right = st.columns(2)
    with left:
        first = common.pick_window(listener, key="compare_a", default=Period.last_30_days, label="Period")
    with right:
        against = st.checkbox("Compare with the period just before", value=True, key="compare_before")
        named = first.label if first.label in set(Period) else None
        second = (
            preceding(Period(named) if named else None, first)
            if against
            else common.pick_window(listener, key="compare_b", default=Period.last_365_days, label="Compared with")
        )
    equal = st.toggle(
        "Equal spans", value=True, key="compare_equal", help="cut the longer period when the shorter is under way"
    )
    shown_first, shown_second = equal_spans(first, second) if equal else (first, second)
    cut = (shown_first, shown_second) != (first, second)
    st.caption(compare.spans_note(shown_first, shown_second, cut=cut, for_people=True))
    found = figures.comparison(listener.user_id, shown_first, shown_second, 15)
    a, b = found.first, found.second

    def delta(now: float, before: float) -> str | None:
        change = compare.pct(now, before)
        return None if change is None else f"{change:+.1f}%"

    columns = st.columns(4)
    columns[0].metric("Plays", common.number(a.plays), delta(a.plays, b.plays), help=f"before: {b.plays:,}")
    columns[1].metric(
        "Minutes listened", f"{a.minutes:,.0f}", delta(a.minutes, b.minutes), help=f"before: {b.minutes:,.0f}"
    )
    columns[2].metric(
        "Different artists",
        common.number(a.unique_artists),
        delta(a.unique_artists, b.unique_artists),
        help=f"before: {b.unique_artists:,}",
    )
    columns[3].metric(
        "Plays per day",
        f"{compare.per_day(a.plays, shown_first):,.1f}",
        delta(compare.per_day(a.plays, shown_first), compare.per_day(b.plays, shown_second)),
        help=f"before: {compare.per_day(b.plays, shown_second):,.1f}",
    )
    if found.movers.height:
        st.altair_chart(charts.movers(found.movers, shown_first.title, shown_second.title), width="stretch")
    if found.new_artists.height:
        st.subheader("New artists")
        st.dataframe(
            found.new_artists.select(pl.col("name").alias("artist"), "plays", "minutes"),
            hide_index=True,
            width="stretch",
        )
    elif a.plays:
        st.caption("No new artists: every artist of the period had been played before it.")
