"""Template filters: times, sizes, durations and shares as a person reads them."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any


def parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def fmt_time(value: Any) -> str:
    moment = parse_time(value)
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def fmt_date(value: Any) -> str:
    moment = parse_time(value)
    return "—" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d")


def fmt_bytes(value: Any) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def fmt_duration(value: Any) -> str:
    if value is None:
        return "—"
    seconds = float(value)
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def fmt_int(value: Any) -> str:
    return "—" if value is None else f"{int(value):,}"


def percent(value: Any) -> int:
    if value is None:
        return 0
    number = float(value)
    return 0 if math.isnan(number) else max(0, min(100, round(number * 100)))
