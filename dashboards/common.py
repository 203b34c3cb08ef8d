"""What every page shares: the user picker, the window picker and the "no data yet" notice."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from dashboards import data

WINDOWS = {
    "Last 30 days": 30,
    "Last 90 days": 90,
    "Last 365 days": 365,
    "All time": None,
    "Custom": -1,
}


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


def pick_user() -> tuple[str, str] | None:
    """Sidebar user choice (kept across pages); returns (user_id, timezone) or None with a notice."""
    if not require_marts("dim_users"):
        return None
    users = data.users()
    if users.height == 0:
        st.info("No listening data yet: import an export ZIP or connect Spotify in the admin UI.")
        return None
    labels = {row["user_id"]: f"{row['display_name']}" for row in users.iter_rows(named=True)}
    timezones = {row["user_id"]: row["timezone"] for row in users.iter_rows(named=True)}
    ids = list(labels)
    current = st.session_state.get("user_id")
    index = ids.index(current) if current in ids else 0
    chosen = st.sidebar.selectbox("User", ids, index=index, format_func=lambda key: labels[key], key="user_picker")
    st.session_state["user_id"] = chosen
    return str(chosen), str(timezones[chosen] or "UTC")


def pick_window(user_id: str, *, key: str, default: str = "Last 90 days") -> tuple[dt.date, dt.date] | None:
    """A date window ending on the user's latest day with data (not today: history may be old)."""
    bounds = data.date_bounds(user_id)
    if bounds is None:
        st.info("This user has no plays in the marts yet.")
        return None
    first, last = bounds
    names = list(WINDOWS)
    choice = st.radio("Window", names, index=names.index(default), horizontal=True, key=f"{key}_window")
    days = WINDOWS[choice]
    if days == -1:
        picked = st.date_input(
            "From – to",
            value=(max(first, last - dt.timedelta(days=89)), last),
            min_value=first,
            max_value=last,
            key=f"{key}_dates",
        )
        if isinstance(picked, tuple) and len(picked) == 2:
            return picked[0], picked[1]
        st.caption("Pick an end date.")
        return None
    if days is None:
        return first, last
    return max(first, last - dt.timedelta(days=days - 1)), last
