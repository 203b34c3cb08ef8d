"""The window of a tool answer: the shared definition (`core.marts.windows`) as the tools' argument errors and
result model.

Windows are whole local days in the user's time zone: `start_date` and `end_date` are both included, matching
the marts' `local_date`; `end` is the exclusive instant after `end_date`.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from core.marts.windows import (
    DEFAULT_DAYS,
    MAX_DAYS,
    Period,
    Span,
    WindowError,
    make_span,
    preceding_range,
    resolve,
    user_zone,
)
from serve.tools.errors import InvalidArguments

__all__ = [
    "DEFAULT_DAYS",
    "MAX_DAYS",
    "Period",
    "Span",
    "Window",
    "make_window",
    "preceding_range",
    "resolve_span",
    "resolve_window",
    "user_zone",
    "window_model",
]


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


def window_model(span: Span) -> Window:
    return Window(
        label=span.label,
        start_date=span.start_date,
        end_date=span.end_date,
        days=span.days,
        timezone=span.zone.key,
        start=span.start,
        end=span.end,
        ongoing=span.ongoing,
    )


def make_window(label: str, start_date: date, end_date: date, zone: ZoneInfo, today: date) -> Window:
    return window_model(make_span(label, start_date, end_date, zone, today))


def resolve_span(
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
    """The shared resolution; conflicting or impossible arguments answer `invalid_arguments` naming the field."""
    try:
        return resolve(
            days=days,
            start=start,
            end=end,
            period=period,
            zone=zone,
            today=today,
            first_date=first_date,
            field_prefix=field_prefix,
        )
    except WindowError as error:
        raise InvalidArguments.field(error.field, error.problem) from None


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
    return window_model(
        resolve_span(
            days=days,
            start=start,
            end=end,
            period=period,
            zone=zone,
            today=today,
            first_date=first_date,
            field_prefix=field_prefix,
        )
    )
