"""What every page shares: the user picker, the window picker (the tools' named windows, in the user's zone, ending
today), the "no data" notices and number formats."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import streamlit as st

from core.marts.windows import (
    PERIOD_TITLES,
    Period,
    Span,
    date_range_text,
    local_today,
    make_span,
    period_span,
    user_zone,
)
from dashboards import data, figures

WINDOW_CHOICES: tuple[Period, ...] = (
    Period.last_30_days,
    Period.last_90_days,
    Period.last_365_days,
    Period.this_year,
    Period.last_year,
    Period.all_time,
)
CUSTOM = "Custom dates"


@dataclass(frozen=True, slots=True)
class Listener:
    user_id: str
    name: str
    timezone: str

    @property
    def today(self) -> dt.date:
        return local_today(user_zone(self.timezone), dt.datetime.now(dt.UTC))


def require_marts(*needed: str) -> bool:
    """Show a friendly notice and return False while the transform has not built what the page needs."""
    try:
        missing = data.missing_marts(*needed)
    except Exception as error:  # the database itself is unreachable
        st.error(f"Cannot reach the database: {str(error).splitlines()[0]}")
        return False
    if missing:
        st.info(
            "No analytics yet: the transform has not built "
            + ", ".join(f"`marts.{name}`" for name in missing)
            + ". Import an export or connect Spotify, then run the transform (admin UI → Dashboard)."
        )
        return False
    return True


def pick_user() -> Listener | None:
    """Sidebar user choice (kept across pages); None with a notice when there is nobody to show."""
    if not require_marts("dim_users"):
        return None
    users = data.users()
    if users.height == 0:
        st.info("No listening data yet: import an export ZIP or connect Spotify in the admin UI.")
        return None
    listeners = {
        row["user_id"]: Listener(row["user_id"], str(row["display_name"]), str(row["timezone"] or "UTC"))
        for row in users.iter_rows(named=True)
    }
    ids = list(listeners)
    current = st.session_state.get("user_id")
    index = ids.index(current) if current in ids else 0
    chosen = st.sidebar.selectbox(
        "User", ids, index=index, format_func=lambda key: listeners[key].name, key="user_picker"
    )
    st.session_state["user_id"] = chosen
    return listeners[str(chosen)]


def has_history(listener: Listener) -> bool:
    if figures.bounds(listener.user_id).first_date is None:
        st.info("This user has no music plays in the warehouse yet.")
        return False
    return True


def all_time(listener: Listener) -> Span:
    return period_span(
        Period.all_time, user_zone(listener.timezone), listener.today, figures.bounds(listener.user_id).first_date
    )


def pick_window(listener: Listener, *, key: str, default: Period = Period.last_90_days, label: str = "Window") -> Span:
    """The same named windows as the tools (`core.marts.windows`), in the user's zone and ending today, or
    custom dates."""
    zone = user_zone(listener.timezone)
    today = listener.today
    first = figures.bounds(listener.user_id).first_date
    names = [PERIOD_TITLES[period] for period in WINDOW_CHOICES] + [CUSTOM]
    choice = st.radio(label, names, index=names.index(PERIOD_TITLES[default]), horizontal=True, key=f"{key}_window")
    if choice != CUSTOM:
        period = WINDOW_CHOICES[names.index(choice)]
        return period_span(period, zone, today, first)
    earliest = min(first or today, today)
    picked = st.date_input(
        "From – to",
        value=(max(earliest, today - dt.timedelta(days=89)), today),
        min_value=earliest,
        max_value=today,
        key=f"{key}_dates",
    )
    start, end = (picked[0], picked[1]) if isinstance(picked, tuple) and len(picked) == 2 else (today, today)
    return make_span(f"{start.isoformat()}..{end.isoformat()}", start, end, zone, today)


def describe_window(span: Span, listener: Listener) -> str:
    return f"{span.title}: {date_range_text(span.start_date, span.end_date)}, days in {listener.timezone}."


def empty_window(span: Span, listener: Listener) -> None:
    """Say that a window has no music plays, and where the history is."""
    found = figures.bounds(listener.user_id)
    where = ""
    if found.first_date is not None and found.last_date is not None:
        where = (
            f" Your history runs from {date_range_text(found.first_date, found.last_date)} — pick *All time* or "
            "dates in that range."
        )
    st.info(f"No music plays in this window ({date_range_text(span.start_date, span.end_date)}).{where}")


def number(value: float) -> str:
    return f"{value:,.0f}"


def percent(value: float) -> str:
    return f"{value:.0%}"
