"""The schemas the tool faces publish (serve/tools/schemas.py): lean, valid, flat arguments, `user_id` for the
admin only, shared definitions only where they are shared, the answer envelope in brief."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from serve.mcp_server import INSTRUCTIONS
from serve.tools.catalog import REGISTRY
from serve.tools.errors import InvalidArguments
from serve.tools.models import ArtistCount, SpotifyAlbum, TrackCount
from serve.tools.registry import Tool
from serve.tools.schemas import AUDIENCES, Audience
from serve.tools.windows import Period

TOOLS = REGISTRY.all()


def _walk(node: Any) -> list[dict[str, Any]]:
    """Every schema object below `node`, itself included."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for key, value in node.items():
            if key in ("properties", "$defs"):
                for child in value.values():
                    found += _walk(child)
            elif key not in ("enum", "required"):
                found += _walk(value)
    elif isinstance(node, list):
        for item in node:
            found += _walk(item)
    return found


@pytest.mark.parametrize("tool", TOOLS, ids=lambda tool: tool.name)
@pytest.mark.parametrize("audience", AUDIENCES)
def test_arguments_are_flat_valid_and_offer_user_id_to_the_admin_only(tool: Tool, audience: Audience) -> None:
    schema = tool.input_schema(audience)
    Draft202012Validator.check_schema(schema)
    text = json.dumps(schema)
    assert "$ref" not in text and "$defs" not in text and "anyOf" not in text
    assert ("user_id" in schema["properties"]) is (audience == "admin")
    for node in _walk(schema):
        assert not isinstance(node.get("title"), str), node  # Pydantic's generated titles are dropped
        assert "default" not in node or node["default"] is not None, node
    period = schema["properties"].get("period")
    if period is not None and "enum" not in period:  # the named windows: listed once, in the instructions
        assert period == {"type": "string"}
        assert all(name.value in INSTRUCTIONS for name in Period), "the instructions must list every period"
        with pytest.raises(InvalidArguments, match="all_time"):  # a wrong name is refused with the valid ones
            tool.parse_args({"period": "past_year"})


@pytest.mark.parametrize("tool", TOOLS, ids=lambda tool: tool.name)
def test_results_are_valid_lean_and_share_only_what_is_shared(tool: Tool) -> None:
    schema = tool.output_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"
    text = json.dumps(schema)
    for name in schema.get("$defs", {}):
        assert text.count(f'"#/$defs/{name}"') >= 2, name  # a definition used once is written in place
    for node in _walk(schema):
        assert "required" not in node and "default" not in node and not isinstance(node.get("title"), str), node


def test_results_are_shapes_and_the_envelope_is_documented_once() -> None:
    """Result schemas name fields and their types; words live in the tool descriptions and the instructions (the
    envelope is a bare object there), which is what keeps 20-odd tools within the tools/list budget."""
    properties = REGISTRY.get("history.top_artists").output_schema()["properties"]
    assert properties["coverage"] == properties["window"] == properties["freshness"] == {"type": "object"}
    assert properties["plays"] == {"type": "integer"}
    artist = properties["artists"]["items"]["properties"]
    assert artist["plays"] == {"type": "integer"} and artist["name"] == {} and artist["spotify_url"] == {}
    for tool in TOOLS:
        text = json.dumps(tool.output_schema())
        assert '"description"' not in text and '"readOnly"' not in text, tool.name
    comparison = REGISTRY.get("history.compare_periods").output_schema()
    assert comparison["properties"]["period"] == {"$ref": "#/$defs/PeriodStats"}  # used twice: shared
    assert comparison["properties"]["compare_to"] == {"$ref": "#/$defs/PeriodStats"}


def test_window_arguments_carry_no_words_but_keep_their_values() -> None:
    schema = REGISTRY.get("history.top_artists").input_schema("user")["properties"]
    assert "description" not in schema["days"] and "description" not in schema["period"]
    assert schema["days"]["maximum"] == 36_600 and schema["period"] == {"type": "string"}
    assert "description" in schema["limit"]
    openapi = REGISTRY.get("history.top_artists").args_model.model_json_schema()  # OpenAPI keeps the enum
    assert "this_month" in json.dumps(openapi)


def test_answers_link_to_spotify_where_spotify_knows_the_item() -> None:
    artist = ArtistCount(
        rank=1, artist_id="0gxyHStUsqpMadRV0Di1Qt", name="Rick Astley", plays=3, listening_minutes=9.5,
        share_of_plays=0.5,
    )  # fmt: skip
    assert artist.model_dump()["spotify_url"] == "https://open.spotify.com/artist/0gxyHStUsqpMadRV0Di1Qt"
    local = TrackCount(
        rank=1, track_id="local:3f786850e387550fdab836ed7e6dc881de23001b", name="Demo", artist_id="local:ab",
        artist_name="Me", plays=1, listening_minutes=3.0, share_of_plays=1.0,
    )  # fmt: skip
    assert local.model_dump()["spotify_url"] is None and local.model_dump()["artist_spotify_url"] is None
    album = SpotifyAlbum(id="6N9PS4QXF1D0OWPk0Sxtb4", name="Whenever You Need Somebody", artists=["Rick Astley"])
    assert json.loads(album.model_dump_json())["spotify_url"] == "https://open.spotify.com/album/6N9PS4QXF1D0OWPk0Sxtb4"
