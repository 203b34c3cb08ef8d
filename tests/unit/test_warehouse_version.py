"""When the stored warehouse must be rebuilt, without a database: the version and rule vars a run records, the reason
a later run rebuilds, which build failures are the warehouse's shape and not a user's data, and what the Jobs page
says of such a run. (With PostgreSQL and dbt: tests/integration/test_transform_upgrade.py.)"""

from __future__ import annotations

import io

import yaml

from cli.commands.transform import ProgressView, summary
from serve.admin_ui.figures import job_figures
from transform.dbt_invoke import PROJECT_DIR, DbtError, DbtRun, NodeResult
from transform.isolation import structural_failure
from transform.runner import TransformOutcome
from transform.warehouse_version import (
    OPERATIONAL_VARS,
    UNRECORDED_VERSION,
    VERSION_VAR,
    WarehouseVersion,
    current,
    rebuild_reason,
)

# What dbt reports when on_schema_change='fail' meets a stored table of another shape (dbt-core 1.11).
OUT_OF_SYNC = """Compilation Error in model int_plays_deduplicated (models/intermediate/int_plays_deduplicated.sql)

              The source and target schemas on this incremental model are out of sync!
              They can be reconciled in several ways:
                - set the `on_schema_change` config to either append_new_columns or sync_all_columns.
              Additional troubleshooting context:
                 Source columns not in target: [{'name': 'scrobble_sources', 'data_type': 'text[]'}]"""


def _failed(*messages: str) -> DbtError:
    nodes = tuple(
        NodeResult(f"model.spotify_mcp.model_{n}", "model", "error", 0.1, None, message)
        for n, message in enumerate(messages)
    )
    return DbtError("dbt build failed", DbtRun("build", False, 1.0, nodes))


def test_a_run_records_the_version_and_every_var_that_changes_stored_results() -> None:
    project = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    found = current()
    assert found.version == project[VERSION_VAR] and found.version > UNRECORDED_VERSION
    assert found.rules is not None and found.rules["min_play_ms"] == 30000
    # Every var is a rule unless it is known to change only how a run goes: a new var counts by default.
    assert set(found.rules) == set(project) - OPERATIONAL_VARS
    assert {"test_rows_filter", "dedupe_full_user_threshold"} <= OPERATIONAL_VARS
    assert WarehouseVersion.from_stats({"warehouse": found.as_stats()}) == found


def test_the_reason_to_rebuild_names_the_version_change_and_each_changed_rule() -> None:
    now = WarehouseVersion(8, {"min_play_ms": 30000, "include_incognito": False, "scrobble_tolerance_seconds": 30})
    assert rebuild_reason(None, now) is None  # a first build is no upgrade
    assert rebuild_reason(now, now) is None
    assert rebuild_reason(WarehouseVersion(7, now.rules), now) == "warehouse version 7 → 8"
    edited = WarehouseVersion(8, {**(now.rules or {}), "min_play_ms": 10000, "include_incognito": True})
    assert rebuild_reason(edited, now) == (
        "rule vars changed: include_incognito (True → False), min_play_ms (10000 → 30000)"
    )
    older = WarehouseVersion(8, {"min_play_ms": 30000, "include_incognito": False})
    assert rebuild_reason(older, now) == "rule vars changed: scrobble_tolerance_seconds (unset → 30)"
    # A run from before versions were recorded: version 1, its rules unknown (only the version is compared).
    unrecorded = WarehouseVersion.from_stats({"full_refresh": False, "project_hash": "abc"})
    assert unrecorded == WarehouseVersion(UNRECORDED_VERSION, None)
    assert rebuild_reason(unrecorded, now) == f"warehouse version {UNRECORDED_VERSION} → 8"
    assert rebuild_reason(WarehouseVersion(7, {"min_play_ms": 1}), now) == (
        "warehouse version 7 → 8; rule vars changed: include_incognito (unset → False), min_play_ms (1 → 30000), "
        "scrobble_tolerance_seconds (unset → 30)"
    )


def test_a_stored_table_of_another_shape_is_told_apart_from_a_users_data() -> None:
    assert structural_failure(_failed(OUT_OF_SYNC)) == ("model_0: schemas on this incremental model are out of sync")
    missing = (
        'Database Error in model fct_plays (models/marts/fct_plays.sql)\n  column "scrobble_sources" does not exist'
    )
    assert structural_failure(_failed("Got 1 result", missing)) == 'model_1: column "scrobble_sources" does not exist'
    typed = 'column "local_date" is of type date but expression is of type text'
    assert structural_failure(_failed(typed)) == f"model_0: {typed}"
    # Failures a user's data causes are not: they go to per-user isolation.
    for users in (
        'Database Error in model int_plays_deduplicated\n  time zone "Mars/Olympus" not recognized',
        'invalid input syntax for type timestamp with time zone: "garbage"',
        'duplicate key value violates unique constraint "int_plays_deduplicated_play_id"',
        "Got 3 results, configured to fail if != 0",
    ):
        assert structural_failure(_failed(users)) is None, users
    assert structural_failure(DbtError("dbt could not parse the project")) is None


def test_the_jobs_page_says_why_a_run_rebuilt_everything() -> None:
    automatic = {
        "seconds": 55.0,
        "full_refresh": True,
        "full_refresh_reason": "warehouse version 1 → 2",
        "warehouse": {"version": 2, "rules": {"min_play_ms": 30000}},
        "project_hash": "abc",
    }
    figures = job_figures(automatic, "transform")
    assert figures[:2] == [("Took", "55.0 s"), ("Kind", "full refresh (warehouse version 1 → 2)")]
    assert ("Warehouse version", "2") in figures
    assert not any(label.lower().startswith(("full refresh reason", "rules")) for label, _ in figures)
    routine = dict(job_figures({"full_refresh": False, "full_refresh_reason": None}, "transform"))
    assert routine["Kind"] == "only what changed"


def test_the_transform_command_says_why_it_rebuilt_everything() -> None:
    view = ProgressView(io.StringIO(), tty=False)
    stats = {"full_refresh": True, "full_refresh_reason": "warehouse version 1 → 2"}
    by_itself = summary(TransformOutcome("success", 7, 5.0, stats), view, None, False)
    assert by_itself.startswith("Warehouse built in 5.0s (full refresh, as warehouse version 1 → 2; job run #7)")
    asked = summary(TransformOutcome("success", 8, 5.0, stats | {"full_refresh_reason": "asked for"}), view, None, True)
    assert asked.startswith("Warehouse built in 5.0s (full refresh; job run #8)")
    routine = summary(TransformOutcome("success", 9, 1.0, {"full_refresh": False}), view, None, False)
    assert routine.startswith("Warehouse built in 1.0s (only what changed; job run #9)")
