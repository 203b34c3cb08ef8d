"""Time windows of history tools: `days`, or `start`/`end` dates, or a named period, in the user's time zone.

Windows are whole local days: `start_date` and `end_date` are both included, matching the marts' `local_date`.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field

from serve.tools.errors import InvalidArguments

DEFAULT_DAYS = 90
MAX_DAYS = 36_600


class Period(StrEnum):
    today = "today"
    yesterday = "yesterday"
    this_week = "this_week"
    last_week = "last_week"
    last_7_days = "last_7_days"
    last_30_days = "last_30_days"
    last_90_days = "last_90_days"
    last_365_days = "last_365_days"
    this_month = "this_month"
    last_month = "last_month"
    this_year = "this_year"
    last_year = "last_year"
    all_time = "all_time"


class Window(BaseModel):
    """The resolved window of an answer."""

    label: str = Field(
        description="How the window was asked for, e.g. `last_90_days`, `this_month`, `2026-01-01..2026-03-31`."
    )
    start_date: date = Field(description="First local day included.")
    end_date: date = Field(description="Last local day included.")
    days: int = Field(description="Number of days in the window.")
    timezone: str = Field(description="IANA time zone the days are counted in (the user's).")
    start: datetime = Field(description="Start of the window (local midnight, with offset).")
    end: datetime = Field(description="End of the window, exclusive (local midnight after end_date).")
    ongoing: bool = Field(description="True when the window includes today, so it is not over yet.")


def user_zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except ZoneInfoNotFoundError, ValueError:
        return ZoneInfo("UTC")


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _previous_month_start(day: date) -> date:
    first = _month_start(day)
    return _month_start(first - timedelta(days=1))


def period_range(period: Period, today: date, first_date: date | None) -> tuple[date, date]:
    """The inclusive local-day range of a named period, as seen on `today`."""
    match period:
        case Period.today:
            return today, today
        case Period.yesterday:
            day = today - timedelta(days=1)
            return day, day
        case Period.this_week:
            return today - timedelta(days=today.isoweekday() - 1), today
        case Period.last_week:
            monday = today - timedelta(days=today.isoweekday() - 1)
            return monday - timedelta(days=7), monday - timedelta(days=1)
        case Period.last_7_days:
            return today - timedelta(days=6), today
        case Period.last_30_days:
            return today - timedelta(days=29), today
        case Period.last_90_days:
            return today - timedelta(days=89), today
        case Period.last_365_days:
            return today - timedelta(days=364), today
        case Period.this_month:
            return _month_start(today), today
        case Period.last_month:
            return _previous_month_start(today), _month_start(today) - timedelta(days=1)
        case Period.this_year:
            return date(today.year, 1, 1), today
        case Period.last_year:
            return date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)
        case Period.all_time:
            start = min(first_date, today) if first_date is not None else today
            return start, today


def preceding_range(period: Period | None, start: date, end: date) -> tuple[date, date, str]:
    """The window to compare with by default: the previous calendar unit for calendar periods, else the
    same number of days just before."""
    match period:
        case Period.this_month | Period.last_month:
            previous_start = _previous_month_start(start)
            same_day = min(end.day, (start - timedelta(days=1)).day)
            previous_end = previous_start.replace(day=same_day) if period is Period.this_month else start - timedelta(1)
            label = "previous_month_to_date" if period is Period.this_month else "month_before_last"
            return previous_start, previous_end, label
        case Period.this_year | Period.last_year:
            previous_start = date(start.year - 1, 1, 1)
            previous_end = _safe_replace_year(end, start.year - 1)
            return (
                previous_start,
                previous_end,
                "previous_year_to_date" if period is Period.this_year else "year_before",
            )
        case Period.this_week | Period.last_week:
            return start - timedelta(days=7), end - timedelta(days=7), "previous_week"
        case _:
            length = (end - start).days + 1
            return start - timedelta(days=length), start - timedelta(days=1), f"previous_{length}_days"


def _safe_replace_year(day: date, year: int) -> date:
    try:
        return day.replace(year=year)
    except ValueError:  # 29 February
        return day.replace(year=year, day=28)


def make_window(label: str, start_date: date, end_date: date, zone: ZoneInfo, today: date) -> Window:
    start = datetime.combine(start_date, time.min, tzinfo=zone)
    end = datetime.combine(end_date + timedelta(days=1), time.min, tzinfo=zone)
    return Window(
        label=label,
        start_date=start_date,
        end_date=end_date,
        days=(end_date - start_date).days + 1,
        timezone=zone.key,
        start=start,
        end=end,
        ongoing=start_date <= today <= end_date,
    )


def resolve_window(
    *,
    days: int | None,
    start: date | None,
    end: date | None,
    period: Period | None,
    zone: ZoneInfo,
    today: date,
    first_date: date | None,
    field_prefix: str = "",
) -> Window:
    """Turn the window arguments into a `Window`; conflicting or impossible arguments name the field."""
    names = {"days": f"{field_prefix}days", "start": f"{field_prefix}start", "end": f"{field_prefix}end"}
    period_name = f"{field_prefix}period" if field_prefix else "period"
    if period is not None:
        for name, value in (("days", days), ("start", start), ("end", end)):
            if value is not None:
                raise InvalidArguments.field(names[name], f"give either `{period_name}` or `{names[name]}`, not both")
        first, last = period_range(period, today, first_date)
        return make_window(period.value, first, last, zone, today)
    if start is not None or end is not None:
        if days is not None and start is not None and end is not None:
            raise InvalidArguments.field(names["days"], "give `days` or `start`/`end`, not both")
        if start is None:
            assert end is not None
            start = end - timedelta(days=(days or DEFAULT_DAYS) - 1)
        if end is None:
            end = start + timedelta(days=days - 1) if days is not None else today
        if end < start:
            raise InvalidArguments.field(names["end"], "must be on or after `start`")
        if (end - start).days + 1 > MAX_DAYS:
            raise InvalidArguments.field(names["start"], f"windows are at most {MAX_DAYS} days")
        return make_window(f"{start.isoformat()}..{end.isoformat()}", start, end, zone, today)
    count = days if days is not None else DEFAULT_DAYS
    return make_window(f"last_{count}_days", today - timedelta(days=count - 1), today, zone, today)
