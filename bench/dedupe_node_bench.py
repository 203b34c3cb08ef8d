"""Benchmark of one dbt node (issue 22): full-refresh builds of `int_plays_deduplicated` on a kept bench database.

    uv run python -m bench.transform_bench --database-url postgresql://postgres@127.0.0.1:5432/postgres \
        --repeat 1 --keep --account-records          # prints "bench database: NAME"
    uv run python -m bench.dedupe_node_bench --database-url postgresql://postgres@127.0.0.1:5432/NAME --repeat 3

Each repeat runs `dbt build --full-refresh --select int_plays_deduplicated` in-process (`transform.dbt_invoke`) and
reports the model node's seconds (its tests apart). `--explain` also runs the model's compiled `select` under
`explain (analyze, buffers)` with the model's `work_mem` and prints the plan. To compare two trees on one database,
run this file from one tree with `PYTHONPATH` on the other (`cd TREE && PYTHONPATH=TREE python
/path/to/bench/dedupe_node_bench.py ...`), alternating: the dbt project of the tree on `PYTHONPATH` is built.
Nothing is written to bench/results; the database is left as a full build leaves it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import psycopg

from core.dburl import libpq_url
from transform.dbt_invoke import invoke

MODEL = "int_plays_deduplicated"


def _node_seconds(url: str) -> tuple[float, float, float]:
    """(model seconds, its tests' seconds, wall seconds) of one full-refresh build of the model."""
    started = time.perf_counter()
    run = invoke(url, ["build", "--full-refresh", "--select", MODEL])
    wall = time.perf_counter() - started
    model = sum(node.seconds for node in run.nodes if node.resource_type == "model")
    tests = sum(node.seconds for node in run.nodes if node.resource_type != "model")
    return model, tests, wall


def _explain(url: str) -> str:
    with tempfile.TemporaryDirectory() as directory:
        target = Path(directory)
        invoke(url, ["compile", "--full-refresh", "--select", MODEL], target_dir=target)
        compiled = next(target.rglob(f"compiled/**/{MODEL}.sql")).read_text()
    with psycopg.connect(libpq_url(url)) as connection:
        connection.execute("set local work_mem = '128MB'")
        plan = connection.execute(f"explain (analyze, buffers) {compiled}").fetchall()
    return "\n".join(str(row[0]) for row in plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="the kept bench database")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--explain", action="store_true", help="also EXPLAIN ANALYZE the compiled select")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
    models: list[float] = []
    for number in range(args.repeat):
        model, tests, wall = _node_seconds(args.database_url)
        models.append(model)
        print(f"run {number + 1}: {MODEL} {model:.1f} s, its tests {tests:.1f} s, dbt wall {wall:.1f} s", flush=True)
    if models:
        print(f"median {MODEL}: {statistics.median(models):.1f} s", flush=True)
    if args.explain:
        print(_explain(args.database_url), flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
