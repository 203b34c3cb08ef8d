"""The admin API over real HTTP on a real database: auth on every route, users and control actions,
lists with filters and pagination, log search with hostile input, diagnostics."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from core.dburl import libpq_url
from core.settings import Settings
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.live_server import live_server

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def api(settings: Settings, database_url: str) -> Iterator[httpx.Client]:
    with live_server(create_app(settings, database_url)) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client


def _sql(database_url: str, statement: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        cursor = connection.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def _seed_spotify_user(database_url: str, *, status: str = "active", consented_days_ago: int = 10) -> uuid.UUID:
    user_id = uuid.uuid4()
    _sql(
        database_url,
        "INSERT INTO app.users (id, spotify_user_id, display_name, status) VALUES (%s, %s, %s, %s)",
        user_id,
        f"sp-{user_id.hex[:8]}",
        "Spotty",
        status,
    )
    consented = datetime.now(UTC) - timedelta(days=consented_days_ago)
    _sql(
        database_url,
        "INSERT INTO app.spotify_tokens (user_id, refresh_token_enc, scope, consented_at, refresh_token_expires_at)"
        " VALUES (%s, 'x', 'user-read-recently-played', %s, %s)",
        user_id,
        consented,
        consented + timedelta(days=183),
    )
    _sql(database_url, "INSERT INTO app.sync_checkpoints (user_id, status) VALUES (%s, 'polling')", user_id)
    return user_id


def test_every_admin_route_refuses_without_credentials(settings: Settings, database_url: str) -> None:
    app = create_app(settings, database_url)
    # The OpenAPI document lists every route of every included router (FastAPI ≥ 0.16x nests them).
    routes = [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/admin")
        for method in sorted(operations)
    ]
    assert len(routes) >= 17  # all of ours (and whatever other engineers add under /admin)
    some_id = str(uuid.uuid4())
    bad_credentials: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
        {"X-Admin-Token": "nope"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
    ]
    with live_server(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        for method, path in routes:
            concrete = re.sub(
                r"\{[^}]+\}", lambda m: "1" if m.group(0).endswith("_id}") and "job" in m.group(0) else some_id, path
            )
            for headers in bad_credentials:
                response = client.request(method, concrete, headers=headers)
                assert response.status_code == 401, (method, concrete, headers, response.text)
                assert response.json()["error"]["code"] == "unauthorized"
            if path == "/admin/transform":
                continue  # would start a real transform; covered by its own test
            # With credentials the request gets past auth (a 404/409/422 for the made-up ids is fine).
            allowed = client.request(method, concrete, headers=AUTH, json={})
            assert allowed.status_code != 401, (method, concrete)
            assert allowed.status_code < 500, (method, concrete, allowed.text)


def test_users_lifecycle_and_actions(api: httpx.Client, database_url: str) -> None:
    empty = api.get("/admin/users", headers=AUTH)
    assert empty.status_code == 200
    assert empty.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}

    created = api.post("/admin/users", headers=AUTH, json={"display_name": "Zip Only", "timezone": "Europe/Berlin"})
    assert created.status_code == 201
    local_id = created.json()["id"]
    assert created.json()["timezone"] == "Europe/Berlin"
    bad_tz = api.post("/admin/users", headers=AUTH, json={"display_name": "x", "timezone": "Mars/Olympus"})
    assert bad_tz.status_code == 422
    assert "IANA" in bad_tz.json()["error"]["message"]

    spotify_id = _seed_spotify_user(database_url, consented_days_ago=175)  # expires in ~8 days
    listing = api.get("/admin/users", headers=AUTH).json()
    assert listing["total"] == 2
    by_id = {item["id"]: item for item in listing["items"]}
    assert by_id[local_id]["kind"] == "local"
    assert by_id[local_id]["token"]["state"] == "none"
    assert by_id[str(spotify_id)]["token"]["state"] == "expiring_soon"
    assert by_id[str(spotify_id)]["token"]["refresh_token_expires_at"] is not None
    assert by_id[str(spotify_id)]["sync"]["status"] == "polling"

    page = api.get("/admin/users", headers=AUTH, params={"limit": 1, "offset": 1}).json()
    assert len(page["items"]) == 1 and page["total"] == 2
    assert api.get("/admin/users", headers=AUTH, params={"q": "zip"}).json()["total"] == 1
    assert api.get("/admin/users", headers=AUTH, params={"q": "%"}).json()["total"] == 0
    assert api.get("/admin/users", headers=AUTH, params={"status": "bogus"}).status_code == 422

    # Local users cannot sync from Spotify.
    refused = api.post(f"/admin/users/{local_id}/initial-sync", headers=AUTH)
    assert refused.status_code == 409
    assert "Spotify" in refused.json()["error"]["message"]

    assert api.post(f"/admin/users/{spotify_id}/pause", headers=AUTH).status_code == 200
    assert _sql(
        database_url,
        "SELECT u.status, c.status FROM app.users u JOIN app.sync_checkpoints c ON c.user_id = u.id WHERE u.id = %s",
        spotify_id,
    ) == [("paused", "paused")]
    assert api.post(f"/admin/users/{spotify_id}/resync", headers=AUTH).status_code == 409
    assert api.post(f"/admin/users/{spotify_id}/resume", headers=AUTH).status_code == 200
    _sql(
        database_url,
        "UPDATE app.sync_checkpoints SET next_poll_at = now() + interval '1 hour', initial_sync_completed_at ="
        " now(), next_attempt_at = now() + interval '3 hours', consecutive_errors = 4 WHERE user_id = %s",
        spotify_id,
    )
    assert api.post(f"/admin/users/{spotify_id}/resync", headers=AUTH).status_code == 200
    rows = _sql(
        database_url,
        "SELECT next_poll_at <= now(), next_attempt_at, consecutive_errors FROM app.sync_checkpoints WHERE"
        " user_id = %s",
        spotify_id,
    )
    assert rows == [(True, None, 0)]
    assert api.post(f"/admin/users/{spotify_id}/initial-sync", headers=AUTH).status_code == 200
    assert _sql(
        database_url, "SELECT initial_sync_completed_at FROM app.sync_checkpoints WHERE user_id = %s", spotify_id
    ) == [(None,)]

    _sql(database_url, "UPDATE app.users SET status = 'needs_reauth' WHERE id = %s", spotify_id)
    assert api.get(f"/admin/users/{spotify_id}", headers=AUTH).json()["token"]["state"] == "needs_reauth"
    assert api.post(f"/admin/users/{spotify_id}/resume", headers=AUTH).status_code == 409

    tz = api.put(f"/admin/users/{spotify_id}/timezone", headers=AUTH, json={"timezone": "America/New_York"})
    assert tz.status_code == 200
    assert (
        api.put(f"/admin/users/{spotify_id}/timezone", headers=AUTH, json={"timezone": "Nowhere/Town"}).status_code
        == 422
    )
    assert _sql(database_url, "SELECT timezone FROM app.users WHERE id = %s", spotify_id) == [("America/New_York",)]

    # Delete takes every row of the user with it.
    _sql(database_url, "INSERT INTO raw.api_plays (user_id, played_at, track_id) VALUES (%s, now(), 't1')", spotify_id)
    _sql(
        database_url, "INSERT INTO app.job_runs (job_type, user_id, status) VALUES ('poll', %s, 'success')", spotify_id
    )
    detail = api.get(f"/admin/users/{spotify_id}", headers=AUTH).json()
    assert detail["counts"]["api_plays"] == 1
    assert len(detail["recent_job_runs"]) == 1
    assert api.delete(f"/admin/users/{spotify_id}", headers=AUTH).status_code == 204
    for table in ("app.spotify_tokens", "app.sync_checkpoints", "app.job_runs", "raw.api_plays"):
        assert _sql(database_url, f"SELECT count(*) FROM {table} WHERE user_id = %s", spotify_id) == [(0,)]
    assert api.delete(f"/admin/users/{spotify_id}", headers=AUTH).status_code == 404
    assert api.get(f"/admin/users/{uuid.uuid4()}", headers=AUTH).status_code == 404
    assert api.get("/admin/users/not-a-uuid", headers=AUTH).status_code == 422


def test_job_runs_import_jobs_and_sync_status(api: httpx.Client, database_url: str) -> None:
    user_id = _seed_spotify_user(database_url)
    other = _seed_spotify_user(database_url)
    _sql(
        database_url,
        "INSERT INTO app.job_runs (job_type, user_id, status, started_at, finished_at, stats) VALUES ('poll',"
        " %s, 'success', now() - interval '5 minutes', now() - interval '4 minutes', %s)",
        user_id,
        Jsonb({"fetched": 50, "inserted": 12}),
    )
    _sql(
        database_url,
        "INSERT INTO app.job_runs (job_type, user_id, status, error_message) VALUES ('initial_sync', %s,"
        " 'error', 'boom')",
        other,
    )
    _sql(
        database_url, "INSERT INTO app.job_runs (job_type, status, finished_at) VALUES ('transform', 'success', now())"
    )
    _sql(
        database_url,
        "INSERT INTO app.import_jobs (user_id, status, storage_path, file_size_bytes, records_ingested,"
        " records_total, format_detected) VALUES (%s, 'running', '/x.zip', 1234, 250, 1000, 'streaming_history')",
        user_id,
    )
    _sql(
        database_url,
        "INSERT INTO app.import_jobs (user_id, status, storage_path, file_size_bytes, error_message) VALUES"
        " (%s, 'error', '/y.zip', 10, 'not a zip')",
        other,
    )

    runs = api.get("/admin/job-runs", headers=AUTH).json()
    assert runs["total"] == 3
    mine = api.get("/admin/job-runs", headers=AUTH, params={"user_id": str(user_id)}).json()
    assert [item["job_type"] for item in mine["items"]] == ["poll"]
    assert mine["items"][0]["stats"] == {"fetched": 50, "inserted": 12}
    assert mine["items"][0]["duration_seconds"] == pytest.approx(60, abs=1)
    errors = api.get("/admin/job-runs", headers=AUTH, params={"status": "error"}).json()
    assert [item["error_message"] for item in errors["items"]] == ["boom"]
    assert api.get("/admin/job-runs", headers=AUTH, params={"job_type": "transform"}).json()["total"] == 1
    one = api.get(f"/admin/job-runs/{mine['items'][0]['id']}", headers=AUTH)
    assert one.status_code == 200 and one.json()["status"] == "success"
    assert api.get("/admin/job-runs/999999", headers=AUTH).status_code == 404
    summary = api.get("/admin/job-runs/summary", headers=AUTH).json()
    assert {"job_type": "poll", "status": "success", "runs": 1} in [
        {key: item[key] for key in ("job_type", "status", "runs")} for item in summary
    ]

    imports = api.get("/admin/import-jobs", headers=AUTH, params={"user_id": str(user_id)}).json()
    assert imports["total"] == 1
    assert imports["items"][0]["progress"] == pytest.approx(0.25)
    failed = api.get("/admin/import-jobs", headers=AUTH, params={"status": "error"}).json()
    assert failed["items"][0]["error_message"] == "not a zip"
    assert api.get(f"/admin/import-jobs/{imports['items'][0]['id']}", headers=AUTH).json()["records_total"] == 1000
    listing = api.get("/admin/users", headers=AUTH).json()
    latest = {item["id"]: item["latest_import"] for item in listing["items"]}
    assert latest[str(user_id)]["status"] == "running"

    status = api.get("/admin/sync-status", headers=AUTH).json()
    assert status["users"] == 2
    assert status["by_status"] == {"polling": 2}
    assert {item["user_id"] for item in status["items"]} == {str(user_id), str(other)}


HOSTILE = [
    "%",
    "_",
    "\\",
    "%%",
    "'; DROP TABLE app.logs; --",
    "' OR '1'='1",
    '" OR 1=1 --',
    "$1",
    "%(q)s",
    "{}",
    "\x00",
    "ü' UNION SELECT * FROM app.users --",
    "a" * 500,
]


def test_log_search_filters_and_hostile_queries(api: httpx.Client, database_url: str) -> None:
    now = datetime.now(UTC)
    rows = [
        ("api", "info", now - timedelta(hours=3), "request served", {"path": "/mcp/call"}),
        ("collector", "warning", now - timedelta(hours=2), "rate limited: 100% of quota", {"user_id": "u-1"}),
        ("collector", "error", now - timedelta(hours=1), "poll failed for user_x", {"job_run_id": 7}),
        ("transform", "debug", now - timedelta(minutes=5), "dbt build started", None),
    ]
    for service, level, at, message, context in rows:
        _sql(
            database_url,
            "INSERT INTO app.logs (service, level, timestamp, message, context) VALUES (%s, %s, %s, %s, %s)",
            service,
            level,
            at,
            message,
            Jsonb(context) if context is not None else None,
        )

    def search(**params: object) -> list[str]:
        response = api.get("/admin/logs", headers=AUTH, params={key: str(value) for key, value in params.items()})
        assert response.status_code == 200, response.text
        return [item["message"] for item in response.json()["items"]]

    assert search() == ["dbt build started", "poll failed for user_x", "rate limited: 100% of quota", "request served"]
    assert search(service="collector") == ["poll failed for user_x", "rate limited: 100% of quota"]
    assert search(level="warning") == ["poll failed for user_x", "rate limited: 100% of quota"]
    assert search(q="POLL") == ["poll failed for user_x"]
    assert search(q="/mcp/") == ["request served"]  # context is searched too
    assert search(q="100%") == ["rate limited: 100% of quota"]  # % is literal
    assert search(q="user_x") == ["poll failed for user_x"]  # _ is literal
    assert search(q="user%x") == []
    assert search(since=(now - timedelta(minutes=90)).isoformat()) == ["dbt build started", "poll failed for user_x"]
    assert search(until=(now - timedelta(minutes=90)).isoformat()) == ["rate limited: 100% of quota", "request served"]
    assert api.get("/admin/logs", headers=AUTH, params={"level": "fatal"}).status_code == 422
    assert (
        api.get(
            "/admin/logs",
            headers=AUTH,
            params={"since": now.isoformat(), "until": (now - timedelta(hours=1)).isoformat()},
        ).status_code
        == 422
    )

    # Cursor paging and tail.
    first = api.get("/admin/logs", headers=AUTH, params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_before_id"] is not None
    second = api.get("/admin/logs", headers=AUTH, params={"limit": 2, "before_id": first["next_before_id"]}).json()
    assert [item["message"] for item in second["items"]] == ["rate limited: 100% of quota", "request served"]
    assert second["next_before_id"] is None
    tail = api.get("/admin/logs", headers=AUTH, params={"after_id": first["newest_id"]}).json()
    assert tail["items"] == [] and tail["newest_id"] == first["newest_id"]

    for hostile in HOSTILE:
        response = api.get("/admin/logs", headers=AUTH, params={"q": hostile})
        if hostile == "\x00":
            # PostgreSQL text cannot hold NUL; refused cleanly rather than a 500.
            assert response.status_code == 422, response.text
            continue
        assert response.status_code == 200, (hostile, response.text)
        # Matched literally: exactly the rows whose message or context contains the text.
        expected = [
            message
            for _, _, _, message, context in reversed(rows)
            if hostile.lower() in message.lower() or (context and hostile.lower() in json.dumps(context).lower())
        ]
        assert [item["message"] for item in response.json()["items"]] == expected, hostile
    assert api.get("/admin/logs", headers=AUTH, params={"q": "a" * 501}).status_code == 422
    assert _sql(database_url, "SELECT count(*) FROM app.logs") == [(4,)]  # nothing dropped or changed


def test_diagnostics(api: httpx.Client, database_url: str, settings: Settings) -> None:
    empty = api.get("/admin/diagnostics", headers=AUTH).json()
    assert empty["database"]["status"] == "ok"
    assert empty["collector"]["status"] == "warning"
    assert empty["transform"]["status"] == "warning"
    assert empty["spotify"]["status"] == "unknown"
    assert empty["upload_dir"]["status"] == "warning"

    settings.effective_upload_dir.mkdir(parents=True)
    (settings.effective_upload_dir / "a.zip").write_bytes(b"x" * 1000)
    _sql(
        database_url,
        "INSERT INTO app.worker_heartbeats (worker_id, service, hostname, pid) VALUES ('h:1', 'collector', 'h', 1)",
    )
    _sql(
        database_url,
        "INSERT INTO app.worker_heartbeats (worker_id, service, hostname, pid, last_seen_at) VALUES ('h:2',"
        " 'collector', 'h', 2, now() - interval '1 hour')",
    )
    _sql(
        database_url,
        "INSERT INTO app.job_runs (job_type, status, finished_at, error_message) VALUES ('transform', 'error',"
        " now(), 'dbt failed')",
    )
    _sql(
        database_url,
        "INSERT INTO app.spotify_endpoint_status (client_id, endpoint, available, status_code) VALUES ('cid',"
        " 'audio-features', false, 403)",
    )
    full = api.get("/admin/diagnostics", headers=AUTH).json()
    assert full["collector"]["status"] == "ok"
    assert [beat["stale"] for beat in full["heartbeats"]] == [False, True]
    assert full["transform"]["status"] == "error" and "dbt failed" in full["transform"]["detail"]
    assert full["upload_dir"]["status"] == "ok"
    assert full["upload_dir_bytes"] == 1000
    assert full["spotify_endpoints"][0]["endpoint"] == "audio-features"
    assert "audio-features" in full["spotify"]["detail"]
    # The probe reports an unreachable Spotify (no network here) as an error, not a 500.
    probed = api.get("/admin/diagnostics", headers=AUTH, params={"probe": "true"})
    assert probed.status_code == 200
    assert probed.json()["spotify"]["status"] in {"ok", "warning", "error"}
