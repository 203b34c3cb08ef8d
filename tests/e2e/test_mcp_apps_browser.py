"""The MCP Apps in a real browser (Debian's Chromium, Playwright): each `ui://` app as the MCP server serves it
(resources/read), in a test host page that does what ChatGPT or Claude do — a sandboxed frame under the spec's
default CSP (`connect-src 'none'`), the `ui/initialize` handshake, then a real tool result from a real
`tools/call` — drawn in the host's light and dark theme, used with the keyboard, links opened through the host.

Screenshots go to test-artifacts/mcp-apps/; docs/images/mcp-app-*.png are copies of them (docs/mcp-clients.md).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Frame, Page, expect, sync_playwright
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from core.settings import Settings
from serve import mcp_apps
from serve.api.app import create_app
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.marts import Listen, add_user, create_marts, load_listens, record_transform
from tests.live_server import free_port, live_server

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "mcp-apps"
HOST_PAGE = Path(__file__).with_name("mcp_apps_host.html")
CHROMIUM = "/usr/bin/chromium"
# What a host applies when the resource declares no `_meta.ui.csp` (MCP Apps 2026-01-26, "Restrictive Default").
DEFAULT_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; media-src 'self' data:; connect-src 'none'"
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ZONE = "Europe/Berlin"

# A listener whose history looks like a person's: Spotify-shaped ids, evening and weekend-morning listening.
ARTISTS = {
    "3WrFJ7ztbogyGnTHbHJFl2": "Velvet Harbor",
    "1dfeR4HaWDbWqFHLkxsg1d": "Nora Lindqvist",
    "4gzpq5DPGxSnKTe4SA8HAU": "The Midnight Orchard",
    "0oSGxfWSnnOXhD2fKuz2Gy": "Kofi & the Tides",
    "6vWDO969PvNqNYHIOW5v0m": "Saltwater Choir",
    "5K4W6rqBFWDnAN6FQUkS6x": "Mina Okafor",
    "2YZyLoL8N0Wb9xBt1NhZWg": "Paper Lanterns",
    "7dGJo4pcD2V6oG8kP0tJRR": "Ruben Castell",
}


def _track_id(artist: str, index: int) -> str:
    return (artist[:18] + f"{index:04d}")[:22]


@dataclass(frozen=True)
class Call:
    tool: str
    arguments: dict[str, Any]
    result: dict[str, Any]  # the JSON-RPC `result` of tools/call, as the server sent it
    html: str  # the app, as resources/read served it


def _listener(database_url: str, now: datetime) -> Any:
    create_marts(database_url)
    user = add_user(database_url, ZONE, "Ada")
    zone = ZoneInfo(ZONE)
    rng = random.Random(18)
    weights = [34, 22, 16, 10, 7, 5, 4, 2]
    names = dict(ARTISTS)
    listens: list[Listen] = []
    for days_ago in range(120):
        day = (now.astimezone(zone) - timedelta(days=days_ago)).date()
        weekend = day.weekday() >= 5
        sessions = [(9, 3), (21, 6)] if weekend else [(8, 2), (13, 1), (19, 5), (22, 3)]
        for hour, count in sessions:
            for _ in range(rng.randint(0, count + 2)):
                artist = rng.choices(list(ARTISTS), weights)[0]
                index = rng.randint(0, 5)
                track = _track_id(artist, index)
                names[track] = f"{ARTISTS[artist].split()[-1]} No. {index + 1}"
                at = datetime(day.year, day.month, day.day, hour, rng.randint(0, 59), tzinfo=zone)
                if at <= now:
                    listens.append(Listen(at + timedelta(minutes=rng.randint(0, 50)), track, artist))
    unique = {(listen.played_at, listen.track_id): listen for listen in listens}  # one play per moment and track
    load_listens(database_url, user, ZONE, list(unique.values()), names)
    record_transform(database_url, now)
    return user


def _rpc(base: str, token: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    headers["MCP-Protocol-Version"] = "2025-11-25"
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    answer = httpx.post(f"{base}/mcp", json=body, headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()["result"]
    return result


@pytest.fixture
def served(settings: Settings, database_url: str) -> dict[str, Call]:
    """Real answers of the tools that have an app, and the apps, from the real server."""
    user = _listener(database_url, datetime.now(UTC))
    with live_server(create_app(settings, database_url)) as base:
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        created = httpx.post(f"{base}/admin/users/{user}/api-tokens", json={"name": "host"}, headers=admin)
        token = created.json()["token"]
        tools = {tool["name"]: tool for tool in _rpc(base, token, "tools/list", {})["tools"]}
        found: dict[str, Call] = {}
        for tool, arguments in (
            ("history_listening_heatmap", {"days": 90}),
            ("history_top_artists", {"days": 90, "limit": 8}),
            ("history_top_tracks", {"days": 90, "limit": 8}),
            ("history_recap", {"days": 120}),
            ("history_artist_history", {"artist": "Velvet Harbor"}),
        ):
            uri = tools[tool]["_meta"]["ui"]["resourceUri"]
            assert mcp_apps.find(uri) is not None, uri
            (content,) = _rpc(base, token, "resources/read", {"uri": uri})["contents"]
            result = _rpc(base, token, "tools/call", {"name": tool, "arguments": arguments})
            assert result["isError"] is False, result
            found[tool] = Call(tool, arguments, result, content["text"])
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def host(served: dict[str, Call]) -> Iterator[str]:
    """The test host: `/host/<tool>?theme=` embeds `/app/<tool>` (the app, under the default CSP) from another
    origin (localhost vs 127.0.0.1)."""
    port = free_port()
    template = HOST_PAGE.read_text()

    async def host_page(request: Request) -> HTMLResponse:
        call = served[request.path_params["tool"]]
        embedded = {
            "app_url": f"http://localhost:{port}/app/{call.tool}",
            "theme": request.query_params.get("theme", "light"),
            "tool": {"name": call.tool},
            "arguments": call.arguments,
            "result": call.result,
        }
        if request.query_params.get("styled"):  # a host that brings its own colours (MCP Apps style variables)
            embedded["styles"] = {"variables": {"--color-background-primary": "light-dark(#fafafa, #101418)"}}
        return HTMLResponse(template.replace("__CALL__", json.dumps(embedded).replace("<", "\\u003c")))

    async def app_page(request: Request) -> HTMLResponse:
        html = served[request.path_params["tool"]].html
        return HTMLResponse(html, headers={"Content-Security-Policy": DEFAULT_CSP})

    routes = [Route("/host/{tool}", host_page), Route("/app/{tool}", app_page)]
    with live_server(Starlette(routes=routes), port=port) as base:
        yield base


@dataclass
class Opened:
    page: Page
    frame: Frame
    problems: list[str]
    requests: list[str]


def _open(browser: Browser, host: str, tool: str, theme: str, *, styled: bool = False) -> Opened:
    page = browser.new_context(viewport={"width": 700, "height": 900}, device_scale_factor=2).new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    requests: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{host}/host/{tool}?theme={theme}" + ("&styled=1" if styled else ""))
    page.wait_for_function("window.initialized === true")
    frame = next(frame for frame in page.frames if "/app/" in frame.url)
    expect(frame.locator("#app")).to_have_attribute("aria-busy", "false")
    return Opened(page, frame, problems, requests)


def _background(frame: Frame) -> str:
    value: str = frame.locator("body").evaluate("element => getComputedStyle(element).backgroundColor")
    return value


def _finish(opened: Opened, host: str, tool: str, name: str) -> None:
    """Screenshot, then: nothing fetched but the two pages, no CSP report or script error, the size told."""
    opened.frame.evaluate("document.activeElement && document.activeElement.blur()")
    opened.page.wait_for_function(  # the frame has taken the height the app asked for
        "() => { const sizes = window.received.filter(m => m.method === 'ui/notifications/size-changed');"
        " return sizes.length > 0 && document.getElementById('view').offsetHeight === sizes.at(-1).params.height; }"
    )
    opened.page.locator("#view").screenshot(path=str(ARTIFACTS / f"{name}.png"))
    port = host.rsplit(":", 1)[1]
    allowed = {f"{host}/host/{tool}", f"http://localhost:{port}/app/{tool}"}
    assert {url.split("?")[0] for url in opened.requests} <= allowed, opened.requests
    assert opened.problems == [], opened.problems
    sizes = [m for m in opened.page.evaluate("window.received") if m.get("method") == "ui/notifications/size-changed"]
    assert sizes and sizes[-1]["params"]["height"] > 200
    opened.page.context.close()


def test_listening_heatmap_app(browser: Browser, host: str, served: dict[str, Call]) -> None:
    tool = "history_listening_heatmap"
    answer = served[tool].result["structuredContent"]
    grid: list[list[int]] = answer["heatmap"]["weekday_hour_plays"]
    opened = _open(browser, host, tool, "light")
    frame = opened.frame
    handshake = opened.page.evaluate("window.received")[0]
    assert handshake["method"] == "ui/initialize" and handshake["params"]["protocolVersion"] == "2026-01-26"
    assert _background(frame) == "rgb(255, 255, 255)"
    # The text alternative: a summary the grid points to, a label on every cell, the whole grid as a table.
    summary = frame.locator("#summary")
    expect(summary).to_contain_text(f"{answer['heatmap']['plays']:,} plays")
    expect(summary).to_contain_text(f"busiest on {answer['heatmap']['peak_weekday']}s")
    chart = frame.get_by_role("grid", name="Plays by weekday and hour")
    expect(chart).to_have_attribute("aria-describedby", "summary")
    cells = chart.get_by_role("gridcell")
    expect(cells).to_have_count(7 * 24)
    expect(frame.locator(".subtitle")).to_contain_text("last 90 days")
    expect(frame.locator(".note")).to_contain_text("Data as of ")
    # Keyboard: arrows walk the grid, and the focused cell is read out.
    cells.first.focus()
    for _ in range(19):
        frame.page.keyboard.press("ArrowRight")
    for _ in range(2):
        frame.page.keyboard.press("ArrowDown")
    expected = f"Wednesday 19:00–20:00: {grid[2][19]:,} {'play' if grid[2][19] == 1 else 'plays'}"
    focused = frame.locator(":focus")
    expect(focused).to_have_attribute("aria-label", expected)
    expect(frame.locator(".detail")).to_have_text(expected)
    frame.page.keyboard.press("End")
    expect(frame.locator(":focus")).to_have_attribute("aria-label", re.compile(r"^Wednesday 23:00–00:00"))
    toggle = frame.get_by_role("button", name="Table view")
    toggle.focus()
    frame.page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    table = frame.get_by_role("table")
    expect(table).to_be_visible()
    sunday = table.get_by_role("row").nth(7)  # header row, then Monday..Sunday
    expect(sunday.get_by_role("rowheader")).to_have_text("Sunday")
    expect(sunday.get_by_role("cell").nth(9)).to_have_text(f"{grid[6][9]:,}")
    frame.page.keyboard.press("Enter")  # back to the chart for the screenshot
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(table).to_be_hidden()
    _finish(opened, host, tool, "listening-heatmap-light")
    # A host with its own colours switches to dark: the app takes both without reloading.
    opened = _open(browser, host, tool, "light", styled=True)
    assert _background(opened.frame) == "rgb(250, 250, 250)"
    opened.page.evaluate("window.setTheme('dark')")
    expect(opened.frame.locator("html")).to_have_attribute("data-theme", "dark")
    assert _background(opened.frame) == "rgb(16, 20, 24)"
    _finish(opened, host, tool, "listening-heatmap-dark")


@pytest.mark.parametrize(
    ("tool", "key", "kind"), [("history_top_artists", "artists", "artist"), ("history_top_tracks", "tracks", "track")]
)
def test_top_charts_app(browser: Browser, host: str, served: dict[str, Call], tool: str, key: str, kind: str) -> None:
    answer = served[tool].result["structuredContent"]
    items = answer[key]
    theme = "dark" if kind == "track" else "light"
    opened = _open(browser, host, tool, theme)
    frame = opened.frame
    assert _background(frame) == ("rgb(23, 23, 23)" if theme == "dark" else "rgb(255, 255, 255)")
    expect(frame.get_by_role("heading")).to_have_text(f"Top {key}")
    rows = frame.get_by_role("list", name=f"Top {key}").get_by_role("listitem")
    expect(rows).to_have_count(len(items))
    first = items[0]
    expect(rows.first).to_contain_text(f"1. {first['name']}")
    expect(rows.first).to_contain_text(f"{first['plays']:,} plays")
    if kind == "track":
        expect(rows.first).to_contain_text(f"by {first['artist_name']}")
    expect(frame.locator("p").nth(1)).to_contain_text(f"{first['name']} leads with {first['plays']:,} plays")
    # Names link to Spotify; the host opens them (the sandboxed frame cannot), by keyboard as by mouse.
    link = rows.first.get_by_role("link", name=first["name"])
    expect(link).to_have_attribute("href", first["spotify_url"])
    link.focus()
    frame.page.keyboard.press("Enter")
    rows.nth(1).get_by_role("link").first.click()
    opened.page.wait_for_function("window.openedLinks.length === 2")
    assert opened.page.evaluate("window.openedLinks") == [first["spotify_url"], items[1]["spotify_url"]]
    assert first["spotify_url"] == f"https://open.spotify.com/{kind}/{first[f'{kind}_id']}"
    assert "/app/" in frame.url  # nothing navigated away
    _finish(opened, host, tool, f"top-{key}-{theme}")


def test_recap_card_app(browser: Browser, host: str, served: dict[str, Call]) -> None:
    tool = "history_recap"
    answer = served[tool].result["structuredContent"]
    opened = _open(browser, host, tool, "light")
    frame = opened.frame
    expect(frame.get_by_role("heading", level=1)).to_have_text(f"Recap: {answer['title']}")
    totals = frame.get_by_role("group", name="Totals")
    expect(totals).to_contain_text(f"{round(answer['listening_minutes']):,}minutes")
    expect(totals).to_contain_text(f"{answer['plays']:,}plays")
    top = frame.get_by_role("region", name="Top artists").get_by_role("listitem")
    expect(top).to_have_count(len(answer["top_artists"]))
    first = answer["top_artists"][0]
    expect(top.first).to_contain_text(f"{first['name']} · {first['plays']:,} plays")
    expect(top.first.get_by_role("link")).to_have_attribute("href", first["spotify_url"])
    streak = answer["longest_streak"]
    expect(frame.get_by_role("region", name="Highlights")).to_contain_text(f"Longest streak: {streak['days']} days")
    # The clock is an image described by its text.
    clock = frame.get_by_role("img")
    expect(clock).to_have_attribute("aria-describedby", "clock-summary")
    peak = f"{answer['clock']['peak_hour']:02d}:00"
    expect(frame.locator("#clock-summary")).to_contain_text(f"most plays at {peak}")
    expect(frame.locator("p.note", has_text="Compared")).to_have_text(answer["previous"]["note"])
    _finish(opened, host, tool, "recap-card-light")
    opened = _open(browser, host, tool, "dark")
    assert _background(opened.frame) == "rgb(23, 23, 23)"
    _finish(opened, host, tool, "recap-card-dark")


def test_artist_timeline_app(browser: Browser, host: str, served: dict[str, Call]) -> None:
    tool = "history_artist_history"
    answer = served[tool].result["structuredContent"]
    months = answer["months"]
    opened = _open(browser, host, tool, "dark")
    frame = opened.frame
    heading = frame.get_by_role("heading", level=1)
    expect(heading).to_have_text("Velvet Harbor")
    expect(heading.get_by_role("link")).to_have_attribute("href", answer["subject"]["spotify_url"])
    expect(frame.locator("#summary")).to_contain_text(f"{answer['plays']:,} plays in this window")
    chart = frame.get_by_role("toolbar", name="Plays per month")
    expect(chart).to_have_attribute("aria-describedby", "summary")
    bars = chart.get_by_role("button")
    expect(bars).to_have_count(len(months))  # every month from the first to the last (the history has no gap)
    # One tab stop, on the latest month; arrows and Home walk the months, and the focused one is read out.
    frame.page.keyboard.press("Tab")
    bars.last.focus()
    last = months[-1]
    expect(frame.locator(":focus")).to_have_attribute(
        "aria-label", re.compile(f"{last['plays']} plays, #{last['rank']} of")
    )
    frame.page.keyboard.press("Home")
    first = months[0]
    focused = frame.locator(":focus")
    expect(focused).to_have_attribute("aria-label", re.compile(f"^.*: {first['plays']} plays, #{first['rank']} of"))
    expect(frame.locator(".detail")).to_have_text(focused.get_attribute("aria-label") or "")
    frame.page.keyboard.press("ArrowRight")
    expect(frame.locator(":focus")).to_have_attribute("aria-label", re.compile(f": {months[1]['plays']} plays"))
    tracks = frame.get_by_role("region", name="Top tracks").get_by_role("listitem")
    expect(tracks).to_have_count(len(answer["top_tracks"]))
    _finish(opened, host, tool, "artist-timeline-dark")
