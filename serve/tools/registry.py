"""The one tool registry. Each tool is defined once (name, title, description for an LLM, Pydantic argument and
result models, handler, hints); `/mcp/tools`, `/mcp/call`, the MCP server and the OpenAPI for GPT Actions are
all generated from it.

Dotted names (`history.taste_summary`) are canonical, as the spec writes them; MCP publishes the same tool
with underscores (`history_taste_summary`), because Claude and other clients reject dots. Both spellings are
accepted everywhere.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal
from uuid import UUID

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from core.settings import Settings
from serve.api.request_input import InputError, parse_json
from serve.tools import repository, schemas
from serve.tools.errors import AccessDenied, InvalidArguments, UnknownTool, UnknownUser, WarehouseBuilding
from serve.tools.models import ToolArgs
from serve.tools.schemas import Audience
from serve.tools.windows import user_zone

TOOL_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the admin (any user) or the owner of a per-user API token (that user only)."""

    kind: Literal["admin", "user"]
    user_id: UUID | None = None
    token_id: UUID | None = None

    @classmethod
    def admin(cls) -> Principal:
        return cls("admin")


class ResultCache:
    """Answers of read-only history tools, per process. A key holds everything an answer depends on: the tool,
    the user, the arguments, the user's time zone and local date, and the last successful transform; the marts
    change only when the transform runs, so a new transform (or a new day) makes new keys."""

    def __init__(self, size: int = 512, ttl_seconds: float = 3900.0) -> None:
        self._entries: OrderedDict[tuple[object, ...], tuple[float, BaseModel]] = OrderedDict()
        self._size = size
        self._ttl = ttl_seconds

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[object, ...]) -> BaseModel | None:
        found = self._entries.get(key)
        if found is None:
            return None
        stored_at, value = found
        if time.monotonic() - stored_at > self._ttl:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: tuple[object, ...], value: BaseModel) -> None:
        self._entries[key] = (time.monotonic(), value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


_DUMPS: OrderedDict[int, tuple[BaseModel, str]] = OrderedDict()
_DUMPS_SIZE = 256


def dump_json(result: BaseModel) -> str:
    """`result.model_dump_json()`, remembered for the answers the result cache hands out again and again (keyed
    by identity; the entry holds the model, so an id is never reused while remembered)."""
    found = _DUMPS.get(id(result))
    if found is not None and found[0] is result:
        return found[1]
    text = result.model_dump_json()
    _DUMPS[id(result)] = (result, text)
    while len(_DUMPS) > _DUMPS_SIZE:
        _DUMPS.popitem(last=False)
    return text


@dataclass(slots=True)
class ToolContext:
    session: AsyncSession
    principal: Principal
    settings: Settings
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    cache: ResultCache | None = None


type Handler = Callable[[ToolContext, Any, UUID], Awaitable[BaseModel]]


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    title: str
    description: str
    args_model: type[ToolArgs]
    result_model: type[BaseModel]
    handler: Handler
    read_only: bool = True
    destructive: bool = False
    idempotent: bool = True
    open_world: bool = False
    # Answers depend only on the marts (rebuilt by the transform) and the calendar: safe to cache.
    cacheable: bool = False
    # The `ui://` resource (MCP App, serve/mcp_apps) that shows this tool's answer in hosts that render apps.
    app: str | None = None

    @property
    def mcp_name(self) -> str:
        return self.name.replace(".", "_")

    @property
    def operation_id(self) -> str:
        return self.mcp_name

    def input_schema(self, audience: Audience) -> dict[str, Any]:
        return schemas.input_schema(self.args_model, audience)

    def output_schema(self) -> dict[str, Any]:
        return schemas.output_schema(self.result_model)

    def parse_args(self, raw: Mapping[str, Any]) -> ToolArgs:
        try:
            return self.args_model.model_validate(dict(raw))
        except ValidationError as error:
            raise InvalidArguments.from_validation(error) from None


def coerce_arguments(raw: Any) -> dict[str, Any]:
    """Arguments as an object; a JSON string holding an object is accepted too (some clients send that)."""
    if raw is None:
        return {}
    if isinstance(raw, str):
        if not raw.strip():
            return {}
        try:
            raw = parse_json(raw, field="args")
        except InputError as error:
            raise InvalidArguments.field(error.field, error.problem) from None
    if not isinstance(raw, dict):
        raise InvalidArguments.field("args", "must be a JSON object of argument names to values")
    return raw


class Registry:
    def __init__(self, tools: list[Tool]) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            if not TOOL_NAME_PATTERN.match(tool.mcp_name) or not tool.description.strip():
                raise ValueError(f"tool {tool.name!r} needs a valid name and a description")
            self._tools[tool.name] = tool
            self._tools[tool.mcp_name] = tool

    def all(self) -> list[Tool]:
        unique = {tool.name: tool for tool in self._tools.values()}
        return list(unique.values())

    def get(self, name: str) -> Tool:
        tool = self._tools.get(name)
        if tool is None:
            available = sorted(tool.name for tool in self.all())
            raise UnknownTool(
                f"unknown tool {name!r}; available: {', '.join(available)}",
                details={"tool": name, "available": available},
            )
        return tool

    async def call(self, name: str, raw_args: Any, context: ToolContext) -> BaseModel:
        try:
            return await self._call(name, raw_args, context)
        except DBAPIError as error:
            if _sqlstate(error) not in _MART_MISSING:
                raise
            # The first build creates the marts one by one (and a new version may add one): a tool reading a mart
            # not there yet says so and when to retry, instead of a 500.
            raise WarehouseBuilding(
                "the warehouse is being built (a table this answer needs is not there yet); try again in a minute",
                details={"reason": "warehouse_building"},
                headers={"Retry-After": "30"},
            ) from None

    async def _call(self, name: str, raw_args: Any, context: ToolContext) -> BaseModel:
        tool = self.get(name)
        args = tool.parse_args(coerce_arguments(raw_args))
        # Cacheable (history) tools look the user up in their own first query: no separate existence check.
        user_id = await resolve_user(context, args.user_id, check_exists=not tool.cacheable)
        if not tool.cacheable or context.cache is None:
            return await tool.handler(context, args, user_id)
        key = await _cache_key(context, tool, args, user_id)
        cached = context.cache.get(key) if key is not None else None
        if cached is not None:
            return cached
        result = await tool.handler(context, args, user_id)
        if key is not None:
            context.cache.put(key, result)
        return result


# undefined_table, undefined_column (a mart of an older shape, before the build that adds the column).
_MART_MISSING: Final = frozenset({"42P01", "42703"})


def _sqlstate(error: DBAPIError) -> str | None:
    """PostgreSQL's SQLSTATE behind a SQLAlchemy error (asyncpg's error is the cause of the adapted one)."""
    for candidate in (error.orig, getattr(error.orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


async def _cache_key(context: ToolContext, tool: Tool, args: ToolArgs, user_id: UUID) -> tuple[object, ...] | None:
    found = await repository.context(context.session, user_id)
    if found.user is None or not found.has_marts:
        return None
    today = context.now.astimezone(user_zone(found.user.timezone)).date()
    arguments = args.model_dump_json(exclude={"user_id"})
    return (tool.name, user_id, arguments, found.user.timezone, today, found.last_transform_at, found.has_clusters)


async def resolve_user(context: ToolContext, requested: UUID | None, *, check_exists: bool = True) -> UUID:
    """The user whose data is read: a user token reads only its own; the admin names one (or the only one)."""
    principal = context.principal
    if principal.kind == "user":
        assert principal.user_id is not None
        if requested is not None and requested != principal.user_id:
            raise AccessDenied(
                "this token reads only its own user's data; leave `user_id` out or use the token of that user",
                details={"fields": [{"field": "user_id", "problem": "belongs to another user"}]},
            )
        return principal.user_id
    if requested is not None:
        if check_exists and not await repository.user_exists(context.session, requested):
            raise UnknownUser(f"no user with id {requested}", details={"user_id": str(requested)})
        return requested
    only = await repository.single_user_id(context.session)
    if only is None:
        raise InvalidArguments.field("user_id", "required with the admin token: the server has several users (or none)")
    return only
