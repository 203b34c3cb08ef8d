"""The admin UI in a real browser (Chromium driven by Playwright; see tests/provisions.py) against real servers on
loopback — the API, the admin UI, Streamlit as its own process — and a real database with fixture data.

Screenshots of every page go to test-artifacts/admin-ui/.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from cli.commands.dashboards import streamlit_argv
from cli.demo_data import write_demo_export
from core.db import create_engine
from core.dburl import libpq_url
from core.settings import Settings
from ingest.imports.worker import process_pending_imports
from serve.admin_ui.app import create_admin_app
from serve.admin_ui.proxy import SECRET_ENV, SECRET_HEADER, proxy_secret
from serve.admin_ui.session import COOKIE_NAME
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_admin_dashboards import load_marts
from tests.live_server import free_port, live_server
from tests.provisions import launch_chromium

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "admin-ui"


@dataclass
class Stack:
    ui: str
    api: str
    streamlit: str
    user_id: str
    database_url: str


def _start_streamlit(database_url: str, settings: Settings) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, **{SECRET_ENV: proxy_secret(settings)})
    env.pop("DASHBOARDS_DATABASE_URL", None)
    process = subprocess.Popen(
        streamlit_argv("127.0.0.1", port), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            health = httpx.get(
                f"{base}/analytics/app/_stcore/health", headers={SECRET_HEADER: proxy_secret(settings)}, timeout=2
            )
            if health.status_code == 200:
                return process, base
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.3)
    process.terminate()
    raise RuntimeError("streamlit did not start")


class ImportWorker:
    """Stands in for the collector's first priority: run pending import jobs (the importer's own code)."""

    def __init__(self, database_url: str, settings: Settings) -> None:
        self.database_url = database_url
        self.settings = settings
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def loop() -> None:
            engine = create_engine(self.database_url, application_name="e2e import worker")
            try:
                while not self.stop.is_set():
                    await process_pending_imports(engine, self.settings, worker_id="e2e:1")
                    await asyncio.sleep(0.3)
            finally:
                await engine.dispose()

        asyncio.run(loop())

    def __enter__(self) -> ImportWorker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=20)


@pytest.fixture
def stack(settings: Settings, database_url: str) -> Iterator[Stack]:
    user_id = load_marts(database_url, plays=4000, name="Ada Lovelace", timezone="Europe/London")
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO app.users (id, display_name, timezone) VALUES (%s, 'Ada Lovelace', 'Europe/London')",
            (uuid.UUID(user_id),),
        )
        connection.execute("INSERT INTO app.sync_checkpoints (user_id) VALUES (%s)", (uuid.UUID(user_id),))
        connection.execute(
            "INSERT INTO app.job_runs (job_type, user_id, status, started_at, finished_at, stats) VALUES"
            " ('poll', %s, 'success', now() - interval '2 minutes', now() - interval '1 minute',"
            ' \'{"fetched": 50, "inserted": 12}\')',
            (uuid.UUID(user_id),),
        )
        for level, message in (("info", "poll finished for ada"), ("error", "token refresh failed: invalid_grant")):
            connection.execute(
                "INSERT INTO app.logs (service, level, message) VALUES ('collector', %s, %s)", (level, message)
            )
    streamlit, streamlit_base = _start_streamlit(database_url, settings)
    try:
        with (
            live_server(create_app(settings, database_url)) as api_base,
            live_server(create_admin_app(settings, api_base_url=api_base, streamlit_url=streamlit_base)) as ui_base,
        ):
            yield Stack(ui_base, api_base, streamlit_base, user_id, database_url)
    finally:
        streamlit.terminate()
        streamlit.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def _login(page: Page, base: str) -> None:
    page.goto(f"{base}/users")
    expect(page).to_have_url(re.compile(r"/login\?next=(%2F|/)users"))
    _shot(page, "01-login")
    page.get_by_label("Admin token").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not right")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/users")


def test_admin_ui_in_a_browser(stack: Stack, browser: Browser, tmp_path: Path, settings: Settings) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    _login(page, stack.ui)

    # Users
    expect(page.get_by_role("link", name="Ada Lovelace")).to_be_visible()
    _shot(page, "02-users")

    # Dashboard with health loaded by HTMX
    _nav(page, "Dashboard")
    expect(page.locator("#health")).to_contain_text("Database")
    expect(page.locator("#health")).to_contain_text("PostgreSQL")
    _shot(page, "03-dashboard")

    # Jobs list and detail
    _nav(page, "Jobs")
    expect(page.locator("#jobs-table")).to_contain_text("poll")
    _shot(page, "06-jobs")
    page.locator("#jobs-table a", has_text="poll").first.click()
    expect(page.locator("main")).to_contain_text("fetched")
    expect(page.get_by_role("heading", name="Stats")).to_be_visible()
    _shot(page, "07-job-detail")

    # Logs: filter by level and search
    _nav(page, "Logs")
    expect(page.locator("#log-rows")).to_contain_text("poll finished for ada")
    page.get_by_label("Minimum level").select_option("error")
    expect(page.locator("#log-rows")).not_to_contain_text("poll finished for ada")
    expect(page.locator("#log-rows")).to_contain_text("invalid_grant")
    page.get_by_label("Search").fill("%' OR '1'='1")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#log-results")).to_contain_text("No log entries match")
    page.get_by_label("Search").fill("refresh")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#log-rows")).to_contain_text("invalid_grant")
    # Live tail: a new matching entry appears on top without reloading
    page.get_by_label("Live tail").check()
    with psycopg.connect(libpq_url(stack.database_url), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO app.logs (service, level, message) VALUES ('collector', 'error', 'refresh failed again')"
        )
    expect(page.locator("#log-rows tr").first).to_contain_text("refresh failed again", timeout=10_000)
    _shot(page, "08-logs")

    # Connect Spotify
    _nav(page, "Connect Spotify")
    expect(page.get_by_role("heading", name="Connect Spotify")).to_be_visible()
    _shot(page, "09-connect")

    # Analytics: Streamlit through the authenticated proxy, then the heatmap page renders a chart
    _nav(page, "Analytics")
    frame = page.frame_locator("iframe.analytics")
    expect(frame.get_by_role("heading", name="Overview")).to_be_visible(timeout=60_000)
    frame.get_by_role("link", name="When you listen").click()
    expect(frame.get_by_text("Europe/London").first).to_be_visible(timeout=60_000)
    expect(frame.locator(".vega-embed").first).to_be_visible(timeout=60_000)
    expect(frame.locator(".vega-embed canvas, .vega-embed svg").first).to_be_visible(timeout=60_000)
    page.wait_for_timeout(500)
    _shot(page, "10-analytics-heatmap")

    # Phone-sized: the users table becomes cards, nothing overflows
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.add_cookies(cast(Any, context.cookies()))
    mobile = phone.new_page()
    mobile.goto(f"{stack.ui}/users")
    expect(mobile.get_by_role("link", name="Ada Lovelace")).to_be_visible()
    width = mobile.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, width
    _shot(mobile, "11-users-phone")
    phone.close()

    # Log out: back to the login page, pages refused again — even to a copy of the old session cookie.
    session_cookie = next(cookie for cookie in context.cookies() if cookie.get("name") == COOKIE_NAME)
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    context.close()
    replay = browser.new_context()
    replay.add_cookies([{"name": COOKIE_NAME, "value": session_cookie["value"], "url": stack.ui}])
    stale = replay.new_page()
    stale.goto(f"{stack.ui}/users")
    expect(stale).to_have_url(re.compile(r"/login\?next="))
    replay.close()


def test_zip_upload_shows_its_stages_until_done(
    stack: Stack, browser: Browser, tmp_path: Path, settings: Settings
) -> None:
    """Uploading → checking the file → importing N of M records → building the warehouse → done, with the
    user's name and the job's figures (never ids or raw dicts)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    _login(page, stack.ui)
    export = tmp_path / "my_spotify_data.zip"
    records = write_demo_export(export, days=45)
    _nav(page, "Imports")
    page.get_by_label("User").select_option(stack.user_id)
    page.get_by_label("Export ZIP").set_input_files(str(export))
    page.get_by_label("Preview first").uncheck()  # straight to the import (the preview has its own test)
    page.get_by_role("button", name="Upload").click()
    progress = page.locator(".progress-box[data-stage]")
    expect(progress).to_be_visible()
    expect(page.locator("#upload-bytes")).to_be_hidden()  # the browser's bar does not stick at 100 %
    expect(progress).to_have_attribute("data-stage", "checking")  # no worker yet: it waits for the collector
    expect(progress).to_contain_text("for Ada Lovelace")
    expect(progress.locator('li[data-stage="uploading"]')).to_have_class("done")
    expect(progress.locator('li[aria-current="step"]')).to_have_text("Checking the file")
    expect(progress).to_contain_text("waiting for the collector")
    _shot(page, "04-imports-uploaded")
    with ImportWorker(stack.database_url, settings):
        expect(progress).to_have_attribute("data-stage", "warehouse", timeout=60_000)
    # Imported; no collector runs the transform here, so the build is played by job runs the API reads.
    expect(progress.locator('li[aria-current="step"]')).to_have_text("Building the warehouse")
    expect(progress).to_contain_text("starts shortly")
    with psycopg.connect(libpq_url(stack.database_url), autocommit=True) as connection:
        build = connection.execute(
            "INSERT INTO app.job_runs (job_type, status) VALUES ('transform', 'running') RETURNING id"
        ).fetchone()
        assert build is not None
        expect(progress).to_contain_text("the warehouse is being built")
        _shot(page, "05-imports-building")
        connection.execute("UPDATE app.job_runs SET status = 'success', finished_at = now() WHERE id = %s", build)
    expect(progress).to_have_attribute("data-stage", "done")
    expect(progress.locator("li.done")).to_have_count(4)
    expect(progress).to_contain_text(f"Done: {records:,} records imported")
    figures = progress.locator("dl.figures")
    expect(figures.locator("div", has_text="Records read")).to_contain_text(f"{records:,}")
    expect(figures.locator("div", has_text="New plays")).to_be_visible()
    table = page.locator("#imports-table")
    expect(table).to_contain_text("Done:", timeout=10_000)
    expect(table.get_by_role("link", name="Ada Lovelace")).to_be_visible()
    expect(table).not_to_contain_text(stack.user_id[:8])
    expect(table.locator("dl.figures").first).to_contain_text("New plays")
    _shot(page, "05-imports-done")

    _nav(page, "Jobs")
    jobs = page.locator("#jobs-table")
    expect(jobs).to_contain_text("Records read")
    expect(jobs).not_to_contain_text("records_read")
    expect(jobs).not_to_contain_text("{")
    _nav(page, "Users")
    expect(page.locator("#users-table")).to_contain_text("success")
    context.close()


