"""What the story marts (issue 18) cost in a full and in a routine transform, per dbt model (issue 22).

    uv run python -m bench.story_marts_bench --server-url postgresql://postgres@127.0.0.1:5432/postgres --plays 200000

Creates a scratch database, generates one user's history as bench/transform_bench.py does, then `--repeat` times:
a full rebuild (`run_transform(full_refresh=True)`), 100 new API plays (one poll), a routine `run_transform()`.
Prints, per run, the wall time, the seconds of each story mart's dbt model and of all models together, and the
load average. Run it from another checkout (e.g. `git archive main`) with `PYTHONPATH` set to it to compare.
The scratch database is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

import transform.runner as runner_module
from bench.transform_bench import BENCH_USER, add_new_api_plays, generate_history
from core import migrate
from core.dburl import libpq_url, with_database
from tests.fixtures.marts import STORY_MODELS  # the story marts, one list for fixtures, tests and bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server-url", required=True, help="a server URL; a scratch database is created beside")
    parser.add_argument("--plays", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    # Every model's seconds of the main dbt build (the runner's stats keep only the slowest few).
    captured: list[dict[str, float]] = []
    original = runner_module._run_stats

    def spy(run: Any) -> dict[str, Any]:
        captured.append(
            {node.unique_id.rsplit(".", 1)[-1]: node.seconds for node in run.nodes if node.resource_type == "model"}
        )
        return original(run)

    runner_module._run_stats = spy

    def timed(full_refresh: bool) -> dict[str, Any]:
        captured.clear()
        started = time.perf_counter()
        outcome = runner_module.run_transform(url, full_refresh=full_refresh)
        assert outcome.status == "success", outcome.error
        models = captured[0] if captured else {}
        return {
            "wall_seconds": round(time.perf_counter() - started, 1),
            "all_models_seconds": round(sum(models.values()), 1),
            "story_marts_seconds": round(sum(models.get(name, 0.0) for name in STORY_MODELS), 2),
            **{name: round(models.get(name, 0.0), 2) for name in STORY_MODELS},
            # Not a story mart, but it builds the title search's trigram index (macros/indexes.sql).
            "dim_tracks": round(models.get("dim_tracks", 0.0), 2),
            "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        }

    admin = libpq_url(with_database(args.server_url, "postgres"))
    name = f"bench_story_marts_{secrets.token_hex(3)}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'create database "{name}"')
    url = with_database(args.server_url, name)
    try:
        migrate.upgrade(url)
        now = datetime.now(UTC).replace(microsecond=0)
        generate_history(url, BENCH_USER, listens=args.plays, end=now - timedelta(days=1), enriched=True)
        for round_number in range(args.repeat):
            print(json.dumps({"run": f"full {round_number + 1}", **timed(True)}), flush=True)
            after = now - timedelta(hours=23) + timedelta(hours=6 * round_number)
            add_new_api_plays(url, BENCH_USER, 100, after=after)
            print(json.dumps({"run": f"incremental {round_number + 1}", **timed(False)}), flush=True)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'drop database if exists "{name}" with (force)')


if __name__ == "__main__":
    main()
