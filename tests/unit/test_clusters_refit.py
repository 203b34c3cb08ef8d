"""The rule that decides when a routine run refits a user's taste clusters (transform.clusters.refit)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from transform.clusters.refit import REFIT_AGE, REFIT_SHARE, StoredFit, refit_reason

END = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
WINDOWS = {"last_90_days": 10_000, "last_365_days": 40_000, "all_time": 120_000}


def _fit(changed: int, *, windows: dict[str, int] = WINDOWS, end: datetime = END) -> StoredFit:
    return StoredFit(window_plays=windows, window_end=end, computed_at=end, changed_plays=changed)


def test_never_fitted_users_are_fitted() -> None:
    assert refit_reason(None, END) == "never fitted"


def test_a_small_change_keeps_the_fit_and_the_share_of_the_smallest_window_refits_it() -> None:
    threshold = int(REFIT_SHARE * WINDOWS["last_90_days"])
    assert refit_reason(_fit(0), END) is None
    assert refit_reason(_fit(50), END) is None
    assert refit_reason(_fit(threshold - 1), END) is None
    assert refit_reason(_fit(threshold), END) == "plays changed"


def test_a_missing_window_refits_on_any_change() -> None:
    # Too few artists in the last 90 days at the fit: a new play may be what makes the window.
    windows = {"last_365_days": 40_000, "all_time": 120_000}
    assert refit_reason(_fit(1, windows=windows), END) == "plays changed"
    assert refit_reason(_fit(0, windows=windows), END) is None


def test_windows_a_day_away_from_the_run_refit() -> None:
    assert refit_reason(_fit(1, end=END - REFIT_AGE + timedelta(seconds=1)), END) is None
    assert refit_reason(_fit(1, end=END - REFIT_AGE), END) == "window moved"
    assert refit_reason(_fit(1, end=END + REFIT_AGE), END) == "window moved"  # a run for an earlier time
