"""The warehouse at scale: a full transform and one user's routine run on a database of many users.

    uv run python -m bench.scale_import_bench --plays 10000000 --users 100 --keep      # prints the kept database
    uv run python -m bench.scale_warehouse_bench --database-url postgresql://postgres@127.0.0.1:5432/postgres \\
        --reuse spmcp_scale_xxxxxxxx --routine-runs 3 --json /tmp/warehouse-10m.json

On a database `bench.scale_import_bench --keep` filled (every user's extended-history export, nothing
transformed yet), measures:

- a full transform: `transform.runner.run_transform(url, full_refresh=True)` — its dbt step is
  `invoke(url, ["build", "--exclude", CLUSTER_SELECTOR, "--full-refresh"])`, then the taste clusters of every user,
  then the cluster marts — with every dbt node's time (from the runner's progress events, so one build gives
  both the wall time and where it goes), the bytes PostgreSQL spilled to temporary files, and this process's
  peak RSS (dbt runs in-process);
- `--routine-runs N` times one user's poll: 50 new API plays of the heaviest user (as bench.transform_bench
  lands them), committed, then `run_transform(url)`: wall time and its slowest nodes;
- the size of every table dbt and the importer wrote (table + indexes + TOAST), and bytes per play.

Nothing is dropped: the database is the caller's (drop it with `DROP DATABASE ... WITH (FORCE)` when done).
`--skip-full` measures only the routine runs (on a warehouse built before).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from bench.transform_bench import add_new_api_plays
from core.dburl import libpq_url, with_database
from transform.progress import TransformEvent
from transform.runner import run_transform

SCHEMAS = ("raw", "staging", "intermediate", "marts", "ml")


@dataclass(slots=True)
class NodeTimes:
    """Every finished dbt node of a run (step, node, type, seconds), heard through the runner's progress."""

    nodes: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, event: TransformEvent) -> None:
        if event.kind == "node_finished" and event.node is not None:
            self.nodes.append(
                {
                    "step": event.step,
                    "node": event.node,
                    "type": event.resource_type,
                    "seconds": round(event.seconds or 0.0, 2),
                    "status": event.status,
                }
            )

    def slowest(self, count: int) -> list[dict[str, Any]]:
        return sorted(self.nodes, key=lambda node: -float(node["seconds"]))[:count]

    def node_seconds(self) -> float:
        return round(sum(float(node["seconds"]) for node in self.nodes), 1)


