"""The coverage calendar's day states (dashboards.charts.coverage_days) name scrobble-only days (issue 21)."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import polars as pl

from core.marts.windows import Span
from dashboards import charts


def test_a_day_only_scrobbles_cover_is_not_a_gap_and_scrobbles_leave_spotify_states_alone() -> None:
    rows = pl.DataFrame(
        {
            "local_date": [date(2026, 1, 1), date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3), date(2026, 1, 3)],
            "source": ["import_zip", "lastfm", "listenbrainz", "spotify_api", "import_zip"],
            "listens": [1, 2, 3, 4, 5],
        }
    )
    span = Span("x", date(2026, 1, 1), date(2026, 1, 4), ZoneInfo("UTC"), date(2026, 1, 5))
    days = charts.coverage_days(rows, span).select("local_date", "state", "listens").rows()
    assert days == [
        (date(2026, 1, 1), "export", 3),
        (date(2026, 1, 2), "scrobbles only", 3),
        (date(2026, 1, 3), "export + API", 9),
        (date(2026, 1, 4), charts.NO_DATA, 0),
    ]
    assert set(charts.COVERAGE_STATES) >= {state for _, state, _ in days}
