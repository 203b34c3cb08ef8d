"""An upgrade never wedges the warehouse: the routine transform rebuilds it by itself when what incremental models
stored is of another version, rule, or shape, and blames no user for it (transform.warehouse_version,
transform.isolation.structural_failure).

The stored int_plays_deduplicated is altered the way an older release would have left it (without the scrobble
columns it gained), and the last run's recorded version or rules are set to older ones, as that release would have
recorded them."""

from __future__ import annotations

import httpx
from psycopg.types.json import Jsonb

from core.settings import Settings
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.integration.warehouse_history import differences, execute, marts, rows
from tests.live_server import live_server
from transform.runner import TransformOutcome, run_transform
from transform.warehouse_version import current

ADA = "00000000-0000-0000-0000-0000000000a1"
BOB = "00000000-0000-0000-0000-0000000000b2"


def _listen(url: str, user_id: str, key: str, played_at: str, ms_played: int = 200000, track: str = "T1") -> None:
    execute(
        url,
        "insert into raw.export_records (user_id, record_key, played_at, ms_played, content_kind, source_format, "
        "track_id, track_name, artist_name, spotify_uri) values (%(user)s, %(key)s, %(at)s, %(ms)s, 'track', "
        "'extended', %(track)s, 'Song ' || %(track)s, 'Artist', 'spotify:track:' || %(track)s)",
        {"user": user_id, "key": key, "at": played_at, "ms": ms_played, "track": track},
    )


def _built(url: str) -> None:
    """Two users with listens, built from scratch."""
    for user_id, zone in ((ADA, "UTC"), (BOB, "Europe/Berlin")):
        execute(
            url,
            "insert into app.users (id, display_name, timezone) values (%(id)s, %(name)s, %(zone)s)",
            {"id": user_id, "name": f"user {user_id[-2:]}", "zone": zone},
        )
        for day in (1, 2, 3):
            _listen(url, user_id, f"{user_id[-2:]}-{day}", f"2026-03-0{day} 10:00:00+00", track=f"T{day}")
    first = run_transform(url, full_refresh=True)
    assert first.status == "success", first.error


def _as_an_older_release_left_it(url: str) -> None:
    """int_plays_deduplicated as it was before it gained the scrobble columns (the views reading them go too: the
    older release's views did not have them), built by a project of other files (an upgrade changes them)."""
    execute(
        url,
        "alter table intermediate.int_plays_deduplicated drop column scrobble_sources cascade, "
        "drop column ms_played_estimated cascade",
    )
    execute(
        url,
        'update app.job_runs set stats = stats || \'{"project_hash": "older-release"}\' '
        "where id = (select max(id) from app.job_runs where job_type = 'transform')",
    )


def _record_in_last_run(url: str, version: int | None = None, **rules: object) -> None:
    recorded = current().as_stats()
    if version is not None:
        recorded["version"] = version
    recorded["rules"] = {**recorded["rules"], **rules}
    execute(
        url,
        "update app.job_runs set stats = stats || jsonb_build_object('warehouse', %(w)s::jsonb) "
        "where id = (select max(id) from app.job_runs where job_type = 'transform')",
        {"w": Jsonb(recorded)},
    )


def _plays(url: str, user_id: str) -> list[tuple[object, ...]]:
    return rows(
        url,
        "select local_date::text, plays, ms_played from marts.agg_daily_listening where user_id = %(id)s order by 1",
        {"id": user_id},
    )


def _assert_rebuilt_for_everyone(url: str, outcome: TransformOutcome, reason: str) -> None:
    assert outcome.status == "success", outcome.error
    assert outcome.stats["full_refresh"] is True
    assert reason in outcome.stats["full_refresh_reason"], outcome.stats["full_refresh_reason"]
    assert outcome.stats["quarantine"] == [] and outcome.stats["rebuild_pending"] == []
    assert outcome.stats["warehouse"] == current().as_stats()
    [(status, error, recorded)] = rows(
        url, "select status, error_message, stats from app.job_runs where id = %(id)s", {"id": outcome.job_run_id}
    )
    assert (status, error) == ("success", None)
    assert recorded["full_refresh"] is True and recorded["full_refresh_reason"] == outcome.stats["full_refresh_reason"]
    # Nobody emptied: both users have every listen, the one landed since included.
    assert [day for day, *_ in _plays(url, ADA)] == ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    assert [day for day, *_ in _plays(url, BOB)] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    # What it built is what a clean build of the same data builds.
    rebuilt = marts(url)
    clean = run_transform(url, full_refresh=True)
    assert clean.status == "success", clean.error
    assert differences(rebuilt, marts(url)) == {}


