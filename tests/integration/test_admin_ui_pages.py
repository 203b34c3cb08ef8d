"""The admin UI as a real server in front of the real API and database: login, every page with an empty
database and with data, HTMX fragments and actions, errors as messages, CSRF, and the Streamlit proxy
(HTTP and WebSocket) refusing anyone without a session."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.sync.client import connect as ws_connect

from core.crypto import generate_key
from core.dburl import libpq_url
from core.settings import Settings, load_settings
from serve.admin_ui.app import create_admin_app
from serve.admin_ui.session import COOKIE_NAME
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.live_server import live_server

PAGES = ["/", "/users", "/imports", "/jobs", "/logs", "/analytics", "/connect"]


@dataclass
class Upstream:
    """A stand-in for Streamlit that records what reached it."""

    seen: list[str]
    cookies: list[str]


def _fake_streamlit(upstream: Upstream) -> Starlette:
    async def page(request: Request) -> PlainTextResponse:
        upstream.seen.append(request.url.path)
        upstream.cookies.append(request.headers.get("cookie", ""))
        return PlainTextResponse(f"streamlit says hi at {request.url.path}", headers={"x-upstream": "yes"})

    async def stream(websocket: WebSocket) -> None:
        upstream.seen.append("ws:" + websocket.url.path)
        protocols = websocket.headers.get("sec-websocket-protocol", "")
        await websocket.accept(subprotocol=protocols.split(",")[0].strip() or None)
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await websocket.send_bytes(b"echo:" + message["bytes"])
            else:
                await websocket.send_text("echo:" + str(message.get("text")))

    return Starlette(
        routes=[
            Route("/analytics/app/{path:path}", page, methods=["GET", "POST"]),
            WebSocketRoute("/analytics/app/_stcore/stream", stream),
        ]
    )


@pytest.fixture
def servers(settings: Settings, database_url: str) -> Iterator[tuple[str, Upstream]]:
    upstream = Upstream(seen=[], cookies=[])
    with (
        live_server(create_app(settings, database_url)) as api_base,
        live_server(_fake_streamlit(upstream)) as streamlit_base,
        live_server(create_admin_app(settings, api_base_url=api_base, streamlit_url=streamlit_base)) as ui_base,
    ):
        yield ui_base, upstream


def _login(base: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, timeout=15)
    response = client.post("/login", data={"token": ADMIN_TOKEN, "next": "/users"})
    assert response.status_code == 303
    assert response.headers["location"] == "/users"
    assert COOKIE_NAME in client.cookies
    page = client.get("/users")
    match = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert match
    return client, match.group(1)


def _sql(database_url: str, statement: str, *params: object) -> None:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(statement, params)


def test_login_and_refusals(servers: tuple[str, Upstream]) -> None:
    base, upstream = servers
    with httpx.Client(base_url=base, timeout=10) as anonymous:
        assert anonymous.get("/healthz").json() == {"status": "ok", "api": "ok"}
        for path in PAGES:
            response = anonymous.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=")
        assert anonymous.get("/users", headers={"HX-Request": "true"}).headers["hx-redirect"] == "/login"
        assert anonymous.post("/users/" + str(uuid.uuid4()) + "/actions/pause").status_code == 303
        wrong = anonymous.post("/login", data={"token": "wrong"})
        assert wrong.status_code == 401
        assert "not right" in wrong.text
    with httpx.Client(base_url=base, timeout=10, cookies={COOKIE_NAME: "eyJzdWIiOiJhZG1pbiJ9.AAAA"}) as forged:
        assert forged.get("/").status_code == 303
    with httpx.Client(base_url=base, timeout=10) as anonymous:
        # Streamlit is never reached without a session, over HTTP or WebSocket.
        for path in ("/analytics/app/", "/analytics/app/_stcore/health", "/analytics/app/static/x.js"):
            assert anonymous.get(path).status_code == 401
        ws_url = base.replace("http", "ws") + "/analytics/app/_stcore/stream"
        with pytest.raises(Exception, match=r"403|rejected|1008"), ws_connect(ws_url) as socket:
            socket.recv(timeout=5)
        assert upstream.seen == []
        # Open redirects are not followed after login.
        evil = anonymous.post("/login", data={"token": ADMIN_TOKEN, "next": "//evil.example/x"})
        assert evil.headers["location"] == "/"


def test_every_page_renders_with_an_empty_database(servers: tuple[str, Upstream]) -> None:
    base, _ = servers
    client, _ = _login(base)
    expected = {
        "/": "Nothing has run yet",
        "/users": "No users yet",
        "/imports": "Add a user first",
        "/jobs": "No job runs match",
        "/logs": "Live tail",
        "/analytics": "/analytics/app/",
        "/connect": "No Spotify app is configured",
    }
    for path, text in expected.items():
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert text in response.text, path
        assert "Traceback" not in response.text
        assert 'name="viewport"' in response.text
    health = client.get("/partials/health")
    assert health.status_code == 200 and "Database" in health.text


def test_pages_with_data_actions_and_errors(servers: tuple[str, Upstream], database_url: str) -> None:
    base, _ = servers
    client, csrf = _login(base)
    user_id = uuid.uuid4()
    _sql(
        database_url,
        "INSERT INTO app.users (id, spotify_user_id, display_name, status) VALUES (%s, 'sp1', 'Ada', 'needs_reauth')",
        user_id,
    )
    _sql(
        database_url,
        "INSERT INTO app.spotify_tokens (user_id, refresh_token_enc, scope, consented_at, refresh_token_expires_at)"
        " VALUES (%s, 'x', 's', '2026-06-01T00:00:00Z', '2026-12-01T00:00:00Z')",
        user_id,
    )
    _sql(database_url, "INSERT INTO app.sync_checkpoints (user_id, status) VALUES (%s, 'needs_reauth')", user_id)
    _sql(
        database_url,
        "INSERT INTO app.job_runs (job_type, user_id, status, finished_at, stats)"
        " VALUES ('poll', %s, 'success', now(), %s)",
        user_id,
        Jsonb({"fetched": 50, "inserted": 7}),
    )
    _sql(
        database_url,
        "INSERT INTO app.import_jobs (user_id, status, storage_path, file_size_bytes, records_ingested, records_total,"
        " original_filename) VALUES (%s, 'running', '/x', 2048, 300, 1200, 'my_spotify_data.zip')",
        user_id,
    )
    _sql(
        database_url,
        "INSERT INTO app.logs (service, level, message, context)"
        " VALUES ('collector', 'error', 'refresh failed <b>', %s)",
        Jsonb({"user_id": str(user_id)}),
    )

    users = client.get("/users").text
    assert "Ada" in users and "needs reauth" in users and "2026-12-01" in users
    # Each user's granted scopes, and whether the playlist tools may write (issue 19).
    assert "playlists not allowed" in users and "<code>s</code>" in users
    _sql(
        database_url,
        "UPDATE app.spotify_tokens SET scope = 'user-top-read playlist-modify-private playlist-modify-public'",
    )
    allowed = client.get("/users").text
    assert "playlists allowed" in allowed and "playlists not allowed" not in allowed
    assert "<code>user-top-read playlist-modify-private playlist-modify-public</code>" in allowed
    assert "Reconnect Spotify for Ada" in users and 'hx-confirm="Pause collecting' not in users
    assert "my_spotify_data.zip" not in users and "300 records" in users
    dashboard = client.get("/").text
    assert "poll #" in dashboard and "refresh failed &lt;b&gt;" in dashboard  # escaped, never raw HTML
    jobs = client.get("/jobs").text
    job_id = re.search(r'href="/jobs/(\d+)"', jobs)
    assert job_id
    detail = client.get(f"/jobs/{job_id.group(1)}").text
    assert "<dt>Fetched</dt><dd>50</dd>" in detail  # labelled figures, not a raw dict
    imports = client.get("/imports").text
    assert "Importing 300 of 1,200 records (25 %)" in imports
    assert 'data-active="1"' in imports and "every 2s" in imports  # the list refreshes while a job runs
    import_id = re.search(r"#(\d+) my_spotify_data.zip", imports)
    assert import_id
    progress = client.get(f"/imports/{import_id.group(1)}/progress", headers={"HX-Request": "true"})
    assert 'hx-trigger="every 1s"' in progress.text and 'value="25"' in progress.text
    _sql(database_url, "UPDATE app.import_jobs SET status = 'success', records_ingested = 1200, finished_at = now()")
    imported = client.get(f"/imports/{import_id.group(1)}/progress", headers={"HX-Request": "true"})
    assert "every 1s" in imported.text and 'data-stage="warehouse"' in imported.text  # until the build takes it in
    _sql(
        database_url, "INSERT INTO app.job_runs (job_type, status, finished_at) VALUES ('transform', 'success', now())"
    )
    done = client.get(f"/imports/{import_id.group(1)}/progress", headers={"HX-Request": "true"})
    assert "every 1s" not in done.text and "Done: 1,200 records" in done.text
    assert done.headers["hx-trigger"] == "imports-changed"
    table = client.get("/imports", headers={"HX-Request": "true", "HX-Target": "imports-table"}).text
    assert '<div id="imports-table"' in table and "<html" not in table
    assert 'data-active="0"' in table and "every 2s" not in table

    logs = client.get("/logs", params={"level": "error", "q": "refresh"}).text
    assert "refresh failed &lt;b&gt;" in logs
    fragment = client.get(
        "/logs", params={"q": "%' OR 1=1 --"}, headers={"HX-Request": "true", "HX-Target": "log-results"}
    )
    assert fragment.status_code == 200 and "No log entries match" in fragment.text
    assert "<html" not in fragment.text
    tail = client.get("/logs/tail", params={"after_id": 0}, headers={"HX-Request": "true"}).text
    assert "refresh failed" in tail and 'hx-swap-oob="outerHTML:#tail"' in tail

    # Actions need the CSRF token; errors from the API come back as a message, not a trace.
    htmx = {"HX-Request": "true", "X-CSRF-Token": csrf}
    assert client.post(f"/users/{user_id}/actions/resume", headers={"HX-Request": "true"}).status_code == 403
    refused = client.post(f"/users/{user_id}/actions/resume", headers=htmx)
    assert refused.status_code == 409
    assert "reconnect Spotify" in refused.text and refused.headers["hx-retarget"] == "#messages"
    _sql(database_url, "UPDATE app.users SET status = 'active' WHERE id = %s", user_id)
    paused = client.post(f"/users/{user_id}/actions/pause", headers=htmx)
    assert paused.status_code == 200 and "paused" in paused.text and "Resume" in paused.text
    bad_tz = client.post(f"/users/{user_id}/timezone", headers=htmx, data={"timezone": "Nope/Nowhere"})
    assert bad_tz.status_code == 422 and "IANA" in bad_tz.text
    good_tz = client.post(f"/users/{user_id}/timezone", headers=htmx, data={"timezone": "Asia/Tokyo"})
    assert good_tz.status_code == 200 and "Asia/Tokyo" in good_tz.text
    user_page = client.get(f"/users/{user_id}")
    assert user_page.status_code == 200 and "No tokens yet" in user_page.text
    token = client.post(f"/users/{user_id}/tokens", headers=htmx, data={"name": "claude", "expires_in_days": "30"})
    assert token.status_code == 200 and "not shown again" in token.text
    shown = re.search(r'<code id="new-token">([^<]+)</code>', token.text)
    assert shown and len(shown.group(1)) > 20
    # The token endpoints (serve/api/routes/tokens.py) commit after their response is sent (FastAPI's default
    # scope for `yield` dependencies), so the list can lag the creation by a moment.
    token_id = None
    for _ in range(50):
        page = client.get(f"/users/{user_id}").text
        token_id = re.search(r"/tokens/([0-9a-f-]{36})/revoke", page)
        if token_id:
            break
        time.sleep(0.05)
    assert token_id
    assert "not shown again" not in page  # shown once only
    revoked = client.post(f"/users/{user_id}/tokens/{token_id.group(1)}/revoke", headers=htmx)
    assert revoked.status_code == 200 and "revoked" in revoked.text
    created = client.post("/users", headers=htmx, data={"display_name": "Local Lou", "timezone": "UTC"})
    assert created.status_code == 200 and "Local Lou" in created.text
    missing = client.get(f"/users/{uuid.uuid4()}")
    assert missing.status_code == 404 and "no user with id" in missing.text and "Traceback" not in missing.text
    gone = client.post(f"/users/{user_id}/delete", headers=htmx)
    assert gone.headers["hx-redirect"] == "/users"
    assert "Ada" not in client.get("/users").text


def test_streamlit_proxy_forwards_http_and_websocket_with_a_session(servers: tuple[str, Upstream]) -> None:
    base, upstream = servers
    client, _ = _login(base)
    client.cookies.set("_streamlit_xsrf", "xsrf-value")
    response = client.get("/analytics/app/index.html", params={"a": "1"})
    assert response.status_code == 200
    assert response.text == "streamlit says hi at /analytics/app/index.html"
    assert response.headers["x-upstream"] == "yes"
    assert COOKIE_NAME not in upstream.cookies[-1]  # the admin session never reaches Streamlit
    assert "_streamlit_xsrf=xsrf-value" in upstream.cookies[-1]
    cookie = f"{COOKIE_NAME}={client.cookies[COOKIE_NAME]}"
    ws_url = base.replace("http", "ws") + "/analytics/app/_stcore/stream"
    with ws_connect(ws_url, additional_headers={"Cookie": cookie}, subprotocols=["streamlit"]) as socket:  # type: ignore[list-item]
        assert socket.subprotocol == "streamlit"
        socket.send(b"\x01\x02")
        assert socket.recv(timeout=5) == b"echo:\x01\x02"
        socket.send("hello")
        assert socket.recv(timeout=5) == "echo:hello"
    assert "ws:/analytics/app/_stcore/stream" in upstream.seen


def test_basic_auth_mode_end_to_end(database_url: str, tmp_path: Path) -> None:
    basic = load_settings(
        {
            "DATABASE_URL": database_url,
            "TOKEN_ENCRYPTION_KEY": generate_key(),
            "ADMIN_AUTH_MODE": "basic",
            "ADMIN_USERNAME": "boss",
            "ADMIN_PASSWORD": "correct horse battery",
            "SPOTIFY_MCP_HOME": str(tmp_path / "home"),
        }
    )
    with (
        live_server(create_app(basic, database_url)) as api_base,
        live_server(create_admin_app(basic, api_base_url=api_base)) as ui_base,
        httpx.Client(base_url=ui_base, timeout=15) as client,
    ):
        form = client.get("/login").text
        assert 'name="username"' in form and 'name="password"' in form and 'name="token"' not in form
        assert client.post("/login", data={"username": "boss", "password": "wrong"}).status_code == 401
        assert client.post("/login", data={"username": "boss", "password": "correct horse battery"}).status_code == 303
        users = client.get("/users")  # the UI reaches the API with basic credentials
        assert users.status_code == 200 and "No users yet" in users.text
        assert httpx.get(f"{api_base}/admin/users", auth=("boss", "nope")).status_code == 401
