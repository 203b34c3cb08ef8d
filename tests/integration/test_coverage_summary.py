"""A window's coverage summarized by the database (`listening.coverage_summary`, what the tools answer with) equals
the summary of its per-day rows (`listening.summarize_coverage`, what the dashboards show), on a history with a
15-day gap, two sources and podcast days, for windows inside, across and outside the history."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.dburl import libpq_url
from core.marts import listening
from core.marts.sql import render
from core.marts.windows import make_span
from serve.tools import repository as repo
from tests.fixtures.marts import standard_history

NOW = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Berlin")


async def test_coverage_from_the_database_equals_the_summary_of_the_rows(
    engine: AsyncEngine, database_url: str
) -> None:
    history = standard_history(database_url, NOW)
    today = NOW.astimezone(ZONE).date()
    first = today - timedelta(days=399)
    windows = [
        (first, today),  # all time: the 15-day gap is the longest
        (today - timedelta(days=89), today),
        (today - timedelta(days=120), today - timedelta(days=95)),  # across the gap, in the past
        (today - timedelta(days=112), today - timedelta(days=102)),  # inside the gap: no data at all
        (first - timedelta(days=30), first + timedelta(days=10)),  # starts before the history
        (today + timedelta(days=1), today + timedelta(days=30)),  # not started
        (date(today.year, 1, 1), date(today.year, 12, 31)),  # this year, under way
    ]
    async with AsyncSession(engine) as session:
        with psycopg.connect(libpq_url(database_url)) as connection:
            for start, end in windows:
                span = make_span("w", start, end, ZONE, today)
                rows = connection.execute(render(listening.coverage_days(history.user_id, span))).fetchall()
                expected = listening.summarize_coverage([tuple(row) for row in rows], span, first)
                found = await repo.coverage(session, history.user_id, span, first)
                assert found == expected, (start, end)
    assert expected.days_elapsed > 0  # the last window has started: its figures were compared, not only notes
