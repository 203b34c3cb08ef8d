"""Import at scale: every user's export of `bench.skewed_exports` into one database, one after another.

    uv run python -m bench.scale_import_bench --plays 1000000 --users 100
    uv run python -m bench.scale_import_bench --plays 10000000 --users 100 --exports /tmp/skewed-10m --keep --phases

What it answers: does the import keep its rate as `raw.export_records` grows (1M → 10M rows, one unique
index and one `(user_id, played_at)` index shared by all users), and does its memory stay flat? The exports
are generated first when `--exports` holds none (`bench.skewed_exports`, deterministic). The imports run in a
child process (peak RSS is the importer's alone) through the real worker path (`execute_job`), into a fresh
database migrated by the real migrations on the server of `--database-url` / `TEST_DATABASE_URL`. Printed:
overall records/s, the rate of each tenth of the rows landed (so growth shows), the heaviest user's rate, peak
RSS, CPU per record of the importer and of PostgreSQL, and the table's size at the end. `--phases` also times the
steps of each import that do not grow with its records (wrapping them; the importer's code is unchanged);
`--keep` keeps the database for `bench.scale_warehouse_bench` and `bench.tools_bench --reuse`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.import_bench import _admin, _backend_cpu, _backend_pids
from bench.skewed_exports import generate
from core import migrate
from core.db import create_engine
from core.dburl import with_database
from core.settings import load_settings
from ingest.imports import jobs
from ingest.imports.worker import execute_job


class _Phases:
    """Wall time of the steps of one import that do not grow with its records (the per-import fixed cost),
    measured by wrapping the functions `execute_job` calls (the importer's code is not changed)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.started = 0.0
        self.first_batch: float | None = None

    def reset(self) -> None:
        self.seconds = {}
        self.started = time.perf_counter()
        self.first_batch = None

    def timed[**P, R](
        self, name: str, function: Callable[P, Coroutine[Any, Any, R]]
    ) -> Callable[P, Coroutine[Any, Any, R]]:
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            began = time.perf_counter()
            try:
                return await function(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - began

        return wrapper

    def timed_sync[**P, R](self, name: str, function: Callable[P, R]) -> Callable[P, R]:
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - began

        return wrapper

    def install(self) -> None:
        """Wrap the steps where `execute_job` and its callees look them up (module attributes)."""
        from ingest.imports import loader, pipeline, worker

        worker.detect = self.timed_sync("detect", worker.detect)  # type: ignore[attr-defined]
        pipeline._plan = self.timed_sync("zip_plan", pipeline._plan)
        loader._summarize = self.timed("brin_summary", loader._summarize)
        jobs.set_format = self.timed("set_format", jobs.set_format)
        jobs.finish_success = self.timed("finish_success", jobs.finish_success)
        worker._after = self.timed("after", worker._after)
        load = loader.BatchLoader.load
        phases = self

        async def first_load(self: loader.BatchLoader, rows: Any) -> int:
            if phases.first_batch is None:
                phases.first_batch = time.perf_counter() - phases.started
            return await load(self, rows)

        loader.BatchLoader.load = first_load  # type: ignore[method-assign]


async def _import_all(
    database_url: str, exports: Path, entries: list[dict[str, Any]], phases: _Phases | None = None
) -> dict[str, Any]:
    settings = load_settings(
        {
            "DATABASE_URL": database_url,
            "TOKEN_ENCRYPTION_KEY": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
            "ADMIN_TOKEN": "bench-admin-token-0123456789",
            "IMPORT_MAX_ZIP_SIZE_MB": "2000",
        }
    )
    engine = create_engine(database_url, application_name="scale-import-bench")
    per_user: list[dict[str, Any]] = []
    python_cpu = postgres_cpu = 0.0
    try:
        for entry in entries:
            path = exports / entry["zip"]
            async with engine.begin() as connection:
                user_id: uuid.UUID = (
                    await connection.execute(
                        text("INSERT INTO app.users (display_name) VALUES (:name) RETURNING id"),
                        {"name": f"bench {entry['user']}"},
                    )
                ).scalar_one()
                job_id = await jobs.create_job(
                    connection,
                    user_id=user_id,
                    storage_path=path,
                    original_filename=path.name,
                    origin="cli",
                    file_size_bytes=path.stat().st_size,
                    file_sha256=None,
                )
            claim_started = time.perf_counter()
            job = await jobs.claim_job(engine, worker_id="bench", only_id=job_id)
            claim_seconds = time.perf_counter() - claim_started
            assert job is not None
            pg_before = _backend_cpu(await _backend_pids(engine))
            cpu_before = time.process_time()
            if phases is not None:
                phases.reset()
            started = time.perf_counter()
            outcome = await execute_job(engine, settings, job)
            seconds = time.perf_counter() - started
            python_cpu += time.process_time() - cpu_before
            pg_after = _backend_cpu(await _backend_pids(engine))
            postgres_cpu += sum(used - pg_before.get(pid, 0.0) for pid, used in pg_after.items())
            if outcome.status != "success" or outcome.result is None:
                raise SystemExit(f"import of {path.name} failed: {outcome.message}")
            per_user.append(
                {
                    "records": outcome.result.progress.records_read,
                    "inserted": outcome.inserted,
                    "seconds": seconds,
                    # run_import's own clock (plan, parse, land, BRIN summary): the rest of `seconds` is
                    # execute_job's before and after (detect, outcome, files); the claim is outside `seconds`.
                    "run_import_seconds": outcome.result.seconds,
                    "claim_seconds": claim_seconds,
                    **(
                        {
                            "phases": phases.seconds
                            | ({"first_batch": phases.first_batch} if phases.first_batch is not None else {})
                        }
                        if phases is not None
                        else {}
                    ),
                }
            )
        async with engine.connect() as connection:
            size = (
                (
                    await connection.execute(
                        text(
                            "SELECT pg_total_relation_size('raw.export_records') AS table_bytes, "
                            "(SELECT count(*) FROM raw.export_records) AS rows"
                        )
                    )
                )
                .mappings()
                .one()
            )
    finally:
        await engine.dispose()
    return {
        "per_user": per_user,
        "python_cpu": python_cpu,
        "postgres_cpu": postgres_cpu,
        "table_bytes": int(size["table_bytes"]),
        "rows": int(size["rows"]),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _child(
    server_url: str, exports: str, queue: multiprocessing.Queue[dict[str, Any]], keep: bool, phases: bool
) -> None:
    directory = Path(exports)
    entries = json.loads((directory / "manifest.json").read_text())["exports"]
    name = f"spmcp_scale_{secrets.token_hex(4)}"
    _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        url = with_database(server_url, name)
        migrate.upgrade(url)
        recorder = _Phases() if phases else None
        if recorder is not None:
            recorder.install()
        queue.put(asyncio.run(_import_all(url, directory, entries, recorder)) | {"database": name})
    finally:
        if not keep:
            _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def report(result: dict[str, Any]) -> list[str]:
    per_user = result["per_user"]
    records = sum(user["records"] for user in per_user)
    seconds = sum(user["seconds"] for user in per_user)
    lines = [
        f"{len(per_user)} users, {records:,} records ({result['rows']:,} rows landed, table + indexes "
        f"{result['table_bytes'] / 1e9:.2f} GB) in {seconds:.1f}s = {records / seconds:,.0f} records/s; "
        f"peak RSS {result['peak_rss_mb']:.0f} MB; CPU per record: importer "
        f"{result['python_cpu'] / records * 1e6:.1f} µs, PostgreSQL {result['postgres_cpu'] / records * 1e6:.1f} µs"
    ]
    heaviest = max(per_user, key=lambda user: user["records"])
    lines.append(
        f"heaviest user {heaviest['records']:,.0f} records at {heaviest['records'] / heaviest['seconds']:,.0f} "
        f"records/s; median user {statistics.median(user['records'] for user in per_user):,.0f} records"
    )
    # seconds = fixed + per_record × records, least squares over the users: what one import costs whatever its
    # size (job, claim, plan, thread, BRIN summary, outcome) and what each record costs.
    fit = statistics.linear_regression([user["records"] for user in per_user], [user["seconds"] for user in per_user])
    lines.append(
        f"per import: {fit.intercept * 1000:.0f} ms fixed + {fit.slope * 1e6:.2f} µs per record "
        f"(= {1 / fit.slope:,.0f} records/s once started)"
    )
    # The rate of successive groups of users (in import order), each at least a tenth of the rows: growth of
    # the table shows here.
    groups: list[str] = []
    group_records = group_seconds = 0.0
    for user in per_user:
        group_records += user["records"]
        group_seconds += user["seconds"]
        if group_records >= records / 10 or user is per_user[-1]:
            groups.append(f"{group_records / group_seconds:,.0f}")
            group_records = group_seconds = 0.0
    lines.append("records/s by successive tenths of the rows landed: " + ", ".join(groups))
    if "run_import_seconds" in per_user[0]:
        outside = [user["seconds"] - user["run_import_seconds"] for user in per_user]
        claims = [user["claim_seconds"] for user in per_user]
        lines.append(
            f"per import, median: claim {statistics.median(claims) * 1000:.0f} ms (before the clock), "
            f"execute_job outside run_import {statistics.median(outside) * 1000:.0f} ms"
        )
    if "phases" in per_user[0]:
        names = sorted({name for user in per_user for name in user["phases"]})
        medians = {name: statistics.median(user["phases"].get(name, 0.0) for user in per_user) for name in names}
        lines.append(
            "fixed steps per import, median ms: "
            + ", ".join(f"{name} {seconds * 1000:.0f}" for name, seconds in medians.items())
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--exports", type=Path, default=None, help="where the generated exports are (or go)")
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--json", type=Path, default=None, help="also write the raw result here")
    parser.add_argument("--report", type=Path, default=None, help="only print the report of a --json result")
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    parser.add_argument("--jobs", type=int, default=1, help="processes generating missing exports")
    parser.add_argument(
        "--phases", action="store_true", help="also time the fixed steps of each import (detect, plan, summary, …)"
    )
    args = parser.parse_args(argv)
    if args.report is not None:
        for line in report(json.loads(args.report.read_text())):
            print(line)
        return 0
    if not args.database_url:
        print("give --database-url or TEST_DATABASE_URL (a PostgreSQL server; a fresh database is created)")
        return 2
    exports: Path = args.exports or Path(f"/tmp/spotify-skewed-{args.plays}-{args.users}")
    if not (exports / "manifest.json").exists():
        started = time.perf_counter()
        generate(exports, plays=args.plays, users=args.users, jobs=args.jobs)
        print(f"generated {exports} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[dict[str, Any]] = context.Queue()
    child = context.Process(target=_child, args=(args.database_url, str(exports), queue, args.keep, args.phases))
    child.start()
    result = queue.get()
    child.join()
    for line in report(result):
        print(line)
    print(f"load average {os.getloadavg()[0]:.2f}")
    if args.keep:
        print(f"kept database {result['database']} (drop it when done)")
    if args.json is not None:
        args.json.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
