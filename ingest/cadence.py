"""Adaptive polling: how long until a user's next poll, from their own listening (docs/spotify-limits.md).

Spotify shows only the last 50 plays, so a poll must come before 50 new plays pile up; every poll costs
requests from the installation's budget, so it should not come much sooner. The interval aims at
`TARGET_PLAYS` (40: a fifth of the window kept as margin) at the fastest rate this user is likely to listen
at during the coming interval:

- listening right now (a play in the last 30 minutes): the fastest they have listened in any hour of the
  last 14 days, or in the last hour if that is faster;
- not listening, and known for a week (`TRUST_PATTERN_AFTER`): the fastest they have listened at this time of
  day (± an hour, over the coming interval) in the last 14 days — so a night without listening is polled
  rarely, an evening of skipping often;
- not listening, known for less than a week: as if listening (their daily pattern is not known yet);
- no plays yet: COLLECTOR_INTERVAL_SECONDS; no plays in 14 days: COLLECTOR_MAX_INTERVAL_SECONDS;
- a poll that found the whole 50-play window new (plays may have been missed): COLLECTOR_MIN_INTERVAL_SECONDS.

Always within COLLECTOR_MIN/MAX_INTERVAL_SECONDS. A rate is the most plays in any 20 minutes, times three:
short bursts of skipping count at their own pace, and a first look (an initial sync's 50 plays may span less
than an hour) is not mistaken for a slow hour. It is counted from `raw.api_plays` (what polling saw: end-of-play
times at millisecond precision), so it needs no request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from core.settings import Settings
from core.spotify.client import RECENTLY_PLAYED_LIMIT

TARGET_PLAYS = 40
LOOKBACK = timedelta(days=14)
ACTIVE_WITHIN = timedelta(minutes=30)
TRUST_PATTERN_AFTER = timedelta(days=7)
# Time-of-day margin around the coming interval when judging "how fast at this time of day".
DAY_MARGIN = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class ListeningRates:
    plays: int  # API plays in the last 14 days
    ever: bool  # any API play at all
    first: datetime | None  # the oldest API play (how long this user's listening has been seen)
    newest: datetime | None
    peak_any_hour: int  # plays per hour at the fastest 20 minutes of the last 14 days
    peak_this_time_of_day: int  # the same, only at the time of day of the coming interval
    last_hour: int


@dataclass(frozen=True, slots=True)
class Cadence:
    seconds: int
    plays_per_hour: float | None
    reason: str


def _span(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes / 60:.1f} h".replace(".0 h", " h")


def choose(settings: Settings, rates: ListeningRates | None, *, now: datetime, window_full: bool = False) -> Cadence:
    """The next interval for a user and why, in words for the Users page."""
    low, high = settings.collector_min_interval_seconds, settings.collector_max_interval_seconds
    fixed = settings.collector_interval_seconds
    if not settings.collector_adaptive_polling:
        return Cadence(fixed, None, f"fixed interval (COLLECTOR_ADAPTIVE_POLLING=false): every {_span(fixed)}")
    if window_full:
        return Cadence(
            low,
            None,
            f"the last poll found Spotify's {RECENTLY_PLAYED_LIMIT}-play window full of new plays (older ones may "
            f"have been missed): polled as often as allowed, every {_span(low)}",
        )
    if rates is None or not rates.ever:
        seconds = min(high, max(low, fixed))
        return Cadence(seconds, None, f"no plays seen yet: every {_span(seconds)} until there are")
    if rates.plays == 0:
        return Cadence(high, 0.0, f"no plays in the last 14 days: every {_span(high)}")
    active = rates.newest is not None and rates.newest > now - ACTIVE_WITHIN
    known = rates.first is not None and rates.first <= now - TRUST_PATTERN_AFTER
    if active:
        rate = max(rates.peak_any_hour, rates.last_hour)
        basis = "listening now; up to"
    elif not known:
        rate = rates.peak_any_hour
        basis = "daily pattern not known yet (under 7 days seen); up to"
    else:
        rate = rates.peak_this_time_of_day
        basis = "not listening now; at this time of day up to"
    if rate == 0:
        return Cadence(high, 0.0, f"no plays at this time of day in the last 14 days: every {_span(high)}")
    ideal = TARGET_PLAYS / rate * 3600
    seconds = int(min(high, max(low, ideal)))
    reason = (
        f"{basis} {rate} plays/h: every {_span(seconds)} keeps fewer than {RECENTLY_PLAYED_LIMIT} plays between polls"
    )
    if ideal > high:
        reason += " (the longest allowed, COLLECTOR_MAX_INTERVAL_SECONDS)"
    elif ideal < low:
        reason += " (the shortest allowed, COLLECTOR_MIN_INTERVAL_SECONDS; faster listening may overflow the window)"
    return Cadence(seconds, float(rate), reason)


_RATES = text(
    """
    WITH recent AS (
        SELECT played_at,
               3 * count(*) OVER (ORDER BY played_at RANGE BETWEEN interval '20 minutes' PRECEDING AND CURRENT ROW)
                   AS per_hour,
               -- where this play's time of day falls after now's time of day, in seconds (0 .. 86399)
               mod(mod(CAST(extract(epoch FROM played_at - :now) AS numeric), 86400) + 86400, 86400) AS day_offset
        FROM raw.api_plays
        WHERE user_id = :user_id AND played_at > :since AND played_at <= :now
    )
    SELECT count(*) AS plays,
           max(played_at) AS newest,
           coalesce(max(per_hour), 0) AS peak_any_hour,
           coalesce(max(per_hour) FILTER (WHERE day_offset <= :ahead OR day_offset >= 86400 - :margin), 0)
               AS peak_this_time_of_day,
           count(*) FILTER (WHERE played_at > :now - interval '1 hour') AS last_hour,
           (SELECT min(played_at) FROM raw.api_plays WHERE user_id = :user_id) AS first
    FROM recent
    """
)


async def listening_rates(
    connection: AsyncConnection, user_id: UUID, *, now: datetime, horizon_seconds: int
) -> ListeningRates:
    """The user's listening rates from `raw.api_plays` (one indexed range scan of at most 14 days)."""
    margin = DAY_MARGIN.total_seconds()
    row = (
        await connection.execute(
            _RATES,
            {
                "user_id": user_id,
                "now": now,
                "since": now - LOOKBACK,
                "ahead": horizon_seconds + margin,
                "margin": margin,
            },
        )
    ).one()
    return ListeningRates(
        plays=int(row.plays),
        ever=row.first is not None,
        first=row.first,
        newest=row.newest,
        peak_any_hour=int(row.peak_any_hour),
        peak_this_time_of_day=int(row.peak_this_time_of_day),
        last_hour=int(row.last_hour),
    )
