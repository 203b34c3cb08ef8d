"""Windows of every answer: `days`, or `start`/`end` dates, or a named period, in the user's time zone.

A window is whole local days: `start_date` and `end_date` are both included, matching the marts' `local_date`;
as instants it runs from local midnight of `start_date` to local midnight after `end_date` (exclusive). Every
rolling or "this …" window ends **today in the user's zone**, on every face — not on the last day with data (an
old history shows an empty last 30 days and says where its data is, instead of quietly moving the window).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_DAYS = 90
MAX_DAYS = 36_600
# Time series: one point per day up to about three months, per week up to about two years, per month beyond.
DAILY_MAX_DAYS = 92
WEEKLY_MAX_DAYS = 731


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


PERIOD_TITLES: dict[Period, str] = {
    Period.today: "Today",
    Period.yesterday: "Yesterday",
    Period.this_week: "This week",
    Period.last_week: "Last week",
    Period.last_7_days: "Last 7 days",
    Period.last_30_days: "Last 30 days",
    Period.last_90_days: "Last 90 days",
    Period.last_365_days: "Last 365 days",
    Period.this_month: "This month",
    Period.last_month: "Last month",
    Period.this_year: "This year",
    Period.last_year: "Last year",
    Period.all_time: "All time",
}


class Grain(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class WindowError(ValueError):
    """Window arguments that conflict or are impossible; `field` names the argument to change."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"invalid value for `{field}`: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Bounds:
    """The extent of a user's music history in the marts (local days) and their newest listen."""

    first_date: date | None
    last_date: date | None
    latest_play_at: datetime | None


