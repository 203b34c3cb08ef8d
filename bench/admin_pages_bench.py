"""Benchmark of the admin UI pages and the Streamlit pages on a large database (1,000,000 plays).

    uv run python -m bench.admin_pages_bench --server-url postgresql://postgres@127.0.0.1:5432/postgres

Creates a database beside the server URL and migrates it; fills the contract's marts
(tests/fixtures/marts_contract.sql) with N plays for one user (two years, derived aggregates), N raw export
records for the same user, 50 more users, 200,000 log rows, 20,000 job runs and 500 import jobs. Then runs
the real entrypoints as separate processes — `spotify-mcp api`, `spotify-mcp admin` — logs in and times every
admin page over HTTP (first load and the median/max of 5 more), and times every Streamlit page with AppTest
(script run, cold cache then warm). Prints a JSON report and a Markdown table for bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx
import psycopg

from core import migrate
from core.crypto import generate_key
from core.dburl import libpq_url, with_database
from tests.integration.test_admin_dashboards import APP, PAGES, load_marts
from tests.live_server import free_port

ADMIN_TOKEN = "bench-admin-token-" + "y" * 16
ADMIN_PAGES = [
    "/",
    "/users",
    "/users/{user_id}",
    "/imports",
    "/jobs",
    "/jobs/{job_id}",
    "/logs",
    "/logs?q=timeout",
    "/logs?level=error&service=collector",
    "/analytics",
    "/connect",
    "/partials/health",
]

FILL_APP_SQL = [
    """INSERT INTO app.users (id, display_name, timezone) VALUES (%(u)s::uuid, 'Bench User', 'Europe/Berlin')""",
    """INSERT INTO app.users (display_name) SELECT 'user ' || g FROM generate_series(1, 50) AS g""",
    """INSERT INTO app.sync_checkpoints (user_id, status) SELECT id, 'polling' FROM app.users""",
    """INSERT INTO raw.export_records (user_id, record_key, played_at, ms_played, content_kind, source_format,
                                      track_id, track_name, artist_name)
       SELECT %(u)s::uuid, 'k' || g, now() - g * interval '63 seconds', 185000, 'track', 'extended',
              'trk' || (g %% 50000), 'Song', 'Artist'
       FROM generate_series(1, %(n)s) AS g""",
    """INSERT INTO app.job_runs (job_type, user_id, status, started_at, finished_at, stats)
       SELECT (ARRAY['poll', 'poll', 'poll', 'enrich', 'transform'])[1 + g %% 5], %(u)s::uuid,
              CASE WHEN g %% 50 = 0 THEN 'error' ELSE 'success' END,
              now() - g * interval '10 minutes', now() - g * interval '10 minutes' + interval '3 seconds',
              jsonb_build_object('fetched', g %% 50, 'inserted', g %% 7)
       FROM generate_series(1, 20000) AS g""",
    """INSERT INTO app.import_jobs (user_id, status, storage_path, file_size_bytes, records_ingested, records_total,
                                   original_filename, uploaded_at)
       SELECT %(u)s::uuid, 'success', '/u/' || g, 12000000, 300000, 300000, 'export' || g || '.zip',
              now() - g * interval '1 day'
       FROM generate_series(1, 500) AS g""",
    """INSERT INTO app.logs (service, level, timestamp, message, context)
       SELECT (ARRAY['api', 'collector', 'transform'])[1 + g %% 3],
              (ARRAY['debug', 'info', 'info', 'warning', 'error'])[1 + g %% 5],
              now() - g * interval '13 seconds',
              CASE WHEN g %% 97 = 0 THEN 'request timeout talking to spotify' ELSE 'poll finished' END,
              jsonb_build_object('user_id', %(u)s::text, 'job_run_id', g)
       FROM generate_series(1, 200000) AS g""",
    "ANALYZE",
]


def _admin(server_url: str, statement: str) -> None:
    with psycopg.connect(libpq_url(with_database(server_url, "postgres")), autocommit=True) as connection:
        connection.execute(statement)


def prepare(server_url: str, plays: int) -> tuple[str, str, str]:
    name = f"spmcp_adminbench_{secrets.token_hex(4)}"
    _admin(server_url, f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    migrate.upgrade(url)
    started = time.perf_counter()
    user_id = load_marts(url, plays=plays, name="Bench User", timezone="Europe/Berlin")
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        for statement in FILL_APP_SQL:
            connection.execute(statement, {"u": user_id, "n": plays})
    print(f"data ready in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return name, url, user_id


def _wait(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def time_admin_pages(url: str, user_id: str, runs: int) -> dict[str, dict[str, float]]:
    api_port, ui_port = free_port(), free_port()
    env = dict(
        os.environ,
        DATABASE_URL=url,
        TOKEN_ENCRYPTION_KEY=generate_key(),
        ADMIN_TOKEN=ADMIN_TOKEN,
        API_PORT=str(api_port),
        ADMIN_UI_PORT=str(ui_port),
        LOG_LEVEL="WARNING",
    )
    command = [sys.executable, "-m", "cli.main"]
    processes = [
        subprocess.Popen([*command, "api"], env=env, stdout=subprocess.DEVNULL),
        subprocess.Popen([*command, "admin"], env=env, stdout=subprocess.DEVNULL),
    ]
    results: dict[str, dict[str, float]] = {}
    try:
        _wait(f"http://127.0.0.1:{api_port}/healthz")
        _wait(f"http://127.0.0.1:{ui_port}/healthz")
        with httpx.Client(base_url=f"http://127.0.0.1:{ui_port}", timeout=30) as client:
            assert client.post("/login", data={"token": ADMIN_TOKEN}).status_code == 303
            jobs = client.get("/jobs").text
            job_id = re.search(r'href="/jobs/(\d+)"', jobs)
            for template in ADMIN_PAGES:
                path = template.format(user_id=user_id, job_id=job_id.group(1) if job_id else "1")
                timings = []
                for _ in range(runs + 1):
                    started = time.perf_counter()
                    response = client.get(path)
                    timings.append(time.perf_counter() - started)
                    assert response.status_code == 200, (path, response.status_code, response.text[:300])
                results[template] = {
                    "first_ms": round(timings[0] * 1000, 1),
                    "median_ms": round(statistics.median(timings[1:]) * 1000, 1),
                    "max_ms": round(max(timings[1:]) * 1000, 1),
                }
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)
    return results


def time_streamlit_pages(url: str) -> dict[str, dict[str, float]]:
    import logging

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    logging.getLogger("streamlit").setLevel(logging.ERROR)

    os.environ["DATABASE_URL"] = url
    os.environ.pop("DASHBOARDS_DATABASE_URL", None)
    st.cache_data.clear()
    st.cache_resource.clear()
    from dashboards import data

    results: dict[str, dict[str, float]] = {}
    # Once per Streamlit process: load the postgres extension, ATTACH and warm up (st.cache_resource), and
    # import the page modules (altair, polars, …) — the first page ever served pays these, no later one.
    started = time.perf_counter()
    data._connection()
    results["(once per process: DuckDB connection + ATTACH + warm-up)"] = {
        "cold_ms": round((time.perf_counter() - started) * 1000, 1),
        "warm_ms": 0.0,
    }
    started = time.perf_counter()
    AppTest.from_file(APP, default_timeout=120).run()
    results["(once per process: first script run, module imports)"] = {
        "cold_ms": round((time.perf_counter() - started) * 1000, 1),
        "warm_ms": 0.0,
    }
    for page in PAGES:
        # Cold: an empty data cache (the DuckDB connection is process-wide and stays); warm: the same again.
        st.cache_data.clear()
        timings: list[float] = []
        for _ in range(2):
            app = AppTest.from_file(APP, default_timeout=120)
            if page == PAGES[0]:  # the default page is what the first run renders
                started = time.perf_counter()
                app.run()
            else:
                app.run()
                app.switch_page(page)
                if not timings:
                    st.cache_data.clear()  # the default page's run warmed shared lookups: start cold again
                started = time.perf_counter()
                app.run()
            timings.append(time.perf_counter() - started)
            assert not app.exception, (page, [item.value for item in app.exception])
        results[page] = {"cold_ms": round(timings[0] * 1000, 1), "warm_ms": round(timings[1] * 1000, 1)}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--server-url", default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()
    name, url, user_id = prepare(args.server_url, args.plays)
    try:
        admin = time_admin_pages(url, user_id, args.runs)
        streamlit = time_streamlit_pages(url)
    finally:
        if not args.keep:
            _admin(args.server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    report: dict[str, Any] = {"plays": args.plays, "admin_pages": admin, "streamlit_pages": streamlit}
    print(json.dumps(report, indent=2))
    print("\n| admin page | first | median | max |\n|---|---:|---:|---:|")
    for path, row in admin.items():
        print(f"| `{path}` | {row['first_ms']} ms | {row['median_ms']} ms | {row['max_ms']} ms |")
    print("\n| Streamlit page | cold cache | warm cache |\n|---|---:|---:|")
    for page, row in streamlit.items():
        print(f"| `{page}` | {row['cold_ms']} ms | {row['warm_ms']} ms |")
    slow = [path for path, row in admin.items() if row["median_ms"] > 1000] + [
        page for page, row in streamlit.items() if row["cold_ms"] > 1000 and not page.startswith("(")
    ]
    if slow:
        print(f"\nover 1 s: {', '.join(slow)}", file=sys.stderr)
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
