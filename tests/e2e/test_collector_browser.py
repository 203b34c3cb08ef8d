"""The collector as its owner sees it, in a real browser (Chromium via Playwright) against real servers on
loopback and a real collector (woken by LISTEN/NOTIFY; its tick is an hour): the Users page says when each user
is polled next and why, the dashboard shows the Spotify request budget and a quota stop, and an upload that is
not a Spotify export fails in the Imports page at once, naming the file as it was uploaded.

Screenshots go to test-artifacts/admin-ui/collector-*.png.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from core.crypto import TokenCipher, generate_key
from core.db import create_engine
from core.dburl import libpq_url
from core.settings import Settings, load_settings
from core.spotify.policy import RetryPolicy
from ingest.collector import Collector
from ingest.imports.worker import process_pending_imports
from serve.admin_ui.app import create_admin_app
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.fakes.spotify import FakeSpotify, connect_user, spotify_env
from tests.fixtures import exports
from tests.live_server import live_server

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "admin-ui"
CHROMIUM = "/usr/bin/chromium"


class RunningCollector:
    """The real collector in a thread of its own (its own event loop), as `spotify-mcp collector` runs it."""

    def __init__(self, database_url: str, settings: Settings) -> None:
        self.database_url = database_url
        self.settings = settings
        self.collector: Collector | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        engine = create_engine(self.database_url, application_name="e2e collector")
        try:
            async with httpx.AsyncClient() as http:

                async def import_step() -> int:
                    return await process_pending_imports(engine, self.settings, worker_id="e2e-collector")

                self.collector = Collector(
                    engine,
                    self.settings,
                    TokenCipher(self.settings.encryption_keys),
                    http,
                    import_step=import_step,
                    policy=RetryPolicy(base_delay=0.01),
                    tick_seconds=3600,
                )
                self.loop = asyncio.get_running_loop()
                self.loop.call_later(0, self.ready.set)
                await self.collector.run()
        finally:
            await engine.dispose()

    def __enter__(self) -> RunningCollector:
        self.thread.start()
        assert self.ready.wait(30)
        deadline = time.monotonic() + 60  # a failure bound: the first cycle polls every connected user
        while not self._polled_everyone():
            assert time.monotonic() < deadline, "the collector's first cycle did not finish"
            time.sleep(0.1)
        return self

    def _polled_everyone(self) -> bool:
        with psycopg.connect(libpq_url(self.database_url)) as connection:
            row = connection.execute(
                "SELECT count(*) FILTER (WHERE last_poll_completed_at IS NULL) FROM app.sync_checkpoints"
            ).fetchone()
        return row is not None and row[0] == 0

    def __exit__(self, *exc: object) -> None:
        if self.loop is not None and self.collector is not None:
            self.loop.call_soon_threadsafe(self.collector.request_stop)
        self.thread.join(timeout=30)


@dataclass
class Stack:
    ui: str
    database_url: str
    collector: RunningCollector


@pytest.fixture
def stack(database_url: str) -> Iterator[Stack]:
    fake = FakeSpotify()
    key = generate_key()
    with live_server(fake.app) as fake_base:
        connect_user(database_url, TokenCipher([key]), fake, "ada", plays=20)
        settings = load_settings(spotify_env(database_url, fake_base, key, INITIAL_SYNC_ENABLED="false"))
        with (
            live_server(create_app(settings, database_url)) as api,
            live_server(create_admin_app(settings, api_base_url=api, streamlit_url="http://127.0.0.1:9")) as ui,
            RunningCollector(database_url, settings) as collector,
        ):
            yield Stack(ui, database_url, collector)


@pytest.fixture
def page() -> Iterator[Page]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser: Browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.set_default_timeout(20_000)
            yield page
        finally:
            browser.close()


def _shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"collector-{name}.png"), full_page=True)


def test_the_owner_sees_polling_the_budget_and_a_bad_upload_at_once(stack: Stack, page: Page, tmp_path: Path) -> None:
    page.goto(f"{stack.ui}/login?next=/users")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    # The collector's first cycle polled Ada: the Users page says when she is polled next, and why then.
    row = page.locator("tr", has=page.get_by_role("link", name="User ada"))
    expect(row.locator(".next-poll")).to_contain_text("next poll")
    expect(row.locator(".next-poll")).to_contain_text("plays/h: every 58 min keeps fewer than 50 plays between polls")
    expect(row).to_contain_text("(+20 plays)")
    _shot(page, "users")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard", exact=True).click()
    expect(page.locator("#collector-status")).to_contain_text("of 1,000 requests in the last 24 h")
    _shot(page, "dashboard")
    until = datetime.now(UTC) + timedelta(hours=14)
    with psycopg.connect(libpq_url(stack.database_url), autocommit=True) as connection:
        connection.execute(
            "INSERT INTO app.spotify_quota_blocks (started_at, blocked_until, reason, endpoint, retry_after_seconds) "
            "VALUES (now(), %s, 'QUOTA_EXCEEDED', 'GET /me/player/recently-played', 50400)",
            (until,),
        )
    page.reload()
    expect(page.get_by_role("alert")).to_contain_text(f"nothing is sent to Spotify until {until:%Y-%m-%d %H:%M} UTC")
    _shot(page, "quota-stop")

    # An upload that is not an export: the running collector is woken and refuses it at once, by its name.
    photos = exports.build_zip(tmp_path / "holiday-photos.zip", {"DSC_0042.jpg": "jpeg", "captions.txt": "x"})
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Imports", exact=True).click()
    page.get_by_label("Export ZIP").set_input_files(str(photos))
    page.get_by_role("button", name="Upload").click()
    progress = page.locator(".progress-box[data-stage]")
    expect(progress).to_have_attribute("data-status", "error")
    expect(progress.get_by_role("alert")).to_contain_text("holiday-photos.zip is not a Spotify export")
    expect(progress.get_by_role("alert")).to_contain_text("DSC_0042.jpg")
    _shot(page, "bad-upload")
    assert stack.collector.collector is not None and stack.collector.collector.cycles == 1  # woken, not ticked