@dataclass(frozen=True, slots=True)
class Span:
    """A resolved window: whole local days in `zone`, seen on `today`."""

    label: str
    start_date: date
    end_date: date
    zone: ZoneInfo
    today: date

    @property
    def days(self) -> int:
        return (self.end_date - self.start_date).days + 1

    @property
    def start(self) -> datetime:
        return datetime.combine(self.start_date, time.min, tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        """Exclusive: local midnight after `end_date`."""
        return datetime.combine(self.end_date + timedelta(days=1), time.min, tzinfo=self.zone)

    @property
    def ongoing(self) -> bool:
        return self.start_date <= self.today <= self.end_date

    @property
    def days_elapsed(self) -> int:
        """Days of the window up to today (0 when it has not started)."""
        return max(0, (min(self.end_date, self.today) - self.start_date).days + 1)

    @property
    def title(self) -> str:
        """How a person would say the window: "Last 30 days", "this month", or its dates."""
        try:
            return PERIOD_TITLES[Period(self.label)]
        except ValueError:
            return date_range_text(self.start_date, self.end_date)

    def first_days(self, count: int, label: str) -> Span:
        return replace(self, label=label, end_date=self.start_date + timedelta(days=count - 1))


def date_text(day: date) -> str:
    return f"{day.day} {day.strftime('%b %Y')}"


def date_range_text(start: date, end: date) -> str:
    if start == end:
        return date_text(start)
    return f"{date_text(start)} – {date_text(end)}"


def user_zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except ZoneInfoNotFoundError, ValueError:
        return ZoneInfo("UTC")


def local_today(zone: ZoneInfo, now: datetime) -> date:
    return now.astimezone(zone).date()


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _previous_month_start(day: date) -> date:
    return _month_start(_month_start(day) - timedelta(days=1))


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


def make_span(label: str, start_date: date, end_date: date, zone: ZoneInfo, today: date) -> Span:
    return Span(label=label, start_date=start_date, end_date=end_date, zone=zone, today=today)


def period_span(period: Period, zone: ZoneInfo, today: date, first_date: date | None) -> Span:
    first, last = period_range(period, today, first_date)
    return make_span(period.value, first, last, zone, today)


def year_span(year: int, zone: ZoneInfo, today: date) -> Span:
    """A calendar year; the current one runs to today."""
    return make_span(str(year), date(year, 1, 1), min(date(year, 12, 31), max(today, date(year, 1, 1))), zone, today)


def resolve(
    *,
    days: int | None,
    start: date | None,
    end: date | None,
    period: Period | None,
    zone: ZoneInfo,
    today: date,
    first_date: date | None,
    field_prefix: str = "",
) -> Span:
    """Turn window arguments into a `Span`; conflicting or impossible arguments raise `WindowError` naming the
    field."""
    names = {"days": f"{field_prefix}days", "start": f"{field_prefix}start", "end": f"{field_prefix}end"}
    period_name = f"{field_prefix}period" if field_prefix else "period"
    if period is not None:
        for name, value in (("days", days), ("start", start), ("end", end)):
            if value is not None:
                raise WindowError(names[name], f"give either `{period_name}` or `{names[name]}`, not both")
        return period_span(period, zone, today, first_date)
    if start is not None or end is not None:
        if days is not None and start is not None and end is not None:
            raise WindowError(names["days"], "give `days` or `start`/`end`, not both")
        if start is None:
            assert end is not None
            start = end - timedelta(days=(days or DEFAULT_DAYS) - 1)
        if end is None:
            end = start + timedelta(days=days - 1) if days is not None else today
        if end < start:
            raise WindowError(names["end"], "must be on or after `start`")
        if (end - start).days + 1 > MAX_DAYS:
            raise WindowError(names["start"], f"windows are at most {MAX_DAYS} days")
        return make_span(f"{start.isoformat()}..{end.isoformat()}", start, end, zone, today)
    count = days if days is not None else DEFAULT_DAYS
    return make_span(f"last_{count}_days", today - timedelta(days=count - 1), today, zone, today)


def _safe_replace_year(day: date, year: int) -> date:
    try:
        return day.replace(year=year)
    except ValueError:  # 29 February
        return day.replace(year=year, day=28)


def preceding_range(period: Period | None, start: date, end: date) -> tuple[date, date, str]:
    """The window to compare with by default: the previous calendar unit for calendar periods (to the same day
    when the period is under way), else the same number of days just before."""
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


def preceding(period: Period | None, span: Span) -> Span:
    start, end, label = preceding_range(period, span.start_date, span.end_date)
    return make_span(label, start, end, span.zone, span.today)


def equal_spans(first: Span, second: Span) -> tuple[Span, Span]:
    """Two windows made comparable: when the shorter one is still under way (it includes today), the longer keeps
    only its first N days, N being the shorter's length — this month on the 5th meets the first 5 days of last
    month, this year to date the same days of last year. Whole periods (February against March, all time against
    last month) stay whole: their per-day figures compare them."""
    if first.days == second.days:
        return first, second
    shorter = first if first.days < second.days else second
    if not shorter.ongoing:
        return first, second
    count = shorter.days
    if first.days > count:
        return first.first_days(count, f"{first.label} (first {count} days)"), second
    return first, second.first_days(count, f"{second.label} (first {count} days)")


def covers_all(span: Span, bounds: Bounds) -> bool:
    """The window holds every day of the user's data."""
    first, last = bounds.first_date, bounds.last_date
    return first is not None and last is not None and span.start_date <= first and span.end_date >= last


def reads_all_time_marts(span: Span, bounds: Bounds, has_totals: bool) -> bool:
    """Whether per-track and per-artist totals of the window can come from the all-time mart `agg_track_totals`
    (one row per track) instead of every per-day row: the window covers all of the user's data and the mart exists
    (a warehouse built before it was added answers from the per-day rows). Same answer either way."""
    return has_totals and covers_all(span, bounds)


def grain_for(span: Span) -> Grain:
    if span.days <= DAILY_MAX_DAYS:
        return Grain.day
    if span.days <= WEEKLY_MAX_DAYS:
        return Grain.week
    return Grain.month
