"""When a routine run refits a user's standard windows, and when the stored fit stands (issue 22).

Refitting reads every listen of the user (all time) and runs k-means three times: 10–13 s at 1,000,000 plays, for a
poll of 50. Fifty plays do not move a fit over months of listening, so a routine run refits a user whose plays were
transformed since the fit only when one of these holds (`refit_reason`):

- **never fitted**: the user has no stored clusters;
- **window moved**: the stored windows end a day or more away from this run's end (`REFIT_AGE`): the windows
  slide with the clock, so a fit is at most a day old whenever the user's plays change;
- **plays changed**: the plays transformed since the fit (every rewritten row of `int_plays_deduplicated`: new
  plays, merged duplicates, a re-import, a time-zone change) reach `REFIT_SHARE` of the plays the smallest stored
  window clustered — a missing window (too few artists at the fit) counts as 0, so any change refits it.

Full refreshes refit everyone, and a user whose plays did not change keeps the fit (as before this rule). The
tools' answers carry `computed_at` and the fit's window, so a kept fit is reported as what it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal
from uuid import UUID

import psycopg

from transform.clusters.model import ML_SCHEMA, STANDARD_WINDOWS

REFIT_SHARE: Final = 0.02
REFIT_AGE: Final = timedelta(days=1)

type RefitReason = Literal["never fitted", "window moved", "plays changed"]


@dataclass(frozen=True, slots=True)
class StoredFit:
    """What the last fit of a user's standard windows stored, and how many of their plays changed since."""

    window_plays: dict[str, int]  # window name → plays clustered (windows with too few artists are absent)
    window_end: datetime
    computed_at: datetime
    changed_plays: int


def refit_reason(fit: StoredFit | None, end: datetime) -> RefitReason | None:
    """Why the user's windows are to be fitted again at `end`; None: the stored fit stands."""
    if fit is None:
        return "never fitted"
    if abs(end - fit.window_end) >= REFIT_AGE:
        return "window moved"
    smallest = min(fit.window_plays.get(name, 0) for name in STANDARD_WINDOWS)
    if fit.changed_plays > 0 and fit.changed_plays >= REFIT_SHARE * smallest:
        return "plays changed"
    return None


def stored_fit(connection: psycopg.Connection[Any], user_id: UUID) -> StoredFit | None:
    """The user's stored fit, with the count of their plays transformed since it was computed."""
    windows = connection.execute(
        f"""select window_name, sum(plays)::bigint, max(window_end), min(computed_at)
            from {ML_SCHEMA}.taste_clusters where user_id = %s group by window_name""",
        (user_id,),
    ).fetchall()
    if not windows:
        return None
    computed_at = min(row[3] for row in windows)
    # Only the rows rewritten since the fit, found by the transformed_at index, whatever the table's statistics say:
    # without them (autovacuum is off on some servers, and dbt rebuilds the table on full refreshes) PostgreSQL read
    # a heavy user's whole (user_id, …) index for this (0.3 s at 1,000,000 plays) or scanned the table (0.5 s). The
    # user's condition is a filter (`is true` keeps it off the indexes) and sequential scans are off for the query.
    with connection.transaction():
        connection.execute("set local enable_seqscan = off")
        changed = connection.execute(
            "select count(*) from intermediate.int_plays_deduplicated "
            "where transformed_at > %s and (user_id = %s) is true",
            (computed_at, user_id),
        ).fetchone()
    return StoredFit(
        window_plays={str(row[0]): int(row[1]) for row in windows},
        window_end=max(row[2] for row in windows),
        computed_at=computed_at,
        changed_plays=int(changed[0]) if changed else 0,
    )
