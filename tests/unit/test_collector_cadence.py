"""Adaptive polling's interval and its reason, from listening rates (no database: `ingest.cadence.choose`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.settings import Settings, load_settings
from ingest.cadence import TARGET_PLAYS, ListeningRates, choose

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings({"SPOTIFY_MCP_HOME": str(tmp_path)})


def rates(
    *, peak: int = 0, now_peak: int = 0, last_hour: int = 0, newest_ago: timedelta | None = None, days_seen: int = 10
) -> ListeningRates:
    return ListeningRates(
        plays=max(peak, now_peak, last_hour),
        ever=True,
        first=NOW - timedelta(days=days_seen),
        newest=NOW - newest_ago if newest_ago is not None else NOW - timedelta(hours=20),
        peak_any_hour=peak,
        peak_this_time_of_day=now_peak,
        last_hour=last_hour,
    )


def test_a_typical_listener_is_polled_at_the_longest_interval(settings: Settings) -> None:
    # ~17 plays an hour (3.5-minute tracks): 50 plays take three hours, so polls an hour apart lose nothing.
    cadence = choose(settings, rates(peak=17, last_hour=15, newest_ago=timedelta(minutes=2)), now=NOW)
    assert cadence.seconds == 3500 and cadence.plays_per_hour == 17
    assert "listening now; up to 17 plays/h: every 58 min" in cadence.reason
    assert "COLLECTOR_MAX_INTERVAL_SECONDS" in cadence.reason


def test_a_fast_skipper_is_polled_sooner_so_fewer_than_50_plays_pile_up(settings: Settings) -> None:
    cadence = choose(settings, rates(peak=60, last_hour=60, newest_ago=timedelta(minutes=1)), now=NOW)
    assert cadence.seconds == int(TARGET_PLAYS / 60 * 3600) == 2400
    assert cadence.seconds / 3600 * 60 < 50  # at that rate, fewer than 50 plays between polls


def test_idle_at_a_quiet_time_of_day_waits_longer_than_listening(settings: Settings) -> None:
    busy = choose(settings, rates(peak=80, now_peak=80, newest_ago=timedelta(minutes=5)), now=NOW)
    quiet = choose(settings, rates(peak=80, now_peak=0, newest_ago=timedelta(hours=6)), now=NOW)
    evening = choose(settings, rates(peak=80, now_peak=72, newest_ago=timedelta(hours=6)), now=NOW)
    assert busy.seconds == 1800 and quiet.seconds == 3500 and evening.seconds == 2000
    assert "no plays at this time of day" in quiet.reason
    assert "not listening now; at this time of day up to 72 plays/h" in evening.reason


def test_a_new_users_daily_pattern_is_not_trusted_yet(settings: Settings) -> None:
    cadence = choose(settings, rates(peak=80, now_peak=0, newest_ago=timedelta(hours=6), days_seen=2), now=NOW)
    assert cadence.seconds == 1800 and "pattern not known yet" in cadence.reason


def test_bounds_no_history_full_window_and_fixed_mode(tmp_path: Path, settings: Settings) -> None:
    never = choose(settings, None, now=NOW)
    assert never.seconds == 600 and "no plays seen yet" in never.reason
    gone = ListeningRates(0, True, NOW - timedelta(days=40), NOW - timedelta(days=20), 0, 0, 0)
    assert choose(settings, gone, now=NOW).seconds == 3500
    full = choose(settings, rates(peak=20, newest_ago=timedelta(minutes=1)), now=NOW, window_full=True)
    assert full.seconds == 300 and "window full" in full.reason
    frantic = choose(settings, rates(peak=500, newest_ago=timedelta(minutes=1)), now=NOW)
    assert frantic.seconds == 300 and "COLLECTOR_MIN_INTERVAL_SECONDS" in frantic.reason
    fixed = load_settings(
        {"SPOTIFY_MCP_HOME": str(tmp_path), "COLLECTOR_ADAPTIVE_POLLING": "false", "COLLECTOR_INTERVAL_SECONDS": "120"}
    )
    assert choose(fixed, rates(peak=500), now=NOW).seconds == 120
    narrow = load_settings(
        {
            "SPOTIFY_MCP_HOME": str(tmp_path),
            "COLLECTOR_MIN_INTERVAL_SECONDS": "600",
            "COLLECTOR_MAX_INTERVAL_SECONDS": "900",
        }
    )
    assert choose(narrow, rates(peak=10, newest_ago=timedelta(minutes=1)), now=NOW).seconds == 900
    assert choose(narrow, rates(peak=400, newest_ago=timedelta(minutes=1)), now=NOW).seconds == 600
