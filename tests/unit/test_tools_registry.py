"""The registry and windows without a database: names, schemas, descriptions, argument shapes, periods."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel

from serve.api.routes.mcp import _split_call
from serve.tools.catalog import REGISTRY
from serve.tools.errors import InvalidArguments, UnknownTool
from serve.tools.registry import ResultCache, coerce_arguments
from serve.tools.schemas import WINDOW_ARGUMENTS
from serve.tools.windows import Period, preceding_range, resolve_window

NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
SPEC_TOOLS = {
    "history.taste_summary",
    "history.top_artists",
    "history.top_tracks",
    "history.listening_heatmap",
    "history.repeat_rate",
    "history.coverage",
    "history.compare_periods",
    "history.taste_clusters",
    "spotify.get_top",
    "spotify.search",
    "ops.sync_status",
    "ops.latest_job_runs",
    "ops.latest_import_jobs",
}
# Issue 18: the questions people ask about their own story.
STORY_TOOLS = {
    "history.plays",
    "history.artist_history",
    "history.track_history",
    "history.recap",
    "history.discoveries",
    "history.on_this_day",
    "history.streaks",
    "history.sessions",
}
# Tools that write to the user's Spotify account (issue 19): never destructive, idempotent through their key.
WRITE_TOOLS = {"spotify.create_playlist", "spotify.add_to_playlist"}
PLAYLIST_TOOLS = {*WRITE_TOOLS, "spotify.list_playlists"}
TODAY = date(2026, 11, 24)  # a Tuesday
BERLIN = ZoneInfo("Europe/Berlin")


def test_every_tool_of_the_spec_once_with_valid_names_and_descriptions() -> None:
    tools = REGISTRY.all()
    assert {tool.name for tool in tools} >= SPEC_TOOLS | STORY_TOOLS | PLAYLIST_TOOLS
    for tool in tools:
        assert NAME.match(tool.mcp_name) and "." not in tool.mcp_name
        assert tool.description.strip() and len(tool.description) < 300
        assert tool.title.strip()
        assert tool.read_only is (tool.name not in WRITE_TOOLS) and not tool.destructive
        assert tool.idempotent or tool.read_only
        assert REGISTRY.get(tool.mcp_name) is tool


def test_schemas_are_flat_objects_with_the_spec_argument_names() -> None:
    for tool in REGISTRY.all():
        schema = tool.input_schema("admin")
        assert schema["type"] == "object" and "$ref" not in json.dumps(schema) and "$defs" not in schema
        assert schema["additionalProperties"] is False
        assert "user_id" in schema["properties"]
        assert "user_id" not in tool.input_schema("user")["properties"]
        for name, field in schema["properties"].items():
            # Window arguments are explained once, by the tool's description and the server instructions.
            assert field.get("description") or name in WINDOW_ARGUMENTS, (tool.name, name)
        output = tool.output_schema()
        assert output["type"] == "object"
    summary = REGISTRY.get("history.taste_summary").output_schema()["properties"]
    for field in (
        "window_start", "window_end", "plays", "unique_tracks", "unique_artists", "top_artists", "top_tracks",
        "repeat_stats", "heatmap", "audio_profile", "clusters", "coverage", "freshness", "window",
    ):  # fmt: skip
        assert field in summary
    assert set(REGISTRY.get("spotify.search").input_schema("user")["properties"]) == {"q", "type", "limit"}
    top = REGISTRY.get("spotify.get_top").input_schema("user")
    assert top["properties"]["entity"]["enum"] == ["artists", "tracks"] and "entity" in top["required"]
    assert {"days", "limit", "start", "end", "period"} <= set(
        REGISTRY.get("history.top_artists").input_schema("user")["properties"]
    )


def test_unknown_tool_lists_the_available_ones() -> None:
    with pytest.raises(UnknownTool) as raised:
        REGISTRY.get("history.top_albums")
    assert "history.top_artists" in raised.value.details["available"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, {}), ("", {}), ('{"days": 7}', {"days": 7}), ({"days": 7}, {"days": 7})],
)
def test_arguments_as_object_or_json_string(raw: Any, expected: dict[str, Any]) -> None:
    assert coerce_arguments(raw) == expected


@pytest.mark.parametrize("raw", ["[1]", "{oops", 5, ["days"]])
def test_arguments_that_are_not_an_object_name_the_args_field(raw: Any) -> None:
    with pytest.raises(InvalidArguments) as raised:
        coerce_arguments(raw)
    assert raised.value.details["fields"][0]["field"] == "args"


def test_call_shapes() -> None:
    assert _split_call({"tool": "history.coverage", "args": {"days": 3}}) == ("history.coverage", {"days": 3})
    assert _split_call({"tool": "history.coverage", "days": 3}) == ("history.coverage", {"days": 3})
    assert _split_call({"tool": "history.coverage", "arguments": '{"days": 3}'}) == ("history.coverage", '{"days": 3}')
    assert _split_call({"name": "history.coverage", "days": 2, "args": {"days": 3}}) == (
        "history.coverage",
        {"days": 3},
    )
    with pytest.raises(InvalidArguments):
        _split_call({"args": {}})
    with pytest.raises(InvalidArguments):
        _split_call(["history.coverage"])


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        (Period.today, date(2026, 11, 24), date(2026, 11, 24)),
        (Period.yesterday, date(2026, 11, 23), date(2026, 11, 23)),
        (Period.this_week, date(2026, 11, 23), date(2026, 11, 24)),
        (Period.last_week, date(2026, 11, 16), date(2026, 11, 22)),
        (Period.last_7_days, date(2026, 11, 18), date(2026, 11, 24)),
        (Period.last_90_days, date(2026, 8, 27), date(2026, 11, 24)),
        (Period.this_month, date(2026, 11, 1), date(2026, 11, 24)),
        (Period.last_month, date(2026, 10, 1), date(2026, 10, 31)),
        (Period.this_year, date(2026, 1, 1), date(2026, 11, 24)),
        (Period.last_year, date(2025, 1, 1), date(2025, 12, 31)),
        (Period.all_time, date(2019, 3, 5), date(2026, 11, 24)),
    ],
)
def test_named_periods(period: Period, start: date, end: date) -> None:
    window = resolve_window(
        days=None, start=None, end=None, period=period, zone=BERLIN, today=TODAY, first_date=date(2019, 3, 5)
    )
    assert (window.start_date, window.end_date) == (start, end)
    assert window.days == (end - start).days + 1
    assert window.timezone == "Europe/Berlin" and window.start.utcoffset() is not None
    assert window.ongoing == (end == TODAY)


def test_days_and_dates() -> None:
    default = resolve_window(days=None, start=None, end=None, period=None, zone=BERLIN, today=TODAY, first_date=None)
    assert default.days == 90 and default.end_date == TODAY and default.label == "last_90_days"
    explicit = resolve_window(
        days=None, start=date(2026, 1, 1), end=None, period=None, zone=BERLIN, today=TODAY, first_date=None
    )
    assert explicit.end_date == TODAY and explicit.start_date == date(2026, 1, 1)
    counted = resolve_window(
        days=10, start=date(2026, 1, 1), end=None, period=None, zone=BERLIN, today=TODAY, first_date=None
    )
    assert counted.end_date == date(2026, 1, 10)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"period": Period.this_month, "days": 3}, "days"),
        ({"period": Period.this_month, "start": date(2026, 1, 1)}, "start"),
        ({"start": date(2026, 2, 1), "end": date(2026, 1, 1)}, "end"),
        ({"start": date(2026, 1, 1), "end": date(2026, 1, 5), "days": 5}, "days"),
        ({"start": date(1900, 1, 1), "end": date(2026, 1, 5)}, "start"),
    ],
)
def test_conflicting_window_arguments_name_the_field(kwargs: dict[str, Any], field: str) -> None:
    arguments: dict[str, Any] = {"days": None, "start": None, "end": None, "period": None} | kwargs
    with pytest.raises(InvalidArguments) as raised:
        resolve_window(**arguments, zone=BERLIN, today=TODAY, first_date=None)
    assert raised.value.details["fields"][0]["field"] == field


def test_default_comparison_windows() -> None:
    assert preceding_range(Period.this_month, date(2026, 11, 1), TODAY)[:2] == (date(2026, 10, 1), date(2026, 10, 24))
    assert preceding_range(Period.this_month, date(2026, 3, 1), date(2026, 3, 31))[:2] == (
        date(2026, 2, 1),
        date(2026, 2, 28),
    )
    assert preceding_range(Period.last_month, date(2026, 10, 1), date(2026, 10, 31))[:2] == (
        date(2026, 9, 1),
        date(2026, 9, 30),
    )
    assert preceding_range(None, date(2026, 11, 1), date(2026, 11, 10))[:2] == (date(2026, 10, 22), date(2026, 10, 31))
    assert preceding_range(Period.this_year, date(2024, 1, 1), date(2024, 2, 29))[:2] == (
        date(2023, 1, 1),
        date(2023, 2, 28),
    )


def test_result_cache_is_bounded_and_expires() -> None:
    class Answer(BaseModel):
        value: int

    cache = ResultCache(size=2, ttl_seconds=60)
    values = [Answer(value=index) for index in range(3)]
    for index, value in enumerate(values):
        cache.put((index,), value)
    assert cache.get((0,)) is None and cache.get((2,)) is values[2]
    expired = ResultCache(size=2, ttl_seconds=-1)
    expired.put(("k",), values[0])
    assert expired.get(("k",)) is None
