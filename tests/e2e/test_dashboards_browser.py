"""Every dashboards page in a real browser (Chromium via Playwright) with the demo history, at two spans (the last
30 days and all time): the page renders without an error, its charts draw, and nothing raw reaches the reader
(window ids, JSON, microsecond timestamps, None/NaN). The Streamlit app is reached the way people reach it,
through the admin UI's authenticated proxy.

Screenshots go to test-artifacts/dashboards/; with `DASHBOARD_SCREENSHOTS=docs` they replace the ones kept in
docs/images (look at them before committing).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from cli.demo import seed_demo
from core.crypto import generate_key
from core.dburl import libpq_url, with_database
from core.settings import Settings, load_settings
from serve.admin_ui.app import create_admin_app
from serve.admin_ui.proxy import PROXY_PREFIX
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.e2e.test_admin_ui_browser import _start_streamlit
from tests.live_server import live_server
from tests.provisions import launch_chromium

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / ("docs/images" if os.environ.get("DASHBOARD_SCREENSHOTS") == "docs" else "test-artifacts/dashboards")
SPANS = ("Last 30 days", "All time")
# url path, heading, whether it has the window picker
PAGES = [
    ("", "Overview", True),
    ("top", "Top artists & tracks", True),
    ("artist", "Artist", True),
    ("heatmap", "When you listen", True),
    ("repeat", "Repeat behaviour", True),
    ("discovery", "Discovery", True),
    ("coverage", "Coverage", True),
]
RAW = [
    re.compile(r"\b[a-z]+(_[a-z0-9]+)+\b"),  # identifiers: window ids (all_time, last_90_days), tool or column names
    re.compile(r"\[\{|\{\""),  # JSON
    re.compile(r"\d{2}:\d{2}:\d{2}\.\d{3,6}"),  # timestamps with fractions of a second
    re.compile(r"\bNone\b|\bnan\b|\bNaN\b|\bnull\b"),
    re.compile(r"\blocal:[0-9a-f]{6,}"),  # local ids instead of names
]


@dataclass
class Stack:
    ui: str
    user_id: str


def _admin(server_url: str, statement: str) -> None:
    with psycopg.connect(libpq_url(with_database(server_url, "postgres")), autocommit=True) as connection:
        connection.execute(statement)


@pytest.fixture(scope="module")
def stack(pg_server_url: str, template_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    name = f"spmcp_dash_{secrets.token_hex(5)}"
    _admin(pg_server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    url = with_database(pg_server_url, name)
    settings: Settings = load_settings(
        {
            "DATABASE_URL": url,
            "TOKEN_ENCRYPTION_KEY": generate_key(),
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "SPOTIFY_MCP_HOME": str(tmp_path_factory.mktemp("dash-home")),
        }
    )
    streamlit = None
    try:
        demo = seed_demo(settings, url)
        assert demo.transform_status == "success", demo
        streamlit, streamlit_base = _start_streamlit(url, settings)
        with (
            live_server(create_app(settings, url)) as api_base,
            live_server(create_admin_app(settings, api_base_url=api_base, streamlit_url=streamlit_base)) as ui_base,
        ):
            yield Stack(ui_base, str(demo.user_id))
    finally:
        if streamlit is not None:
            streamlit.terminate()
            streamlit.wait(timeout=20)
        _admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def page(stack: Stack) -> Iterator[Page]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser: Browser = launch_chromium(playwright)
        context = browser.new_context(viewport={"width": 1360, "height": 900})
        opened = context.new_page()
        opened.set_default_timeout(60_000)
        opened.goto(f"{stack.ui}/login")
        opened.get_by_label("Admin token").fill(ADMIN_TOKEN)
        opened.get_by_role("button", name="Sign in").click()
        expect(opened).not_to_have_url(re.compile(r"/login"))
        try:
            yield opened
        finally:
            browser.close()


def _idle(page: Page) -> bool:
    state = page.get_by_test_id("stApp").get_attribute("data-test-script-state")
    return state == "notRunning" and page.get_by_test_id("stSpinner").count() == 0


def _settle(page: Page) -> None:
    """Wait for Streamlit to finish the run (idle twice in a row, half a second apart) and every chart to draw."""
    quiet = 0
    for _ in range(240):
        page.wait_for_timeout(500)
        quiet = quiet + 1 if _idle(page) else 0
        if quiet >= 2:
            break
    assert quiet >= 2, "the page kept running"
    charts = page.locator(".vega-embed")
    for index in range(charts.count()):
        expect(charts.nth(index).locator("canvas, svg").first).to_be_visible()
    page.wait_for_timeout(600)


def _check(page: Page, where: str) -> None:
    assert page.get_by_test_id("stException").count() == 0, where
    assert page.get_by_test_id("stAlertContentError").count() == 0, where
    # The text a person reads: Material icons are ligatures (their names are text in the DOM), so leave them out.
    text = page.evaluate(
        """() => {
            const main = document.querySelector("[data-testid='stMain']").cloneNode(true);
            main.querySelectorAll("[data-testid='stIconMaterial']").forEach((icon) => icon.remove());
            return main.innerText;
        }"""
    )
    for pattern in RAW:
        found = pattern.search(text)
        assert found is None, f"{where}: raw text {found.group(0)!r}"


def _shot(page: Page, name: str) -> None:
    """The whole page: Streamlit scrolls inside its main block, so grow the viewport to its height first."""
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": 1360, "height": min(max(900, int(height)), 6000)})
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / f"dashboards-{name}.png"), full_page=True)
    page.set_viewport_size({"width": 1360, "height": 900})


def _open(page: Page, stack: Stack, path: str, heading: str) -> None:
    page.goto(f"{stack.ui}{PROXY_PREFIX}/{path}")
    expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible(timeout=90_000)
    _settle(page)


def _pick(page: Page, group: str, option: str) -> None:
    page.get_by_test_id("stRadio").filter(has_text=group).get_by_text(option, exact=True).click()
    _settle(page)


@pytest.mark.parametrize(("path", "heading", "windowed"), PAGES)
def test_page_at_two_spans(stack: Stack, page: Page, path: str, heading: str, windowed: bool) -> None:
    _open(page, stack, path, heading)
    name = path or "overview"
    for span in SPANS:
        _pick(page, "Window", span)
        _check(page, f"{name} / {span}")
        charts, notes = page.locator(".vega-embed").count(), page.get_by_test_id("stAlertContentInfo").count()
        assert charts >= 1 or notes >= 1, f"{name} / {span}: neither a chart nor a notice saying why not"
        _shot(page, f"{name}-{span.lower().replace(' ', '-')}")


def test_year_in_review(stack: Stack, page: Page) -> None:
    _open(page, stack, "year", "Year in review")
    _check(page, "year")
    assert page.locator(".vega-embed").count() >= 5
    _shot(page, "year")
    page.get_by_test_id("stSelectbox").filter(has_text="Year").click()
    page.get_by_role("option", name=re.compile(r"so far")).click()
    _settle(page)
    _check(page, "year so far")
    _shot(page, "year-so-far")


def test_compare_periods(stack: Stack, page: Page) -> None:
    _open(page, stack, "compare", "Compare periods")
    _check(page, "compare 30 days")
    expect(page.get_by_text(re.compile(r"Compared last 30 days"))).to_be_visible()
    _shot(page, "compare-last-30-days")
    _pick(page, "Period", "This year")
    _check(page, "compare this year")
    _shot(page, "compare-this-year")


def test_taste_clusters(stack: Stack, page: Page) -> None:
    _open(page, stack, "clusters", "Taste clusters")
    for window in ("Last 90 days", "All time"):
        _pick(page, "Window", window)
        _check(page, f"clusters / {window}")
        expect(page.get_by_text("How distinct:")).to_be_visible()
        assert page.locator(".vega-embed").count() == 2, window  # shares, and shares over time
        _shot(page, f"clusters-{window.lower().replace(' ', '-')}")


def test_sql_explorer(stack: Stack, page: Page) -> None:
    _open(page, stack, "explorer", "SQL explorer")
    page.get_by_role("button", name="Run").click()
    _settle(page)
    expect(page.get_by_test_id("stAlertContentSuccess")).to_contain_text(re.compile(r"\d+ rows"))
    _shot(page, "explorer")
