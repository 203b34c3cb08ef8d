"""MCP Apps (extension `io.modelcontextprotocol/ui`, stable 2026-01-26): charts that hosts such as ChatGPT, Claude,
VS Code and Goose draw inline next to a tool's answer.

A tool names its app in `_meta.ui.resourceUri` (serve/tools/catalog.py); the MCP server lists and serves the apps
as `ui://` resources (`text/html;profile=mcp-app`). Each app is one self-contained HTML document: the page in
`assets/<slug>.html` with the shared stylesheet and host bridge inlined where it says `<!-- include NAME -->`, so a
new app is one HTML file plus one `App` entry here. Apps fetch nothing (they work under the hosts' default CSP,
`connect-src 'none'`): the host hands them the tool result over postMessage after the `ui/initialize` handshake.
The tool's text and structured answer stay complete, so clients without Apps lose nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

EXTENSION_ID = "io.modelcontextprotocol/ui"
MIME_TYPE = "text/html;profile=mcp-app"

_ASSETS = resources.files(__name__) / "assets"
_INCLUDE = re.compile(r"<!-- include ([a-z0-9-]+\.(css|js)) -->")


@dataclass(frozen=True, slots=True)
class App:
    slug: str
    title: str
    description: str

    @property
    def uri(self) -> str:
        return f"ui://spotify-mcp/{self.slug}"

    @property
    def meta(self) -> dict[str, Any]:
        """`_meta.ui` of the resource: a border around the chart; no `csp` key, so the hosts' strictest default
        policy applies (no connections, no outside resources)."""
        return {"ui": {"prefersBorder": True}}

    def html(self) -> str:
        return _build(self.slug)


LISTENING_HEATMAP = App(
    "listening-heatmap",
    "Listening heatmap",
    "When the user listens: plays per weekday and hour as a heatmap, with a table view. Shows "
    "history.listening_heatmap answers.",
)
TOP_CHARTS = App(
    "top-charts",
    "Top charts",
    "The user's top artists or tracks as a ranked bar chart with Spotify links. Shows history.top_artists and "
    "history.top_tracks answers.",
)
RECAP_CARD = App(
    "recap-card",
    "Recap card",
    "A Wrapped-style card of a period: minutes, plays and the change from before, top artists, tracks and albums, "
    "highlights and the listening clock. Shows history.recap answers.",
)
ARTIST_TIMELINE = App(
    "artist-timeline",
    "Artist timeline",
    "An artist's or a track's plays per month over time, the months in the top 5 highlighted, with first and last "
    "play. Shows history.artist_history and history.track_history answers.",
)
APPS: tuple[App, ...] = (LISTENING_HEATMAP, TOP_CHARTS, RECAP_CARD, ARTIST_TIMELINE)
_BY_URI = {app.uri: app for app in APPS}


def find(uri: str) -> App | None:
    return _BY_URI.get(uri)


@cache
def _build(slug: str) -> str:
    """The app's page with the shared stylesheet and scripts written in (read once per process)."""
    page = (_ASSETS / f"{slug}.html").read_text(encoding="utf-8")

    def inline(match: re.Match[str]) -> str:
        name, kind = match.group(1), match.group(2)
        text = (_ASSETS / name).read_text(encoding="utf-8")
        closing = "</style" if kind == "css" else "</script"
        if closing in text.lower():  # would end the element early
            raise ValueError(f"serve/mcp_apps/assets/{name} must not contain {closing!r}")
        return f"<style>\n{text}</style>" if kind == "css" else f"<script>\n{text}</script>"

    html, count = _INCLUDE.subn(inline, page)
    if count == 0 or "<!-- include" in html:
        raise ValueError(f"serve/mcp_apps/assets/{slug}.html: includes must look like <!-- include app.css -->")
    return html
