"""Seven days of five realistic listeners, collected in virtual time by the real collector against the fake
Spotify with the 2026 quota (1,100 requests per rolling 24 h, then 14 hours of QUOTA_EXCEEDED): no play is
lost, the installation's budget is never exceeded, and Spotify never has to say stop (tests/simulation.py)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.simulation import PROFILES, simulate


async def test_a_week_of_five_listeners_loses_nothing_within_the_budget(database_url: str, engine: AsyncEngine) -> None:
    result = await simulate(database_url, engine, days=7, budget=1000, quota=1100)
    print("simulation:", result.summary())  # the figures bench/README.md records (bench.collector_bench)
    assert sum(result.plays.values()) > 2500 and all(result.plays[name] > 0 for name in PROFILES)
    assert result.lost == dict.fromkeys(PROFILES, 0)
    assert result.window_full_polls == 0
    # The budget held on both sides: what the installation counted, and what Spotify saw.
    assert result.max_requests_24h_ledger <= 1000 and result.max_requests_24h_spotify <= 1000
    assert result.quota_refusals == 0
    assert sum(result.requests_by_purpose.values()) == result.spotify_requests  # every request was counted
    # Polling adapts: the skipper's evenings are polled far more often than the light listener's days.
    assert max(result.intervals["skipper"]) < min(result.intervals["light"]) and set(result.intervals["light"]) == {
        3500
    }
    # Far fewer requests than polling everyone every 10 minutes (5 x 144 polls a day, before any token refresh).
    assert result.requests_per_day < 5 * 144 / 2