def _raw_rows(database_url: str) -> dict[str, int]:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        counts = {}
        for table in ("raw.export_records", "raw.scrobbles"):
            row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
            assert row is not None
            counts[table] = int(row[0])
    return counts


def test_upload_with_preview_shows_what_it_would_add_then_imports_when_confirmed(
    stack: Stack, browser: Browser, tmp_path: Path, settings: Settings
) -> None:
    """The default upload previews first: the collector reads the file and writes nothing; the page shows the
    formats, records per file, dates and new vs already known; Import runs it, Discard deletes it."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    _login(page, stack.ui)
    export = tmp_path / "my_spotify_data.zip"
    records = write_demo_export(export, days=20)
    before = _raw_rows(stack.database_url)
    _nav(page, "Imports")
    expect(page.get_by_label("Preview first")).to_be_checked()
    page.get_by_label("User").select_option(stack.user_id)
    page.get_by_label("Export ZIP").set_input_files(str(export))
    page.get_by_role("button", name="Upload").click()
    progress = page.locator(".progress-box[data-stage]")
    expect(progress).to_have_attribute("data-status", "preview")
    expect(progress).to_contain_text("reading the file to preview it")
    with ImportWorker(stack.database_url, settings):
        expect(progress).to_have_attribute("data-status", "previewed", timeout=60_000)
        preview = progress.locator("section.preview")
        expect(preview).to_contain_text("nothing has been imported yet")
        expect(preview.locator('[data-figure="records"]')).to_have_text(f"{records:,}")
        expect(preview.locator('[data-source="spotify_export"] [data-figure="known"]')).to_have_text("0")
        expect(preview.locator("table")).to_contain_text("Streaming_History_Audio")
        expect(preview).not_to_contain_text("{")
        _shot(page, "06-imports-previewed")
        assert _raw_rows(stack.database_url) == before  # the preview wrote nothing
        table = page.locator("#imports-table")
        expect(table.get_by_role("button", name=re.compile("Review the preview"))).to_be_visible()
        preview.get_by_role("button", name="Import", exact=True).click()
        expect(progress).to_have_attribute("data-stage", "warehouse", timeout=60_000)
    expect(progress).to_contain_text("Imported")
    after = _raw_rows(stack.database_url)
    assert after["raw.export_records"] > before["raw.export_records"]
    _shot(page, "07-imports-confirmed")

    # The same file again, previewed: everything is already known; Discard deletes it and imports nothing.
    page.get_by_label("Export ZIP").set_input_files(str(export))
    page.get_by_role("button", name="Upload").click()
    again = page.locator(".progress-box[data-stage]")
    with ImportWorker(stack.database_url, settings):
        expect(again).to_have_attribute("data-status", "previewed", timeout=60_000)
    expect(again.locator('[data-source="spotify_export"] [data-figure="new"]')).to_have_text("0")
    page.once("dialog", lambda dialog: dialog.accept())
    again.get_by_role("button", name="Discard").click()
    expect(again).to_have_attribute("data-status", "discarded")
    expect(again).to_contain_text("the uploaded file was deleted")
    assert _raw_rows(stack.database_url) == after
    assert not any(settings.effective_upload_dir.glob("*.zip"))
    context.close()


def test_refused_without_credentials_and_streamlit_only_through_the_proxy(stack: Stack, browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    for path in ("/", "/users", "/imports", "/jobs", "/logs", "/analytics", "/connect"):
        page.goto(f"{stack.ui}{path}")
        expect(page).to_have_url(re.compile(r"/login"))
    response = page.goto(f"{stack.ui}/analytics/app/")
    assert response is not None and response.status == 401
    _shot(page, "12-proxy-refused")
    # The API refuses the browser too.
    api = page.goto(f"{stack.api}/admin/users")
    assert api is not None and api.status == 401
    context.close()
    # Streamlit listens on loopback only (never on another interface): the kernel's socket tables.
    port = int(stack.streamlit.rsplit(":", 1)[1])
    assert _listening_addresses(port) == {"127.0.0.1"}
    # And its own port shows a browser nothing: only the admin UI's proxy gets pages from it.
    direct = browser.new_page()
    answer = direct.goto(f"{stack.streamlit}/analytics/app/")
    assert answer is not None and answer.status == 403
    expect(direct.locator("body")).to_contain_text("only through the admin UI")
    direct.close()


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on `port`, from /proc/net/tcp and tcp6."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) != port or fields[3] != "0A":  # 0A = LISTEN
                continue
            if len(address) == 8:
                found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0)))
            else:
                found.add("ipv6:" + address)
    return found
