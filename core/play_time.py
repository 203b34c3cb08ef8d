"""When a listen can have happened: between Spotify's launch and (a little after) now.

One guard for every way plays arrive (export records at import, API plays at landing). A play outside this
range is not a listen but a broken record: `0001-01-01` lands in PostgreSQL as `-infinity` and breaks every
date computation after it, and a play in the future would become the polling cursor and hide every real
play until that date. Such records are skipped (and counted, with the reason), never stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

# Spotify launched on 2006-04-23; nobody listened on it earlier.
EARLIEST: Final = datetime(2006, 4, 23, tzinfo=UTC)
# Clocks of phones and of Spotify's export disagree a little; more than a day ahead is not a clock skew.
FUTURE_TOLERANCE: Final = timedelta(days=1)


def latest_allowed(now: datetime | None = None) -> datetime:
    """The latest plausible end of a play, seen at `now` (default: the current time)."""
    return (now or datetime.now(UTC)) + FUTURE_TOLERANCE


def out_of_range(played_at: datetime, latest: datetime) -> str | None:
    """Why `played_at` cannot be a real play (for a message), or None when it can. `latest`: `latest_allowed()`."""
    if played_at < EARLIEST:
        return f"is before {EARLIEST:%Y-%m-%d}, when Spotify launched"
    if played_at > latest:
        return f"is more than {FUTURE_TOLERANCE.days} day in the future"
    return None
