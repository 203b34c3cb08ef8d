"""Play times in PostgreSQL's own form: microseconds since 2000-01-01 UTC (an int), as imported rows carry them.

Both pipelines put the play's time into their rows this way (`raw.export_records.played_at`,
`raw.scrobbles.started_at`) and their connection COPYs it with asyncpg's C `int8` codec (`loader.Target.micros_times`:
binary `timestamptz` is exactly that int64). A datetime per row cost ~0.2 µs to make and ~0.55 µs more to encode
(bench/README.md, "Less work per scrobble"). Code that shows a row's time (the preview) turns it back with
`datetime_of`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

# PostgreSQL's epoch, 2000-01-01 UTC, in Unix seconds and as a datetime.
PG_EPOCH_UNIX: Final = 946_684_800
PG_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)


def pg_micros(epoch: int) -> int:
    """Unix seconds → microseconds since 2000-01-01 UTC."""
    return (epoch - PG_EPOCH_UNIX) * 1_000_000


def micros_of(when: datetime) -> int:
    """An aware datetime → microseconds since 2000-01-01 UTC (exact: integer arithmetic, no float)."""
    delta = when - PG_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def datetime_of(micros: int) -> datetime:
    """Microseconds since 2000-01-01 UTC → the aware (UTC) datetime."""
    return PG_EPOCH + timedelta(microseconds=micros)
