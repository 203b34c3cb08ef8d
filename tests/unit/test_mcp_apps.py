"""The MCP Apps as built for serving (serve/mcp_apps): one self-contained document per app, the shared stylesheet
and bridge written into each from one place, and every app shown by a tool."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from serve import mcp_apps
from serve.tools.catalog import REGISTRY

ASSETS = mcp_apps._ASSETS


class Outline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.mark.parametrize("app", mcp_apps.APPS, ids=lambda app: app.slug)
def test_each_app_is_one_document_with_the_shared_parts_written_in(app: mcp_apps.App) -> None:
    html = app.html()
    assert html.startswith("<!doctype html>") and "<!-- include" not in html
    bridge = (ASSETS / "bridge.js").read_text()
    stylesheet = (ASSETS / "app.css").read_text()
    assert html.count(bridge) == 1 and html.count(stylesheet) == 1
    outline = Outline()
    outline.feed(html)
    tags = [tag for tag, _ in outline.tags]
    assert tags.count("main") == 1 and ("main", {"id": "app", "aria-busy": "true"}) in outline.tags
    assert "link" not in tags and "img" not in tags and "iframe" not in tags  # nothing loaded from elsewhere
    assert all("src" not in attributes for _, attributes in outline.tags)
    assert ("html", {"lang": "en"}) in outline.tags
    assert app.uri == f"ui://spotify-mcp/{app.slug}" and mcp_apps.find(app.uri) is app


def test_every_app_is_shown_by_a_tool_and_every_tool_names_a_real_app() -> None:
    named = {tool.app for tool in REGISTRY.all() if tool.app is not None}
    assert named == {app.uri for app in mcp_apps.APPS}
    by_tool = {tool.name: tool.app for tool in REGISTRY.all() if tool.app}
    assert by_tool == {
        "history.listening_heatmap": mcp_apps.LISTENING_HEATMAP.uri,
        "history.top_artists": mcp_apps.TOP_CHARTS.uri,
        "history.top_tracks": mcp_apps.TOP_CHARTS.uri,
        "history.recap": mcp_apps.RECAP_CARD.uri,
        "history.artist_history": mcp_apps.ARTIST_TIMELINE.uri,
        "history.track_history": mcp_apps.ARTIST_TIMELINE.uri,
    }
