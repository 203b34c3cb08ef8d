"""Export to answer: `spotify-mcp import` of a big extended-history ZIP while `spotify-mcp up` runs, until the
first correct all-time `history.taste_summary`.

    uv run python -m bench.export_to_answer_bench --database-url postgresql://postgres@127.0.0.1:5432/postgres
    uv run python -m bench.export_to_answer_bench --database-url ... --records 200000 --files 12 --repeat 3

Each run: a fresh database on the server (migrated by `up` itself), a fresh home, `up` on free ports (API,
collector, dashboards, admin UI as real processes), healthy; then the clock starts and `spotify-mcp import ZIP`
runs in a shell (a new local user: the database has none). The collector is woken by the import (NOTIFY + a
transform request) and builds the warehouse; meanwhile the API is asked `history.taste_summary` with
`period=all_time` every 0.25 s. The run ends when the transform the import asked for is over, its request
taken and the answer no longer changes. The correct answer is that settled answer (the warehouse tests check
the marts it is read from); the figure is the time from the import's start to the first answer equal to it
(freshness fields aside). Also printed: the import alone (the CLI's wall time) and the transform run
(`app.job_runs`). The ZIP is `bench.import_bench`'s synthetic export (generated once, reused).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.import_bench import _admin
from bench.import_bench import generate as generate_zip
from core.dburl import libpq_url, with_database

ROOT = Path(__file__).resolve().parents[1]
ADMIN_TOKEN = "bench-admin-token-0123456789abcdef"
ENCRYPTION_KEY = "ZmDfcTF7_60GrrY167zsiPd67pEvs0aGOv2oasOM1Pg="
# Fields of an answer that say when it was computed rather than what it says.
_VOLATILE = ("freshness", "window", "window_end")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _content(answer: dict[str, Any]) -> str:
    return json.dumps({key: value for key, value in answer.items() if key not in _VOLATILE}, sort_keys=True)


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_url(url)) as connection:
        return connection.execute(sql).fetchall()


def _transform_settled(url: str) -> bool:
    """A transform run has ended and no request waits (the import's request is taken after its run)."""
    ended = _query(url, "SELECT count(*) FROM app.job_runs WHERE job_type = 'transform' AND status <> 'running'")
    pending = _query(url, "SELECT count(*) FROM app.transform_requests")
    return bool(ended[0][0] > 0 and pending[0][0] == 0)


def run_once(server_url: str, zip_path: Path, *, timeout: float) -> dict[str, float]:
    name = f"spmcp_e2a_{secrets.token_hex(4)}"
    _admin(server_url, f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    home = Path(tempfile.mkdtemp(prefix="spmcp-e2a-"))
    api_port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SPOTIFY_MCP_HOME": str(home),
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "TOKEN_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "TRANSFORM_ENABLED": "true",
        "IMPORT_MAX_ZIP_SIZE_MB": "2000",
        "API_PORT": str(api_port),
        "ADMIN_UI_PORT": str(_free_port()),
        "DASHBOARDS_PORT": str(_free_port()),
    }
    log = (home / "up.log").open("wb")
    up = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "up"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{api_port}"
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    try:
        deadline = time.monotonic() + 240
        while True:
            if up.poll() is not None:
                raise SystemExit(f"`up` exited with {up.returncode}; see {home / 'up.log'}")
            try:
                if (
                    httpx.get(f"{api}/healthz", timeout=2).status_code == 200
                    and _query(url, "SELECT count(*) FROM app.worker_heartbeats")[0][0]
                ):
                    break
            except httpx.HTTPError, psycopg.Error:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"`up` not healthy after 240 s; see {home / 'up.log'}")
            time.sleep(0.3)
        database_start = _query(url, "SELECT clock_timestamp()")[0][0]
        started = time.monotonic()
        shell = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "import", str(zip_path), "--no-progress"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        import_seconds: float | None = None
        answers: list[tuple[float, str]] = []
        user_id: str | None = None
        settled_at: float | None = None
        with httpx.Client(base_url=api, headers=headers, timeout=60) as client:
            while True:
                now = time.monotonic() - started
                if import_seconds is None and shell.poll() is not None:
                    import_seconds = now
                    output = shell.stdout.read().decode() if shell.stdout else ""
                    if shell.returncode != 0:
                        raise SystemExit(f"the import failed: {output}")
                if user_id is None:
                    rows = _query(url, "SELECT id FROM app.users")
                    user_id = str(rows[0][0]) if rows else None
                if user_id is not None:
                    response = client.post(
                        "/mcp/call",
                        json={"tool": "history.taste_summary", "args": {"period": "all_time", "user_id": user_id}},
                    )
                    if response.status_code == 200:
                        answers.append((time.monotonic() - started, _content(response.json()["result"])))
                if import_seconds is not None and settled_at is None and _transform_settled(url):
                    settled_at = now
                if settled_at is not None and answers and answers[-1][0] > settled_at + 1:
                    break  # one more answer after the run was over: the settled one
                if now > timeout:
                    raise SystemExit(f"no settled answer after {timeout:.0f} s; see {home / 'up.log'}")
                time.sleep(0.25)
        final = answers[-1][1]
        first_correct = next(at for at, content in answers if content == final)
        transform = _query(
            url,
            "SELECT extract(epoch FROM finished_at - started_at), started_at FROM app.job_runs "
            "WHERE job_type = 'transform' ORDER BY id LIMIT 1",
        )
        plays = json.loads(final)["plays"]
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
        log.close()
        _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {
        "first_correct_answer_s": first_correct,
        "import_s": float(import_seconds or 0.0),
        "transform_s": float(transform[0][0]),
        # From the import's start to the transform run's start (the collector waking up, dbt starting).
        "transform_started_s": (transform[0][1] - database_start).total_seconds(),
        "plays": plays,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900, help="give up a run after this many seconds")
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--zip", type=Path, default=None, help="reuse/keep the generated ZIP here")
    args = parser.parse_args(argv)
    if not args.database_url:
        print("give --database-url or TEST_DATABASE_URL (a PostgreSQL server; a fresh database is created)")
        return 2
    zip_path: Path = args.zip or Path(f"/tmp/spotify-import-bench-{args.records}-{args.files}.zip")
    if not zip_path.exists():
        generate_zip(zip_path, args.records, args.files)
    results = []
    for attempt in range(args.repeat):
        result = run_once(args.database_url, zip_path, timeout=args.timeout)
        results.append(result)
        print(
            f"run {attempt + 1}: first correct all-time taste_summary after {result['first_correct_answer_s']:.1f} s "
            f"(import {result['import_s']:.1f} s, transform run started at {result['transform_started_s']:.1f} s and "
            f"took {result['transform_s']:.1f} s; "
            f"{result['plays']:,} plays); load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    if len(results) > 1:
        print(
            "median: first correct answer "
            f"{statistics.median(r['first_correct_answer_s'] for r in results):.1f} s, import "
            f"{statistics.median(r['import_s'] for r in results):.1f} s, transform "
            f"{statistics.median(r['transform_s'] for r in results):.1f} s over {len(results)} runs"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
