"""Bounds of the numbers and dates a request may carry: the one place they are defined.

Python's `int`, `date` and `datetime` reach far past what PostgreSQL and date arithmetic can take: an id beyond
int64 fails in the database driver, and `9999-12-31` plus one day overflows. Every id, day and instant a route
or tool accepts uses one of these types, so such input is a 422 naming the field, never a 500.

The day range leaves room on both sides for the widest window arithmetic (windows of up to 100 years and the
equally long period compared with them), and still covers any listening history and any log search.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Final

from annotated_types import Ge, Le
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

INT64_MAX: Final = 2**63 - 1
EARLIEST_DAY: Final = date(1900, 1, 1)
LATEST_DAY: Final = date(2999, 12, 31)


def _out_of_range() -> PydanticCustomError:
    return PydanticCustomError(
        "out_of_range",
        "must be between {earliest} and {latest}",
        {"earliest": EARLIEST_DAY.isoformat(), "latest": LATEST_DAY.isoformat()},
    )


def _day_in_range(value: date) -> date:
    if not EARLIEST_DAY <= value <= LATEST_DAY:
        raise _out_of_range()
    return value


def _instant_in_range(value: datetime) -> datetime:
    # By the year, so naive and aware values compare alike (a naive one is read as UTC downstream).
    if not EARLIEST_DAY.year <= value.year <= LATEST_DAY.year:
        raise _out_of_range()
    return value


# A database row id (bigint identity): 1 .. 2**63-1.
RowId = Annotated[int, Ge(1), Le(INT64_MAX)]
# A count or offset that reaches SQL as a bigint.
BigCount = Annotated[int, Ge(0), Le(INT64_MAX)]
# A calendar day (tool windows).
Day = Annotated[date, AfterValidator(_day_in_range)]
# A point in time (log searches).
Instant = Annotated[datetime, AfterValidator(_instant_in_range)]
