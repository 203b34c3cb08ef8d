"""The runner: one at a time across processes, failures recorded and returned (never raised)."""

from __future__ import annotations

import psycopg

from core.dburl import libpq_url
from transform.runner import ADVISORY_LOCK_KEY, run_transform


def test_a_second_transform_is_skipped_while_one_holds_the_lock(database_url: str) -> None:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as holder:
        holder.execute("select pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        outcome = run_transform(database_url, wait_seconds=0.2)
        assert outcome.status == "skipped" and outcome.job_run_id is None
        holder.execute("select pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    with psycopg.connect(libpq_url(database_url)) as connection:
        assert connection.execute("select count(*) from app.job_runs").fetchone() == (0,)


def test_a_failing_build_is_recorded_and_returned_not_raised(database_url: str) -> None:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(
            "insert into app.users (id, timezone) values ('00000000-0000-0000-0000-0000000000e1', 'UTC')"
        )
        connection.execute(
            "insert into raw.export_records (user_id, record_key, played_at, ms_played, content_kind, source_format, "
            "track_id) values ('00000000-0000-0000-0000-0000000000e1', 'x', now(), 40000, 'track', 'extended', 'T1')"
        )
        # A landing table without the column a staging view reads: the build fails for everyone, no user's data
        # is to blame (a user's would leave them out and build the rest: test_transform_isolation.py).
        connection.execute("alter table raw.tracks rename column name to title")
    outcome = run_transform(database_url)
    assert outcome.status == "error"
    assert outcome.error is not None and "stg_spotify_api__tracks" in outcome.error
    # A missing column is no user's data: nobody suspected or left out; one full refresh tried, and said so.
    assert "isolation_builds" not in outcome.stats and outcome.stats["quarantine"] == []
    assert outcome.stats["full_refresh"] is True
    assert "the full refresh that followed failed too" in outcome.error and "nobody was left out" in outcome.error
    with psycopg.connect(libpq_url(database_url)) as connection:
        row = connection.execute(
            "select job_type, status, error_message, finished_at is not null, stats from app.job_runs where id = %s",
            (outcome.job_run_id,),
        ).fetchone()
        assert row is not None
        assert row[0] == "transform" and row[1] == "error" and row[3]
        assert "stg_spotify_api__tracks" in row[2]
        # The build failed before writing anything of the user's: the next run has nothing to rebuild for them.
        assert row[4]["rebuild_pending"] == []
        # The lock was released: the next run is not skipped.
        assert connection.execute("select pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone() == (True,)
        connection.execute("select pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
    # The same failure again: the full refresh that failed on it is not repeated on every run.
    again = run_transform(database_url)
    assert again.status == "error" and again.error is not None
    assert f"the full refresh after the same failure in job run #{outcome.job_run_id} failed" in again.error
    assert "dbt" not in again.stats and again.stats["quarantine"] == []
    # Once the cause is fixed, the routine run builds.
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute("alter table raw.tracks rename column title to name")
    fixed = run_transform(database_url)
    assert fixed.status == "success", fixed.error
