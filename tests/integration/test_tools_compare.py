"""history.compare_periods compares equal spans by default and says which spans it compared (issue 15.9), on a
real PostgreSQL with marts-shaped data, on a fixed day: the 5th of November in the user's zone."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.settings import Settings
from serve.tools import periods as tools
from serve.tools.models import CompareArgs
from serve.tools.registry import Principal, ToolContext
from serve.tools.windows import Period
from tests.fixtures.marts import History, standard_history

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 5, 21, 30, tzinfo=BERLIN)


def _plays(history: History, start: date, end: date) -> int:
    return len(history.plays_between(start, end))


async def test_this_month_on_the_5th_meets_the_first_5_days_of_last_month(
    engine: AsyncEngine, database_url: str, settings: Settings
) -> None:
    history = standard_history(database_url, NOW, timezone="Europe/Berlin")
    async with AsyncSession(engine) as session:
        context = ToolContext(session, Principal.admin(), settings, now=NOW)
        answer = await tools.compare_periods(
            context, CompareArgs(period=Period.this_month, compare_to=Period.last_month), history.user_id
        )
        assert (answer.compare_to.window.start_date, answer.compare_to.window.end_date) == (
            date(2026, 10, 1),
            date(2026, 10, 5),
        )
        whole = await tools.compare_periods(
            context,
            CompareArgs(period=Period.this_month, compare_to=Period.last_month, equal_spans=False),
            history.user_id,
        )
    first, second = answer.period.window, answer.compare_to.window
    assert (first.start_date, first.end_date, first.days) == (date(2026, 11, 1), date(2026, 11, 5), 5)
    assert (second.start_date, second.end_date, second.days) == (date(2026, 10, 1), date(2026, 10, 5), 5)
    assert second.label == "last_month (first 5 days)"
    assert answer.equal_spans is True
    assert "this_month (1 Nov 2026 – 5 Nov 2026, 5 days)" in answer.spans_note
    assert "(1 Oct 2026 – 5 Oct 2026, 5 days)" in answer.spans_note
    # The history plays more each day of the last 30 days (a favourite on repeat): like for like, November so far
    # is up, where 5 days against all 31 of October read as a drop of about 80 %.
    assert answer.period.plays == _plays(history, date(2026, 11, 1), date(2026, 11, 5))
    assert answer.compare_to.plays == _plays(history, date(2026, 10, 1), date(2026, 10, 5))
    assert answer.plays_change_pct is not None and answer.plays_change_pct > 30

    # Whole periods on request, with per-day figures that still compare.
    assert (whole.compare_to.window.start_date, whole.compare_to.window.end_date) == (
        date(2026, 10, 1),
        date(2026, 10, 31),
    )
    assert whole.equal_spans is False and "per-day" in whole.spans_note
    assert whole.plays_change_pct is not None and whole.plays_change_pct < -60
    assert whole.period.plays_per_day == round(whole.period.plays / 5, 1)
    assert whole.compare_to.plays_per_day == round(whole.compare_to.plays / 31, 1)


async def test_the_default_comparison_is_the_same_days_before(
    engine: AsyncEngine, database_url: str, settings: Settings
) -> None:
    history = standard_history(database_url, NOW, timezone="Europe/Berlin")
    async with AsyncSession(engine) as session:
        context = ToolContext(session, Principal.admin(), settings, now=NOW)
        default = await tools.compare_periods(context, CompareArgs(), history.user_id)
        year = await tools.compare_periods(context, CompareArgs(period=Period.this_year), history.user_id)
    assert (default.compare_to.window.start_date, default.compare_to.window.end_date) == (
        date(2026, 10, 1),
        date(2026, 10, 5),
    )
    assert default.compare_to.window.label == "previous_month_to_date" and default.equal_spans
    assert (year.compare_to.window.start_date, year.compare_to.window.end_date) == (date(2025, 1, 1), date(2025, 11, 5))
    assert "Compared this_year (1 Jan 2026 – 5 Nov 2026, 309 days)" in year.spans_note
