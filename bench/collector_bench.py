"""Benchmark of the collector within Spotify's quota (issue 17): requests per day of adaptive polling against
polling every user every 10 minutes, for the same week of five realistic listeners.

    uv run python -m bench.collector_bench --server-url postgresql://postgres@127.0.0.1:5432/postgres

Each schedule runs `tests/simulation.py` on a scratch database of its own (created next to the given server's,
migrated, dropped afterwards): the real collector, the fake Spotify with the 2026 quota (1,100 requests per
rolling 24 h, then 14 h of QUOTA_EXCEEDED) over loopback HTTP, virtual time. Reported per schedule: plays and
plays lost, requests per day by purpose, polls per day, the most requests in any 24 h (ledger and what the fake
saw), Spotify's quota refusals. Results go to stdout and `bench/results/collector.json`.
`--days N` (default 7), `--budget N` (SPOTIFY_REQUEST_BUDGET, default 1000), `--schedules adaptive,fixed`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import psycopg

from core import migrate
from core.db import create_engine
from core.dburl import libpq_url, with_database
from tests.simulation import simulate

RESULTS = Path(__file__).resolve().parent / "results" / "collector.json"


async def _run(database_url: str, *, adaptive: bool, days: int, budget: int) -> dict[str, Any]:
    engine = create_engine(database_url, application_name="collector bench")
    try:
        result = await simulate(database_url, engine, days=days, adaptive=adaptive, budget=budget)
    finally:
        await engine.dispose()
    summary = result.summary()
    summary["lost_by_user"] = result.lost
    summary["plays_by_user"] = result.plays
    summary["max_requests_in_24h_ledger"] = result.max_requests_24h_ledger
    summary["max_requests_in_24h_spotify"] = result.max_requests_24h_spotify
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server-url", required=True, help="a PostgreSQL server URL (a scratch database is made)")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--schedules", default="adaptive,fixed", help="adaptive, fixed (every 10 minutes), or both")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for schedule in [part.strip() for part in args.schedules.split(",") if part.strip()]:
        if schedule not in ("adaptive", "fixed"):
            parser.error(f"unknown schedule `{schedule}`: use adaptive and/or fixed")
        name = f"spmcp_bench_collector_{secrets.token_hex(4)}"
        admin = libpq_url(with_database(args.server_url, "postgres"))
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        url = with_database(args.server_url, name)
        try:
            migrate.upgrade(url)
            print(f"{schedule}: simulating {args.days} days …", flush=True)
            results[schedule] = asyncio.run(
                _run(url, adaptive=schedule == "adaptive", days=args.days, budget=args.budget)
            )
            print(json.dumps(results[schedule], indent=2, default=str), flush=True)
        finally:
            with psycopg.connect(admin, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
