"""Typed tool errors. Each carries its HTTP status and a stable `code` an assistant can branch on; the
same error renders as a 4xx JSON body on `/mcp/call` and as an `isError` result on MCP `tools/call`."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from serve.api.errors import AppError


class ToolError(AppError):
    """Base of every error a tool call can answer with (never a 500)."""


class UnknownTool(ToolError):
    status_code = 404
    code = "unknown_tool"


class InvalidArguments(ToolError):
    status_code = 422
    code = "invalid_arguments"

    @classmethod
    def field(cls, name: str, problem: str) -> InvalidArguments:
        return cls(f"invalid value for `{name}`: {problem}", details={"fields": [{"field": name, "problem": problem}]})

    @classmethod
    def from_validation(cls, error: ValidationError) -> InvalidArguments:
        fields: list[dict[str, Any]] = []
        for item in error.errors(include_url=False):
            name = ".".join(str(part) for part in item["loc"]) or "args"
            problem = item["msg"]
            if item["type"] == "extra_forbidden":
                problem = "unknown argument"
            fields.append({"field": name, "problem": problem})
        # The problem itself goes in the message (an assistant may see only the message): e.g. the valid names.
        problems = "; ".join(f"`{item['field']}`: {item['problem']}" for item in fields)
        return cls(f"invalid value for {problems}", details={"fields": fields})


class Unauthenticated(ToolError):
    status_code = 401
    code = "unauthorized"


class AccessDenied(ToolError):
    status_code = 403
    code = "forbidden"


class UnknownUser(ToolError):
    status_code = 404
    code = "unknown_user"


class NoData(ToolError):
    status_code = 404
    code = "no_data"


class SpotifyNotConnected(ToolError):
    status_code = 409
    code = "spotify_not_connected"


class WarehouseBuilding(ToolError):
    """A mart the tool reads does not exist yet: the first warehouse build (or a full refresh) is under way."""

    status_code = 503
    code = "warehouse_building"


class SpotifyUnavailable(ToolError):
    status_code = 503
    code = "spotify_unavailable"
