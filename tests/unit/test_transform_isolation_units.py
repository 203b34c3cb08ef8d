"""The pieces of per-user isolation that need no database: what a failure blames, what the job says, the dbt vars,
the listen contract matching the import's range check, and what the admin UI shows of a partial run."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from core.play_time import EARLIEST, FUTURE_TOLERANCE
from serve.admin_ui.figures import job_figures
from transform.dbt_invoke import PROJECT_DIR, DbtError, DbtRun, NodeResult
from transform.isolation import RETRY_AFTER, QuarantinedUser, blame, due_again, summary
from transform.runner import dbt_variables


def _node(unique_id: str, resource_type: str, status: str, message: str) -> NodeResult:
    return NodeResult(unique_id, resource_type, status, 0.1, None, message)


def test_a_failure_is_blamed_on_its_first_failing_model_or_test_by_name() -> None:
    run = DbtRun(
        "build",
        False,
        1.0,
        (
            _node("model.spotify_mcp.stg_app__users", "model", "success", "OK"),
            _node("test.spotify_mcp.not_null_agg_hourly_listening_local_hour.7214000a8d", "test", "fail", "Got 1"),
            _node("model.spotify_mcp.int_plays_deduplicated", "model", "error", "time zone unknown"),
        ),
    )
    assert blame(DbtError("dbt build failed", run)) == ("not_null_agg_hourly_listening_local_hour", "Got 1")
    model_only = DbtRun("build", False, 1.0, (run.nodes[2],))
    assert blame(DbtError("x", model_only)) == ("int_plays_deduplicated", "time zone unknown")
    assert blame(DbtError("dbt could not parse the project")) == ("dbt", "dbt could not parse the project")


def test_the_partial_message_names_each_user_what_fails_and_what_to_do() -> None:
    entries = [
        QuarantinedUser(f"id-{n}", f"User {n}" if n % 2 else None, "int_plays_deduplicated", "bad zone", "t", "f")
        for n in range(12)
    ]
    message = summary(entries)
    assert message.startswith("built without 12 user(s) whose data fails the warehouse")
    assert "User 1 (id-1): int_plays_deduplicated: bad zone" in message and "id-0: int_plays" in message
    assert "and 2 more" in message and "full refresh" in message
    assert QuarantinedUser.from_stats(entries[3].as_stats()) == entries[3]


def test_user_lists_are_passed_to_dbt_only_when_there_are_some() -> None:
    assert dbt_variables(routine=False) == {}
    assert "excluded_users" not in dbt_variables(routine=True)
    variables = dbt_variables(routine=True, excluded_users=["b", "a"], rebuild_users=["c"])
    assert variables["excluded_users"] == ["a", "b"] and variables["rebuild_users"] == ["c"]


def test_the_listen_contract_has_the_import_range() -> None:
    """The dbt contract and the import's check (core/play_time.py) agree on when a listen can have happened."""
    macro = (PROJECT_DIR / "macros" / "user_isolation.sql").read_text()
    assert f"'{EARLIEST:%Y-%m-%d}'::timestamptz" in macro
    assert re.search(rf"interval '{FUTURE_TOLERANCE.days} day'", macro)


def test_the_admin_ui_shows_who_a_partial_run_left_out() -> None:
    stats = {
        "seconds": 3.0,
        "quarantine": [{"user_id": "u1", "display_name": "Ada", "node": "int_plays_deduplicated", "reason": "x"}],
        "rebuild_pending": [],
        "isolation_builds": 3,
    }
    figures = dict(job_figures(stats, "transform"))
    assert figures["Users left out"] == "Ada: int_plays_deduplicated"
    assert figures["Builds to find whose data fails"] == "3"
    assert "Users to build again" not in figures


def test_a_quarantined_user_is_tried_again_at_once_when_their_user_row_changed_else_at_most_hourly() -> None:
    tried = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    entry = QuarantinedUser("u", None, "int_plays_deduplicated", "bad", tried.isoformat(), "user1:data1")
    soon, later = tried + RETRY_AFTER / 2, tried + RETRY_AFTER
    assert not due_again(entry, "user1:data1", later)  # nothing changed: never
    assert due_again(entry, "user2:data1", soon)  # a new time zone: at once
    assert not due_again(entry, "user1:data2", soon)  # new plays, the bad row perhaps still there: not yet
    assert due_again(entry, "user1:data2", later)
