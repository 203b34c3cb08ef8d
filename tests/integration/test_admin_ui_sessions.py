"""Admin UI sessions (issue 16.3), with the real admin UI in front of the real API and database over loopback:
logout ends the session on the server (the old cookie stops working); failed sign-ins back off per client
address; the CSRF token is taken from a header or a form field, never the query string; state-changing
requests from another origin are refused, the login included."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from core.dburl import libpq_url
from core.settings import Settings
from serve.admin_ui.app import create_admin_app
from serve.admin_ui.session import COOKIE_NAME
from serve.api.app import create_app
from serve.throttle import FREE_FAILURES, FailureThrottle
from tests.conftest import ADMIN_TOKEN
from tests.live_server import live_server


@dataclass
class Ui:
    base: str
    app: FastAPI
    database_url: str


@pytest.fixture
def ui(settings: Settings, database_url: str) -> Iterator[Ui]:
    with live_server(create_app(settings, database_url)) as api_base:
        admin = create_admin_app(settings, api_base_url=api_base)
        with live_server(admin) as base:
            yield Ui(base, admin, database_url)


def login(ui: Ui, **headers: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=ui.base, timeout=15)
    answer = client.post("/login", data={"token": ADMIN_TOKEN}, headers=headers)
    assert answer.status_code == 303, answer.text
    token = re.search(r'"X-CSRF-Token": "([^"]+)"', client.get("/").text)
    assert token is not None
    return client, token.group(1)


def test_logout_ends_the_session_on_the_server(ui: Ui) -> None:
    client, csrf = login(ui)
    cookie = client.cookies[COOKIE_NAME]
    assert client.get("/users").status_code == 200
    out = client.post("/logout", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    # Someone who copied the cookie before the logout (a shared computer, a proxy log) gets nothing with it.
    with httpx.Client(base_url=ui.base, timeout=15, cookies={COOKIE_NAME: cookie}) as stolen:
        page = stolen.get("/users")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert stolen.get("/analytics/app/").status_code == 401
        assert stolen.post("/transform", headers={"X-CSRF-Token": csrf}).status_code == 303
    other, _ = login(ui)
    assert other.get("/users").status_code == 200  # a new sign-in works


def test_csrf_token_from_header_or_form_field_never_the_query_string(ui: Ui) -> None:
    client, csrf = login(ui)
    with psycopg.connect(libpq_url(ui.database_url), autocommit=True) as connection:
        user_id = uuid.uuid4()
        connection.execute("INSERT INTO app.users (id, display_name) VALUES (%s, 'Ada')", (user_id,))
    path = f"/users/{user_id}/timezone"
    in_query = client.post(path, params={"csrf_token": csrf}, data={"timezone": "Europe/Paris"})
    assert in_query.status_code == 403 and "form expired" in in_query.text
    missing = client.post(path, data={"timezone": "Europe/Paris"})
    assert missing.status_code == 403
    wrong = client.post(path, data={"timezone": "Europe/Paris", "csrf_token": csrf[:-1] + "x"})
    assert wrong.status_code == 403
    as_field = client.post(path, data={"timezone": "Europe/Paris", "csrf_token": csrf})
    assert as_field.status_code == 200, as_field.text
    as_header = client.post(path, data={"timezone": "Asia/Tokyo"}, headers={"X-CSRF-Token": csrf})
    assert as_header.status_code == 200, as_header.text
    with psycopg.connect(libpq_url(ui.database_url)) as connection:
        row = connection.execute("SELECT timezone FROM app.users WHERE id = %s", (user_id,)).fetchone()
    assert row == ("Asia/Tokyo",)


def test_state_changing_requests_from_another_origin_are_refused(ui: Ui) -> None:
    client, csrf = login(ui)
    own = ui.base  # http://127.0.0.1:PORT
    for foreign in ("https://evil.example", "null", own.replace("127.0.0.1", "localhost"), own + "1"):
        answer = client.post("/transform", headers={"X-CSRF-Token": csrf, "Origin": foreign})
        assert answer.status_code == 403 and "cross-origin" in answer.text, foreign
        # Login CSRF: another site signing the browser in to a session of its choosing.
        with httpx.Client(base_url=ui.base, timeout=15) as fresh:
            forced = fresh.post("/login", data={"token": ADMIN_TOKEN}, headers={"Origin": foreign})
            assert forced.status_code == 403 and COOKIE_NAME not in fresh.cookies
    same = client.post("/logout", headers={"X-CSRF-Token": csrf, "Origin": own})
    assert same.status_code == 303
    login(ui, Origin=own)


def test_sign_in_backs_off_per_client_address(ui: Ui) -> None:
    throttle: FailureThrottle = ui.app.state.admin.login_throttle
    now = [1_000.0]
    throttle.clock = lambda: now[0]
    with httpx.Client(base_url=ui.base, timeout=15) as browser:
        for _ in range(FREE_FAILURES):
            assert browser.post("/login", data={"token": "guess"}).status_code == 401
        # Now even the right token is not looked at until the wait is over.
        blocked = browser.post("/login", data={"token": ADMIN_TOKEN})
        assert blocked.status_code == 429 and blocked.headers["retry-after"] == "2"
        assert "Too many failed sign-ins from your address" in blocked.text and COOKIE_NAME not in browser.cookies
        # Another client (behind the reverse proxy on loopback, TRUSTED_PROXIES' default) is not slowed down.
        elsewhere = browser.post("/login", data={"token": ADMIN_TOKEN}, headers={"X-Forwarded-For": "198.51.100.7"})
        assert elsewhere.status_code == 303
        browser.cookies.clear()
        now[0] += 2
        assert browser.post("/login", data={"token": "guess"}).status_code == 401
        doubled = browser.post("/login", data={"token": ADMIN_TOKEN})
        assert doubled.status_code == 429 and doubled.headers["retry-after"] == "4"
        now[0] += 4
        assert browser.post("/login", data={"token": ADMIN_TOKEN}).status_code == 303
        browser.cookies.clear()
        assert browser.post("/login", data={"token": "guess"}).status_code == 401  # a success cleared the count
