"""`run_transform()`: the warehouse refresh the collector runs after a cycle that landed rows.

    dbt build (every model but the cluster mart; incremental models only touch what changed; views only when
    the project's files changed since the last successful run)
      → taste clusters of every user (ml.taste_clusters)
      → dbt build of the models downstream of the clusters (marts.fct_taste_clusters)

One at a time across processes: a PostgreSQL session-level advisory lock. Recorded in `app.job_runs`
(`job_type = 'transform'`, stats: seconds per step, models built, rows, clusters). Failures are logged and
returned in the outcome, never raised, so the collector loop carries on ingesting.

A routine run becomes a full refresh by itself, saying why in stats.full_refresh_reason, when what incremental
models stored is of another warehouse version or rule vars than this code builds (transform.warehouse_version, an
upgrade or an edited var), and after a routine build that failed for no user's data (a stored table of another
shape: a forgotten version bump); only if that full refresh fails too is the run an error.

One user's data never stops the others (transform.isolation): when the build fails, the users whose data fails it
are found, left out and named, everyone else is built, and the run ends `partial`. Users deleted while the run
went on lose the rows it wrote for them before it ends (transform.warehouse_purge).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

import psycopg
from psycopg.types.json import Jsonb

from core.dburl import libpq_url
from core.log import log_context
from transform import clusters, isolation, warehouse_version
from transform.dbt_invoke import DbtError, DbtRun, invoke
from transform.dbt_invoke import project_hash as project_hash  # when it equals the last run's, views stand
from transform.process import ADVISORY_LOCK_KEY as ADVISORY_LOCK_KEY  # defined there; callers import it here too
from transform.process import mark_abandoned
from transform.progress import ProgressCallback, TransformEvent, dbt_callbacks, emit
from transform.warehouse_purge import purge_warehouse
from transform.warehouse_version import WarehouseVersion

logger = logging.getLogger("transform")

CLUSTER_SELECTOR: Final = "stg_ml__taste_clusters+ stg_ml__taste_cluster_artists+"

# partial: built without the users whose data fails the build (named in stats.quarantine and the error message).
type Status = Literal["success", "partial", "error", "skipped", "interrupted"]


@dataclass(frozen=True, slots=True)
class TransformOutcome:
    status: Status
    job_run_id: int | None
    seconds: float
    stats: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """The warehouse is built (for everyone, or for everyone but the users a partial run names)."""
        return self.status in ("success", "partial", "skipped")


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _start_job(connection: psycopg.Connection[Any], full_refresh: bool) -> tuple[int, datetime]:
    """The run's job row; and its start in the database's clock (every row the run writes is stamped later)."""
    row = connection.execute(
        "insert into app.job_runs (job_type, status, stats, worker_id) values ('transform', 'running', %s, %s) "
        "returning id, started_at",
        (Jsonb({"full_refresh": full_refresh}), _worker_id()),
    ).fetchone()
    assert row is not None
    return int(row[0]), row[1]


def _finish_job(
    connection: psycopg.Connection[Any], job_run_id: int, status: str, stats: dict[str, Any], error: str | None
) -> None:
    connection.execute(
        "update app.job_runs set status = %s, finished_at = now(), stats = %s, error_message = %s where id = %s",
        (status, Jsonb(stats), error, job_run_id),
    )


def _run_stats(run: DbtRun) -> dict[str, Any]:
    models = [node for node in run.nodes if node.resource_type == "model"]
    tests = [node for node in run.nodes if node.resource_type in {"test", "unit_test"}]
    return {
        "seconds": round(run.seconds, 2),
        # dbt's own share: start-up and the manifest (parsed, or the process's copy reused) before the first node
        "setup_seconds": None if run.setup_seconds is None else round(run.setup_seconds, 2),
        "manifest_reused": run.manifest_reused,
        "models": len(models),
        "tests": len(tests),
        "unit_tests": sum(1 for node in tests if node.resource_type == "unit_test"),
        # Node-seconds (summed over dbt's threads): where a build's time goes, models against tests.
        "model_seconds": round(sum(node.seconds for node in models), 2),
        "test_seconds": round(sum(node.seconds for node in tests), 2),
        "rows": {node.unique_id.rsplit(".", 1)[-1]: node.rows_affected for node in models if node.rows_affected},
        "slowest": {
            node.unique_id.split(".", 2)[-1]: round(node.seconds, 2)
            for node in sorted(run.nodes, key=lambda node: -node.seconds)[:8]
        },
    }


# Routine runs test what they wrote: the big play models' tests look at the rows of the run only, and the checks
# of raw data (whole landing tables) are left to full refreshes and CI.
RECENT_ROWS_FILTER: Final = "transformed_at >= (select max(transformed_at) from intermediate.int_plays_deduplicated)"
FULL_SCAN_TESTS: Final = "resource_type:test,tag:full_scan"


VIEWS: Final = "config.materialized:view"
UNIT_TESTS: Final = "resource_type:unit_test"


def _last_built(connection: psycopg.Connection[Any]) -> tuple[str | None, WarehouseVersion | None]:
    """The project hash and warehouse version of the last run that built the warehouse (None, None: none yet)."""
    row = connection.execute(
        "select stats from app.job_runs where job_type = 'transform' "
        "and status in ('success', 'partial') order by finished_at desc nulls last limit 1"
    ).fetchone()
    if row is None:
        return None, None
    stats: dict[str, Any] = row[0] or {}
    built_hash = stats.get("project_hash")
    return (str(built_hash) if built_hash else None), WarehouseVersion.from_stats(stats)


def dbt_variables(
    *, routine: bool, excluded_users: Sequence[str] = (), rebuild_users: Sequence[str] = ()
) -> dict[str, object]:
    """Vars the runner passes to dbt (constant per kind of run, so dbt's partial parsing stays valid; the users
    left out or rebuilt whole (transform.isolation) are only passed when there are some)."""
    variables: dict[str, object] = {"test_rows_filter": RECENT_ROWS_FILTER} if routine else {}
    if excluded_users:
        variables["excluded_users"] = sorted(excluded_users)
    if rebuild_users:
        variables["rebuild_users"] = sorted(rebuild_users)
    return variables


def _user_ids(connection: psycopg.Connection[Any]) -> set[str]:
    return {str(row[0]) for row in connection.execute("select id from app.users").fetchall()}


def run_transform(
    database_url: str,
    *,
    full_refresh: bool = False,
    wait_seconds: float = 0.0,
    now: datetime | None = None,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> TransformOutcome:
    """Refresh the warehouse. Synchronous; returns (never raises) the outcome.

    When another process holds the transform lock, waits up to `wait_seconds` for it, else returns `skipped`
    (that run will pick up the same new rows: models select by ingested_at). `progress` hears each step and
    each dbt node (transform.progress). `stop` is set when the process was told to stop
    (`transform.process.interrupt_on_signals`): a run that fails then is `interrupted`, not `error`.
    KeyboardInterrupt and SystemExit end the run `interrupted` too, and are raised on."""
    started = time.perf_counter()
    try:
        lock_connection = psycopg.connect(libpq_url(database_url), autocommit=True, application_name="transform")
    except psycopg.Error as error:
        logger.exception("transform could not connect to the database")
        return TransformOutcome("error", None, time.perf_counter() - started, error=str(error))
    with lock_connection:
        if not _acquire(lock_connection, wait_seconds):
            logger.info("transform skipped: another process is running it")
            return TransformOutcome("skipped", None, time.perf_counter() - started, {"reason": "locked"})
        try:
            return _run_locked(
                lock_connection,
                database_url,
                full_refresh=full_refresh,
                now=now,
                started=started,
                progress=progress,
                stop=stop,
            )
        finally:
            lock_connection.execute("select pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


def _acquire(connection: psycopg.Connection[Any], wait_seconds: float) -> bool:
    deadline = time.monotonic() + wait_seconds
    while True:
        row = connection.execute("select pg_try_advisory_lock(%s)", (ADVISORY_LOCK_KEY,)).fetchone()
        if row is not None and row[0]:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


def _run_locked(
    connection: psycopg.Connection[Any],
    database_url: str,
    *,
    full_refresh: bool,
    now: datetime | None,
    started: float,
    progress: ProgressCallback | None = None,
    stop: threading.Event | None = None,
) -> TransformOutcome:
    mark_abandoned(connection)  # holding the lock: any transform row still `running` was left by a killed process
    current_hash = project_hash()
    built_hash, built_version = _last_built(connection)
    try:
        version = warehouse_version.current()
    except ValueError as error:  # a broken project: dbt could not build either
        logger.exception("transform cannot start")
        return TransformOutcome("error", None, time.perf_counter() - started, error=str(error))
    # What incremental models stored is of another version or rules: rebuilt from scratch (an upgrade, an edit).
    reason = "asked for" if full_refresh else warehouse_version.rebuild_reason(built_version, version)
    if reason is not None and not full_refresh:
        logger.warning("transform: a full refresh, as the stored warehouse is out of date: %s", reason)
        full_refresh = True
    unchanged_project = not full_refresh and built_hash == current_hash
    job_run_id, run_started = _start_job(connection, full_refresh)
    stats: dict[str, Any] = {
        "full_refresh": full_refresh,
        **({"full_refresh_reason": reason} if reason else {}),
        "project_hash": current_hash,
        warehouse_version.STATS_KEY: version.as_stats(),
    }
    users_at_start = _user_ids(connection)
    with log_context(job_run_id=job_run_id):
        try:
            clusters.ensure_table(database_url)
            refresh = ["--full-refresh"] if full_refresh else []
            plan = isolation.plan(connection, full_refresh=full_refresh)
            variables = dbt_variables(
                routine=not full_refresh, excluded_users=list(plan.excluded), rebuild_users=plan.rebuild
            )
            # Handed on whatever happens to this run: those left out stay left out, those emptied get built.
            stats[isolation.QUARANTINE_KEY] = [entry.as_stats() for entry in plan.excluded.values()]
            stats[isolation.PENDING_KEY] = list(plan.rebuild)
            purge_warehouse(connection, plan.rebuild)  # built again from scratch: nothing stale of theirs remains
            # What changed: routine runs leave out whole-table checks of raw data, and the views (and their tests)
            # and the unit tests when the project's files are those of the last successful run.
            excluded = [CLUSTER_SELECTOR]
            if not full_refresh:
                excluded.append(FULL_SCAN_TESTS)
            if unchanged_project:
                # Unit tests check the project's SQL on fixed rows: with the same files, the same result.
                excluded += [VIEWS, UNIT_TESTS]

            def build(left_out: Sequence[str], rebuilt: Sequence[str]) -> DbtRun:
                """A retry while isolating a failure: incremental, whatever the first build was."""
                return invoke(
                    database_url,
                    ["build", "--exclude", *excluded, *([] if FULL_SCAN_TESTS in excluded else [FULL_SCAN_TESTS])],
                    variables=dbt_variables(routine=True, excluded_users=left_out, rebuild_users=rebuilt),
                    callbacks=dbt_callbacks("dbt", progress),
                )

            emit(progress, TransformEvent("step_started", "dbt"))
            culprits: dict[str, tuple[str, str]] = {}
            try:
                warehouse = invoke(
                    database_url,
                    ["build", "--exclude", *excluded, *refresh],
                    variables=variables,
                    callbacks=dbt_callbacks("dbt", progress),
                )
            except DbtError as failure:
                if stop is not None and stop.is_set():
                    raise
                # A stored table of another shape than the models (a forgotten warehouse_version bump): nobody's
                # data is to blame, and a full refresh is the cure.
                not_users = None if full_refresh else isolation.structural_failure(failure)
                if not_users is None:
                    tiers = isolation.suspect_tiers(
                        connection, rebuild=plan.rebuild, full_refresh=full_refresh, current_job=job_run_id
                    )
                    try:
                        found = isolation.isolate(
                            connection,
                            failure,
                            build,
                            tiers=tiers,
                            excluded=plan.excluded,
                            run_started=run_started,
                            stats=stats,
                            stop=stop,
                        )
                    except DbtError as failed:
                        if full_refresh or (stop is not None and stop.is_set()):
                            raise
                        node, message = isolation.blame(failed)
                        not_users = f"{node}: {' '.join(message.split())[:300]}"
                    else:
                        warehouse, culprits = found.run, found.culprits
                        stats["isolation_builds"] = found.builds
                if not_users is not None:  # one full refresh instead (users quarantined before stay out)
                    full_refresh, refresh = True, ["--full-refresh"]
                    stats["full_refresh"] = True
                    stats["full_refresh_reason"] = warehouse_version.failure_reason(not_users)
                    warehouse = warehouse_version.rebuild_after_failure(
                        connection,
                        stats["full_refresh_reason"],
                        lambda: invoke(
                            database_url,
                            ["build", "--exclude", CLUSTER_SELECTOR, "--full-refresh"],
                            variables=dbt_variables(routine=False, excluded_users=list(plan.excluded)),
                            callbacks=dbt_callbacks("dbt", progress),
                        ),
                        current_job=job_run_id,
                        stop=stop,
                    )
            stats[isolation.PENDING_KEY] = []
            quarantine = isolation.quarantine(connection, culprits, kept=plan.excluded.values())
            stats[isolation.QUARANTINE_KEY] = [entry.as_stats() for entry in quarantine]
            stats["dbt"] = _run_stats(warehouse)
            emit(progress, TransformEvent("step_finished", "dbt", seconds=warehouse.seconds))

            step = time.perf_counter()
            emit(progress, TransformEvent("step_started", "clusters"))
            stats["clusters"] = clusters.refresh_standard_windows(database_url, now=now, changed_only=not full_refresh)
            stats["clusters"]["seconds"] = round(time.perf_counter() - step, 2)
            emit(progress, TransformEvent("step_finished", "clusters", seconds=time.perf_counter() - step))

            if unchanged_project and not full_refresh and stats["clusters"]["recomputed_users"] == 0:
                # No fit was written (transform.clusters.refit kept them all) and the cluster marts' views are those
                # the last successful run built: nothing for the second build to make or test (dbt's start and
                # the marts' 17 tests were ~1 s of a routine run).
                stats["dbt_downstream"] = {"skipped": "no taste clusters refitted, views unchanged"}
            else:
                # The whole selection, views included: the cluster marts are views of the ml tables, so leaving views
                # out when the project is unchanged selected nothing (dbt then prints "Nothing to do" on stdout, into
                # `transform --json`), and their tests are what checks the rows the cluster step just wrote.
                emit(progress, TransformEvent("step_started", "dbt_downstream"))
                downstream = invoke(
                    database_url,
                    ["build", "--select", CLUSTER_SELECTOR, *refresh],
                    variables=dbt_variables(routine=not full_refresh),  # the cluster marts read no user lists
                    callbacks=dbt_callbacks("dbt_downstream", progress),
                )
                stats["dbt_downstream"] = _run_stats(downstream)
                emit(progress, TransformEvent("step_finished", "dbt_downstream", seconds=downstream.seconds))
            _purge_deleted_users(connection, users_at_start)
        except Exception as error:  # every failure is recorded and returned, never raised
            seconds = time.perf_counter() - started
            stats["seconds"] = round(seconds, 2)
            message = f"{type(error).__name__}: {error}"
            if stop is not None and stop.is_set():  # dbt turns the interrupt into a failed result
                _finish_job(connection, job_run_id, "interrupted", stats, "stopped by a signal before it finished")
                return TransformOutcome("interrupted", job_run_id, seconds, stats, "interrupted")
            logger.exception("transform failed", extra={"ctx": {"error": message[:2000]}})
            _finish_job(connection, job_run_id, "error", stats, message[:4000])
            return TransformOutcome("error", job_run_id, seconds, stats, message)
        except BaseException:  # KeyboardInterrupt, SystemExit: record the run as interrupted, then stop
            stats["seconds"] = round(time.perf_counter() - started, 2)
            _finish_job(connection, job_run_id, "interrupted", stats, "stopped by a signal before it finished")
            raise
        seconds = time.perf_counter() - started
        stats["seconds"] = round(seconds, 2)
        if quarantine:
            message = isolation.summary(quarantine)
            _finish_job(connection, job_run_id, "partial", stats, message)
            logger.warning("transform finished without some users", extra={"ctx": {"error": message[:2000]}})
            return TransformOutcome("partial", job_run_id, seconds, stats, message)
        _finish_job(connection, job_run_id, "success", stats, None)
        logger.info("transform finished", extra={"ctx": {"seconds": stats["seconds"]}})
        return TransformOutcome("success", job_run_id, seconds, stats)


def _purge_deleted_users(connection: psycopg.Connection[Any], users_at_start: set[str]) -> None:
    """A user deleted while the build ran may have had rows written after their deletion purged the warehouse:
    purge them again now that the build is over (we hold the transform lock, so no build writes meanwhile)."""
    deleted = users_at_start - _user_ids(connection)
    if deleted:
        rows = purge_warehouse(connection, deleted)
        logger.info("removed the warehouse rows of users deleted during the transform", extra={"ctx": rows})


def generate_docs(database_url: str, target_dir: str | os.PathLike[str]) -> None:
    """`dbt docs generate` into `target_dir` (index.html, manifest.json, catalog.json)."""
    from pathlib import Path

    invoke(database_url, ["docs", "generate"], target_dir=Path(target_dir))