def _temp_spill(url: str) -> tuple[int, int]:
    """Temporary files PostgreSQL has written for this database so far (count, bytes): sorts and hashes that
    did not fit in work_mem."""
    with psycopg.connect(libpq_url(url)) as connection:
        row = connection.execute(
            "select temp_files, temp_bytes from pg_stat_database where datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _heaviest_user(url: str) -> tuple[UUID, int, int, int]:
    """The user with the most export records, their count, all records, and the number of users."""
    with psycopg.connect(libpq_url(url)) as connection:
        rows = connection.execute(
            "select user_id, count(*) from raw.export_records group by user_id order by 2 desc"
        ).fetchall()
    return rows[0][0], int(rows[0][1]), sum(int(row[1]) for row in rows), len(rows)


def _sizes(url: str) -> dict[str, Any]:
    """Bytes of every table (with its indexes and TOAST) of the schemas the importer and dbt write, and rows."""
    with psycopg.connect(libpq_url(url)) as connection:
        tables = connection.execute(
            """
            select n.nspname || '.' || c.relname, pg_total_relation_size(c.oid), pg_indexes_size(c.oid),
                   greatest(c.reltuples, 0)::bigint
            from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where c.relkind in ('r', 'm', 'p') and n.nspname = any(%s)
            order by 2 desc
            """,
            (list(SCHEMAS),),
        ).fetchall()
        database = connection.execute("select pg_database_size(current_database())").fetchone()
        plays = connection.execute("select count(*) from marts.fct_plays").fetchone()
    assert database is not None and plays is not None
    return {
        "database_bytes": int(database[0]),
        "fct_plays_rows": int(plays[0]),
        "tables": [
            {"table": name, "bytes": int(total), "index_bytes": int(indexes), "rows_estimate": int(rows)}
            for name, total, indexes, rows in tables
        ],
    }


def _loadavg() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def full_transform(url: str) -> dict[str, Any]:
    times = NodeTimes()
    spill_before = _temp_spill(url)
    load_before = _loadavg()
    started = time.perf_counter()
    outcome = run_transform(url, full_refresh=True, progress=times)
    seconds = time.perf_counter() - started
    if outcome.status != "success":
        raise SystemExit(f"full transform failed: {outcome.error}")
    spill_after = _temp_spill(url)
    return {
        "seconds": round(seconds, 1),
        "dbt_seconds": outcome.stats["dbt"]["seconds"],
        "dbt_setup_seconds": outcome.stats["dbt"]["setup_seconds"],
        "clusters_seconds": outcome.stats["clusters"]["seconds"],
        "downstream_seconds": outcome.stats["dbt_downstream"]["seconds"],
        "node_seconds": times.node_seconds(),
        "nodes": times.nodes,
        "temp_files": spill_after[0] - spill_before[0],
        "temp_bytes": spill_after[1] - spill_before[1],
        "load_before": load_before,
        "load_after": _loadavg(),
    }


def routine_runs(url: str, user: UUID, runs: int) -> list[dict[str, Any]]:
    """`runs` times: 50 new API plays of `user` (one poll), then a routine transform."""
    with psycopg.connect(libpq_url(url)) as connection:
        row = connection.execute("select max(played_at) from raw.api_plays where user_id = %s", (user,)).fetchone()
    now = datetime.now(UTC).replace(microsecond=0)
    # After anything earlier runs landed, so every play is new (a poll lands the last day's plays).
    after = (
        max(now - timedelta(hours=23), row[0] + timedelta(minutes=1)) if row and row[0] else now - timedelta(hours=23)
    )
    found: list[dict[str, Any]] = []
    for _ in range(runs):
        add_new_api_plays(url, user, 50, after=after)  # committed when it returns: the clock starts here
        after += timedelta(hours=3)
        times = NodeTimes()
        load_before = _loadavg()
        started = time.perf_counter()
        outcome = run_transform(url, progress=times)
        seconds = time.perf_counter() - started
        if outcome.status != "success":
            raise SystemExit(f"routine transform failed: {outcome.error}")
        found.append(
            {
                "seconds": round(seconds, 2),
                "dbt_seconds": outcome.stats["dbt"]["seconds"],
                "dbt_setup_seconds": outcome.stats["dbt"]["setup_seconds"],
                "clusters_seconds": outcome.stats["clusters"]["seconds"],
                "downstream_seconds": outcome.stats["dbt_downstream"]["seconds"],
                "node_seconds": times.node_seconds(),
                "nodes_run": len(times.nodes),
                "slowest": times.slowest(10),
                "load_before": load_before,
                "load_after": _loadavg(),
            }
        )
    return found


def report(result: dict[str, Any]) -> list[str]:
    lines = [
        f"{result['records']:,} export records of {result['users']} users; heaviest user {result['heaviest_user']} "
        f"with {result['heaviest_records']:,}"
    ]
    full = result.get("full")
    if full:
        slowest = sorted(full["nodes"], key=lambda node: -float(node["seconds"]))[:12]
        lines += [
            f"full transform {full['seconds']} s (dbt {full['dbt_seconds']} s of which set-up "
            f"{full['dbt_setup_seconds']} s, clusters {full['clusters_seconds']} s, cluster marts "
            f"{full['downstream_seconds']} s); {full['node_seconds']} node-seconds; spilled "
            f"{full['temp_files']} temp files, {full['temp_bytes'] / 1e9:.2f} GB; load {full['load_before']} -> "
            f"{full['load_after']}",
            "  slowest nodes: " + ", ".join(f"{node['node']} {node['seconds']}" for node in slowest),
        ]
    runs = result.get("routine", [])
    if runs:
        seconds = [run["seconds"] for run in runs]
        middle = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
        lines += [
            f"routine run after 50 API plays of the heaviest user: {', '.join(f'{s:.1f}' for s in seconds)} s, "
            f"median {statistics.median(seconds):.1f} s (median run: dbt {middle['dbt_seconds']} s, set-up "
            f"{middle['dbt_setup_seconds']} s, clusters {middle['clusters_seconds']} s, cluster marts "
            f"{middle['downstream_seconds']} s, {middle['nodes_run']} nodes; load {middle['load_before']})",
            "  slowest nodes: " + ", ".join(f"{node['node']} {node['seconds']}" for node in middle["slowest"]),
        ]
    sizes = result.get("sizes")
    if sizes:
        plays = max(1, sizes["fct_plays_rows"])
        lines.append(
            f"database {sizes['database_bytes'] / 1e9:.2f} GB for {sizes['fct_plays_rows']:,} plays in fct_plays = "
            f"{sizes['database_bytes'] / plays * 1e6 / 1e9:.2f} GB per million plays; largest tables:"
        )
        for table in sizes["tables"][:14]:
            lines.append(
                f"  {table['table']}: {table['bytes'] / 1e9:.3f} GB ({table['index_bytes'] / 1e9:.3f} GB indexes), "
                f"~{table['rows_estimate']:,} rows"
            )
    lines.append(f"peak RSS of this process (dbt in-process, clusters): {result['peak_rss_mb']:.0f} MB")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"), help="the server")
    parser.add_argument("--reuse", required=True, metavar="NAME", help="a database kept by scale_import_bench")
    parser.add_argument("--routine-runs", type=int, default=3)
    parser.add_argument("--skip-full", action="store_true", help="only the routine runs (warehouse built before)")
    parser.add_argument("--json", type=Path, default=None, help="also write the raw result here")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url (or TEST_DATABASE_URL) is required")
    url = with_database(args.database_url, args.reuse)
    user, heaviest, records, users = _heaviest_user(url)
    result: dict[str, Any] = {
        "database": args.reuse,
        "heaviest_user": str(user),
        "heaviest_records": heaviest,
        "records": records,
        "users": users,
        "measured_at": datetime.now(UTC).isoformat(),
    }
    if not args.skip_full:
        result["full"] = full_transform(url)
        print(report(result | {"peak_rss_mb": 0})[1], flush=True)
    result["routine"] = routine_runs(url, user, args.routine_runs)
    result["sizes"] = _sizes(url)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    for line in report(result):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