def test_an_upgrade_that_bumped_the_version_rebuilds_by_itself_and_says_why(
    database_url: str, settings: Settings
) -> None:
    _built(database_url)
    _as_an_older_release_left_it(database_url)
    _record_in_last_run(database_url, version=current().version - 1)
    _listen(database_url, ADA, "a1-4", "2026-03-04 10:00:00+00")

    outcome = run_transform(database_url)
    expected = f"warehouse version {current().version - 1} → {current().version}"
    assert outcome.stats.get("full_refresh_reason") == expected
    assert "isolation_builds" not in outcome.stats  # rebuilt at once: the routine build was never tried
    # The admin's ops tool reports the run with its reason (before the clean build below adds a run).
    with live_server(create_app(settings, database_url)) as base, httpx.Client(base_url=base, timeout=30) as api:
        answer = api.post(
            "/mcp/call",
            json={"tool": "ops.latest_job_runs", "args": {"user_id": ADA, "limit": 1}},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert answer.status_code == 200, answer.text
        [latest] = answer.json()["result"]["job_runs"]
        assert latest["id"] == outcome.job_run_id and latest["stats"]["full_refresh_reason"] == expected
    _assert_rebuilt_for_everyone(database_url, outcome, expected)


def test_a_forgotten_bump_is_caught_by_the_failing_build_and_nobody_is_blamed(database_url: str) -> None:
    _built(database_url)
    _as_an_older_release_left_it(database_url)  # the same drift, the version as recorded: the bump was forgotten
    _listen(database_url, ADA, "a1-4", "2026-03-04 10:00:00+00")

    outcome = run_transform(database_url)
    _assert_rebuilt_for_everyone(database_url, outcome, "the routine build failed, not because of a user's data")
    assert "int_plays_deduplicated" in outcome.stats["full_refresh_reason"]
    assert "isolation_builds" not in outcome.stats  # no user was suspected, let alone built alone


def test_an_edited_rule_var_rebuilds_what_incremental_models_stored_with_the_old_rule(database_url: str) -> None:
    _built(database_url)
    # As min_play_ms = 300000 would have stored them: none of the 200 s listens counts as a play.
    _record_in_last_run(database_url, min_play_ms=300000)
    execute(database_url, "update marts.agg_daily_listening set plays = 0")
    _listen(database_url, ADA, "a1-4", "2026-03-04 10:00:00+00")

    outcome = run_transform(database_url)
    assert rows(database_url, "select min(plays) from marts.agg_daily_listening") == [(1,)]
    _assert_rebuilt_for_everyone(database_url, outcome, "rule vars changed: min_play_ms (300000 → 30000)")


def test_a_routine_run_of_the_same_version_stays_incremental_and_a_first_build_is_no_upgrade(
    database_url: str,
) -> None:
    execute(database_url, "insert into app.users (id, timezone) values (%(id)s, 'UTC')", {"id": ADA})
    _listen(database_url, ADA, "a-1", "2026-03-01 10:00:00+00")
    first = run_transform(database_url)  # an empty warehouse: built whole by dbt, but no "upgrade"
    assert first.status == "success", first.error
    assert first.stats["full_refresh"] is False and "full_refresh_reason" not in first.stats
    assert first.stats["warehouse"] == current().as_stats()

    _listen(database_url, ADA, "a-2", "2026-03-02 10:00:00+00")
    # A row the routine run does not recompute keeps what was stored: proof that nothing was rebuilt.
    execute(
        database_url,
        "update intermediate.int_plays_deduplicated set track_name = 'as stored' where played_at < '2026-03-02'",
    )
    routine = run_transform(database_url)
    assert routine.status == "success", routine.error
    assert routine.stats["full_refresh"] is False and "full_refresh_reason" not in routine.stats
    assert rows(database_url, "select track_name from intermediate.int_plays_deduplicated order by played_at") == [
        ("as stored",),
        ("Song T1",),
    ]
