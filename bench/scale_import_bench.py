"""Import at scale: every user's export of `bench.skewed_exports` into one database, one after another.

    uv run python -m bench.scale_import_bench --plays 1000000 --users 100
    uv run python -m bench.scale_import_bench --plays 10000000 --users 100 --exports /tmp/skewed-10m

What it answers: does the import keep its rate as `raw.export_records` grows (1M → 10M rows, one unique
index and one `(user_id, played_at)` index shared by all users), and does its memory stay flat? The exports
are generated first when `--exports` holds none (`bench.skewed_exports`, deterministic). The imports run in a
child process (peak RSS is the importer's alone) through the real worker path (`execute_job`), into a fresh
database migrated by the real migrations on the server of `--database-url` / `TEST_DATABASE_URL`. Printed:
overall records/s, the rate of each tenth of the rows landed (so growth shows), the heaviest user's rate, peak
RSS, CPU per record of the importer and of PostgreSQL, and the table's size at the end.
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


async def _import_all(database_url: str, exports: Path, entries: list[dict[str, Any]]) -> dict[str, Any]:
    settings = load_settings(
        {
            "DATABASE_URL": database_url,
            "TOKEN_ENCRYPTION_KEY": "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg=",
            "ADMIN_TOKEN": "bench-admin-token-0123456789",
            "IMPORT_MAX_ZIP_SIZE_MB": "2000",
        }
    )
    engine = create_engine(database_url, application_name="scale-import-bench")
    per_user: list[dict[str, float]] = []
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
            job = await jobs.claim_job(engine, worker_id="bench", only_id=job_id)
            assert job is not None
            pg_before = _backend_cpu(await _backend_pids(engine))
            cpu_before = time.process_time()
            started = time.perf_counter()
            outcome = await execute_job(engine, settings, job)
            seconds = time.perf_counter() - started
            python_cpu += time.process_time() - cpu_before
            pg_after = _backend_cpu(await _backend_pids(engine))
            postgres_cpu += sum(used - pg_before.get(pid, 0.0) for pid, used in pg_after.items())
            if outcome.status != "success" or outcome.result is None:
                raise SystemExit(f"import of {path.name} failed: {outcome.message}")
            per_user.append(
                {"records": outcome.result.progress.records_read, "inserted": outcome.inserted, "seconds": seconds}
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


def _child(server_url: str, exports: str, queue: multiprocessing.Queue[dict[str, Any]]) -> None:
    directory = Path(exports)
    entries = json.loads((directory / "manifest.json").read_text())["exports"]
    name = f"spmcp_scale_{secrets.token_hex(4)}"
    _admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        url = with_database(server_url, name)
        migrate.upgrade(url)
        queue.put(asyncio.run(_import_all(url, directory, entries)))
    finally:
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
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--exports", type=Path, default=None, help="where the generated exports are (or go)")
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--json", type=Path, default=None, help="also write the raw result here")
    parser.add_argument("--report", type=Path, default=None, help="only print the report of a --json result")
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
        generate(exports, plays=args.plays, users=args.users)
        print(f"generated {exports} in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[dict[str, Any]] = context.Queue()
    child = context.Process(target=_child, args=(args.database_url, str(exports), queue))
    child.start()
    result = queue.get()
    child.join()
    for line in report(result):
        print(line)
    print(f"load average {os.getloadavg()[0]:.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
