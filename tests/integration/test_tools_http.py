"""The tools over plain HTTP (`/mcp/call`, typed operations): answers, windows, coverage, typed errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from core.settings import Settings
from serve.api.app import create_app
from serve.tools.warmer import STANDARD_CALLS
from tests.conftest import ADMIN_TOKEN
from tests.fixtures.marts import History, add_user, record_transform, standard_history
from tests.live_server import live_server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def history(database_url: str) -> History:
    found = standard_history(database_url, datetime.now(UTC))
    record_transform(database_url, datetime.now(UTC) - timedelta(minutes=5))
    return found


@pytest.fixture
def base(settings: Settings, database_url: str, history: History) -> Iterator[str]:
    del history
    with live_server(create_app(settings, database_url)) as url:
        yield url


def call(base: str, tool: str, args: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
    return httpx.post(f"{base}/mcp/call", json={"tool": tool, "args": args or {}}, headers=headers or ADMIN, timeout=30)


def result(base: str, tool: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    response = call(base, tool, args)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["tool"] == tool
    found: dict[str, Any] = body["result"]
    return found


def test_taste_summary_counts_follow_the_play_rule_in_the_user_time_zone(base: str, history: History) -> None:
    today = datetime.now(ZoneInfo(history.timezone)).date()
    summary = result(base, "history.taste_summary", {"days": 90})
    expected = history.plays_between(today - timedelta(days=89), today)
    assert summary["plays"] == len(expected)
    assert summary["unique_tracks"] == len({listen.track_id for listen in expected})
    assert summary["unique_artists"] == len({listen.artist_id for listen in expected})
    assert summary["window"]["start_date"] == (today - timedelta(days=89)).isoformat()
    assert summary["window"]["timezone"] == "Europe/Berlin"
    assert summary["top_artists"][0]["artist_id"] == "artist0"
    assert summary["top_artists"][0]["name"] == "Artist 0"
    assert summary["top_tracks"][0]["track_id"] == "track0"
    assert summary["top_tracks"][0]["artist_name"] == "Artist 0"
    local = next(item for item in summary["top_artists"] if item["artist_id"] == "local:abc")
    assert local["name"] == "Local Artist"  # named from fct_plays: local artists are not in dim_artists
    assert "30 seconds" in summary["counting"]
    assert summary["freshness"]["last_transform_at"] is not None
    assert summary["repeat_stats"]["plays"] == len(expected)
    assert summary["heatmap"]["plays"] == len(expected)
    assert summary["heatmap"]["peak_hour"] == 20
    assert summary["audio_profile"] is None
    assert summary["clusters"] is None
    assert summary["coverage"]["complete"] is True
    listened_days = {history.local_date(listen) for listen in history.listens}
    assert summary["coverage"]["days_with_data"] == len(listened_days & {today - timedelta(days=n) for n in range(90)})


def test_windows_coverage_and_all_time(base: str, history: History) -> None:
    today = datetime.now(ZoneInfo(history.timezone)).date()
    year = result(base, "history.coverage", {"days": 365})["coverage"]
    assert year["complete"] is False
    assert year["largest_gaps"][0]["days"] == 15
    assert {source["source"] for source in year["sources"]} == {"import_zip", "spotify_api"}
    month = result(base, "history.top_artists", {"period": "this_month", "limit": 3})
    assert month["window"]["start_date"] == today.replace(day=1).isoformat()
    assert len(month["artists"]) <= 3
    assert month["plays"] == len(history.plays_between(today.replace(day=1), today))
    everything = result(base, "history.repeat_rate", {"period": "all_time"})
    all_plays = [listen for listen in history.listens if listen.content_kind == "track" and listen.counts]
    assert everything["repeat_stats"]["plays"] == len(all_plays)
    assert everything["coverage"]["complete"] is False
    explicit = result(base, "history.top_tracks", {"start": "2000-01-01", "end": "2000-01-31"})
    assert explicit["tracks"] == [] and explicit["plays"] == 0
    assert explicit["coverage"]["days_with_data"] == 0 and explicit["coverage"]["complete"] is False


def test_compare_periods_and_heatmap(base: str, history: History) -> None:
    del history
    comparison = result(
        base, "history.compare_periods", {"period": "last_7_days", "compare_to": "last_30_days", "equal_spans": False}
    )
    assert comparison["period"]["window"]["label"] == "last_7_days"
    assert comparison["compare_to"]["window"]["label"] == "last_30_days"
    assert comparison["equal_spans"] is False and "per-day" in comparison["spans_note"]
    assert comparison["plays_change"] == comparison["period"]["plays"] - comparison["compare_to"]["plays"]
    assert comparison["top_movers"][0]["artist_id"] == "artist0"
    equal = result(base, "history.compare_periods", {"period": "last_7_days", "compare_to": "last_30_days"})
    assert equal["compare_to"]["window"]["days"] == 7 and equal["equal_spans"] is True
    assert equal["compare_to"]["window"]["label"] == "last_30_days (first 7 days)"
    default = result(base, "history.compare_periods")
    assert default["period"]["window"]["label"] == "this_month"
    assert default["spans_note"].startswith("Compared this_month")
    assert default["new_artists"] == []  # every artist was played before this month
    heatmap = result(base, "history.listening_heatmap", {"days": 30})["heatmap"]
    assert len(heatmap["weekday_hour_plays"]) == 7 and all(len(row) == 24 for row in heatmap["weekday_hour_plays"])
    assert heatmap["hour_totals"][8] > 0  # the favourite's morning plays of the last 30 days


def test_request_shapes_flat_json_string_and_typed_operation(base: str) -> None:
    spec = result(base, "history.top_artists", {"days": 30, "limit": 2})
    flat = httpx.post(f"{base}/mcp/call", json={"tool": "history.top_artists", "days": 30, "limit": 2}, headers=ADMIN)
    as_string = httpx.post(
        f"{base}/mcp/call", json={"tool": "history_top_artists", "args": '{"days": 30, "limit": 2}'}, headers=ADMIN
    )
    typed = httpx.post(f"{base}/mcp/call/history.top_artists", json={"days": 30, "limit": 2}, headers=ADMIN)
    assert flat.json()["result"] == spec
    assert as_string.json()["result"] == spec
    assert typed.json() == spec


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"tool": "history.nope"}, 404, "unknown_tool", None),
        ({"args": {}}, 422, "invalid_arguments", "tool"),
        ({"tool": "history.top_artists", "args": {"days": 0}}, 422, "invalid_arguments", "days"),
        ({"tool": "history.top_artists", "args": {"days": "many"}}, 422, "invalid_arguments", "days"),
        ({"tool": "history.top_artists", "args": {"limit": 1000}}, 422, "invalid_arguments", "limit"),
        ({"tool": "history.top_artists", "args": {"colour": "red"}}, 422, "invalid_arguments", "colour"),
        ({"tool": "history.top_artists", "args": {"period": "someday"}}, 422, "invalid_arguments", "period"),
        (
            {"tool": "history.top_artists", "args": {"period": "this_month", "days": 3}},
            422,
            "invalid_arguments",
            "days",
        ),
        (
            {"tool": "history.top_artists", "args": {"start": "2026-02-01", "end": "2026-01-01"}},
            422,
            "invalid_arguments",
            "end",
        ),
        ({"tool": "history.top_artists", "args": {"start": "yesterday-ish"}}, 422, "invalid_arguments", "start"),
        ({"tool": "history.top_artists", "args": "{not json"}, 422, "invalid_arguments", "args"),
        ({"tool": "history.top_artists", "args": [1, 2]}, 422, "invalid_arguments", "args"),
        ({"tool": "history.top_artists", "args": {"user_id": "not-a-uuid"}}, 422, "invalid_arguments", "user_id"),
        (
            {"tool": "history.top_artists", "args": {"user_id": "00000000-0000-0000-0000-000000000001"}},
            404,
            "unknown_user",
            None,
        ),
        ({"tool": "spotify.get_top", "args": {"entity": "albums"}}, 422, "invalid_arguments", "entity"),
        ({"tool": "spotify.search", "args": {"q": ""}}, 422, "invalid_arguments", "q"),
    ],
)
def test_bad_arguments_get_typed_4xx(
    base: str, body: dict[str, Any], status: int, code: str, field: str | None
) -> None:
    response = httpx.post(f"{base}/mcp/call", json=body, headers=ADMIN)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    if field is not None:
        assert field in [item["field"] for item in error["details"]["fields"]]
        assert field in error["message"]


def test_malformed_bodies_and_missing_credentials(base: str) -> None:
    broken = httpx.post(f"{base}/mcp/call", content=b"{", headers={**ADMIN, "content-type": "application/json"})
    assert broken.status_code == 422 and broken.json()["error"]["code"] == "invalid_arguments"
    listed = httpx.post(f"{base}/mcp/call", json=[1], headers=ADMIN)
    assert listed.status_code == 422
    anonymous = httpx.post(f"{base}/mcp/call", json={"tool": "history.coverage"})
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
    wrong = httpx.post(
        f"{base}/mcp/call", json={"tool": "history.coverage"}, headers={"Authorization": "Bearer smcp_x"}
    )
    assert wrong.status_code == 401


def test_no_data_yet_and_several_users(base: str, database_url: str) -> None:
    empty = add_user(database_url, "UTC", "newcomer")
    response = call(base, "history.taste_summary", {"user_id": str(empty)})
    assert response.status_code == 404 and response.json()["error"]["code"] == "no_data"
    # two users now: the admin must say which
    ambiguous = call(base, "history.taste_summary")
    assert ambiguous.status_code == 422 and ambiguous.json()["error"]["details"]["fields"][0]["field"] == "user_id"
    assert call(base, "ops.sync_status", {"user_id": str(empty)}).json()["result"]["spotify_connected"] is False
    spotify = call(base, "spotify.get_top", {"user_id": str(empty), "entity": "artists"})
    assert spotify.status_code == 409 and spotify.json()["error"]["code"] == "spotify_not_connected"


def test_no_warehouse_yet_is_no_data(settings: Settings, database_url: str) -> None:
    user = add_user(database_url, "UTC")
    with live_server(create_app(settings, database_url)) as url:
        response = call(url, "history.top_artists", {"user_id": str(user)})
        assert response.status_code == 404
        assert response.json()["error"]["details"]["reason"] == "warehouse_not_built"
        listed = httpx.get(f"{url}/mcp/tools")
        assert listed.status_code == 200
        assert {tool["name"] for tool in listed.json()["tools"]} >= {"history.taste_summary", "ops.sync_status"}


def test_standard_answers_are_precomputed_and_reused(settings: Settings, database_url: str, history: History) -> None:
    app = create_app(settings, database_url)
    with live_server(app) as url:
        deadline = time.monotonic() + 30
        while len(app.state.tool_cache) < len(STANDARD_CALLS) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(app.state.tool_cache) == len(STANDARD_CALLS)  # one user with data: each standard call once
        token = httpx.post(f"{url}/admin/users/{history.user_id}/api-tokens", json={}, headers=ADMIN).json()["token"]
        mine = httpx.post(
            f"{url}/mcp/call",
            json={"tool": "history.taste_summary", "args": {"days": 90}},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert mine.status_code == 200
        assert len(app.state.tool_cache) == len(STANDARD_CALLS)  # answered from the precomputed entry
        other = call(url, "history.taste_summary", {"days": 91})
        assert other.status_code == 200 and len(app.state.tool_cache) == len(STANDARD_CALLS) + 1
