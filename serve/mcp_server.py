"""The real MCP server: the official `mcp` SDK's low-level server over Streamable HTTP at `/mcp`.

Tools come from the one registry, published with underscore names (`history_taste_summary`), flat
`inputSchema`s from the argument models, lean `outputSchema`s from the result models (serve/tools/schemas.py),
titles and annotations. Only the admin token sees the `user_id` argument: a user token or an OAuth session reads
its own user's data. `tools/call` answers `structuredContent` plus the same JSON as text; a failed call is an
`isError` result whose text is the typed error (`{"error": {"code", "message", "details"}}`), which the model can
read and act on.

MCP Apps (`io.modelcontextprotocol/ui`): tools that have a chart name it in `_meta.ui.resourceUri`, and the apps
are served as `ui://` resources (serve/mcp_apps). The server `instructions` explain windows, time zones,
freshness and coverage once, and which tool answers which question.

Transport: stateless, JSON responses (no server-side sessions, so any API replica can answer any request);
the SDK serves both the 2025-11-25 handshake protocol and the 2026-07-28 per-request protocol. Host and
Origin headers are validated against the deployment URL (`PUBLIC_BASE_URL`) and loopback. A GET event stream
carries nothing here and is ended after `MCP_STREAM_MAX_SECONDS`. Every HTTP request
must carry a user API token or the admin token; the same access rules as `/mcp/call` apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.db import SessionFactory, unit_of_work
from core.settings import Settings
from serve import mcp_apps
from serve.api.errors import error_body
from serve.api_tokens import authenticate_request
from serve.tools.errors import ToolError, Unauthenticated
from serve.tools.registry import Principal, Registry, ResultCache, Tool, ToolContext, dump_json
from serve.tools.schemas import AUDIENCES, Audience
from serve.tools.warmer import run_warmer

logger = logging.getLogger(__name__)

PRINCIPAL_KEY = "spotify_mcp_principal"

INSTRUCTIONS = (
    "spotify-mcp answers questions about the user's own Spotify listening history. Pick the tool by question: "
    "overview ('analyze my last 90 days') history_taste_summary; rankings history_top_artists, "
    "history_top_tracks; when they listen history_listening_heatmap; how much they replay history_repeat_rate; "
    "'this month vs last month' history_compare_periods; taste groups history_taste_clusters; how complete the "
    "data is history_coverage. If coverage.complete is false, say the figures are partial.\n\n"
    "The story: the plays themselves ('what did I play on my birthday?', 'this morning') history_plays; one "
    "artist or track ('when did I first hear X?') history_artist_history, history_track_history; a Wrapped for a "
    "year, month or range history_recap; what was new history_discoveries; earlier years on this date "
    "history_on_this_day; runs of days history_streaks; listening sessions history_sessions. Artists and tracks "
    "are given by name (or Spotify id).\n\n"
    "Windows: give one of days (the last N days including today; default 90), start/end (YYYY-MM-DD, both days "
    "included) or period (today, yesterday, this_week, last_week, last_7_days, last_30_days, last_90_days, "
    "last_365_days, this_month, last_month, this_year, last_year, all_time). Days, weekdays and hours are in the "
    "user's time zone (window.timezone); window.ongoing means the window includes today and is not over.\n\n"
    "Every history answer has the same envelope. window: the resolved dates. freshness: last_transform_at is when "
    "the warehouse was last rebuilt (it is rebuilt after each poll or import that brings new plays), "
    "latest_play_at the newest listen in it, and a note; listens after the last rebuild are not counted yet, and "
    "ops_sync_status says why data may be stale. coverage: days_with_data of the days elapsed (coverage_ratio), "
    "the sources (spotify_api polling, import_zip exports), the largest gaps, complete and a note saying why not. "
    "Spotify's API shows only the last 50 plays, so older history exists only where the user imported their "
    "export: a window before the history starts, or with long gaps, is incomplete; say so instead of presenting "
    "a low number as real. counting: counts are plays (listens of at least 30 s, or of unknown length from the "
    "API), music only, without podcasts and incognito listens; listening minutes sum every listen. Every field "
    "of an answer is present; null means unknown.\n\n"
    "Artists and tracks carry spotify_url (open.spotify.com) when Spotify knows them: offer the links so the "
    "person can play what they read. spotify_get_top and spotify_search ask Spotify live and need a connected "
    "account. spotify_create_playlist turns an answer into a playlist in the person's own account (track ids or a "
    "history source); resend the same idempotency_key on retry or after status=partial. A user token or sign-in "
    "always reads the signed-in person's own data; only the admin token has user_id to choose a user."
)


def _mcp_tool(tool: Tool, audience: Audience) -> types.Tool:
    return types.Tool(
        name=tool.mcp_name,
        title=tool.title,
        description=tool.description,
        input_schema=tool.input_schema(audience),
        output_schema=tool.output_schema(),
        annotations=types.ToolAnnotations(
            read_only_hint=tool.read_only,
            destructive_hint=tool.destructive,
            # Meaningful only when readOnlyHint is false (MCP spec): not repeated on the read-only tools.
            idempotent_hint=None if tool.read_only else tool.idempotent,
            open_world_hint=tool.open_world,
        ),
        meta={"ui": {"resourceUri": tool.app}} if tool.app else None,
    )


def audience_of(principal: Principal | None) -> Audience:
    return "admin" if principal is not None and principal.kind == "admin" else "user"


def _app_resource(app: mcp_apps.App) -> types.Resource:
    return types.Resource(
        uri=app.uri,
        name=app.slug,
        title=app.title,
        description=app.description,
        mime_type=mcp_apps.MIME_TYPE,
        meta=app.meta,
    )


def _error_result(code: str, message: str, details: dict[str, Any] | None = None) -> types.CallToolResult:
    body = error_body(code, message, details)
    return types.CallToolResult(content=[types.TextContent(text=json.dumps(body))], is_error=True)


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Allowed Host/Origin values: the deployment URL plus loopback (for local clients and the Inspector)."""
    public = urlsplit(settings.effective_public_base_url)
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost"]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    if public.hostname:
        netloc = public.netloc.rpartition("@")[2]
        hosts += [netloc, public.hostname] if public.port is None else [netloc]
        origins.append(f"{public.scheme}://{netloc}")
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=sorted(set(hosts)),
        allowed_origins=sorted(set(origins)),
    )


@dataclass(frozen=True, slots=True)
class McpFace:
    server: Server[Any]
    session_manager: StreamableHTTPSessionManager
    asgi: ASGIApp
    cache: ResultCache
    warmer: Callable[[], Coroutine[Any, Any, None]]

    @asynccontextmanager
    async def run(self, *, warm_cache: bool = True) -> AsyncIterator[None]:
        """For the app's lifespan: the SDK's session manager, and the cache warmer (see serve.tools.warmer)."""
        async with self.session_manager.run():
            warmer = asyncio.create_task(self.warmer()) if warm_cache else None
            try:
                yield
            finally:
                if warmer is not None:
                    warmer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await warmer

    @property
    def route(self) -> Route:
        """`/mcp` exactly (a mount would redirect `/mcp` to `/mcp/`)."""
        return Route("/mcp", endpoint=self.asgi, methods=["GET", "POST", "DELETE"], include_in_schema=False)


def build_mcp(registry: Registry, sessions: SessionFactory, settings: Settings) -> McpFace:
    """The MCP face, with the process's result cache (shared with `/mcp/call` through `app.state.tool_cache`)."""
    listings: dict[Audience, list[types.Tool]] = {
        audience: [_mcp_tool(tool, audience) for tool in registry.all()] for audience in AUDIENCES
    }
    input_schemas = {tool.name: tool.input_schema for tool in listings["admin"]}
    resources = [_app_resource(app) for app in mcp_apps.APPS]
    cache = ResultCache()

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        del params
        return types.ListToolsResult(tools=listings[audience_of(_principal_of(ctx))])

    async def list_resources(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        del ctx, params
        return types.ListResourcesResult(resources=resources)

    async def list_resource_templates(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        del ctx, params
        return types.ListResourceTemplatesResult(resource_templates=[])

    async def read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        del ctx
        uri = str(params.uri)
        app = mcp_apps.find(uri)
        if app is None:
            known = ", ".join(item.uri for item in mcp_apps.APPS)
            raise MCPError(types.INVALID_PARAMS, f"no resource {uri!r}; this server has: {known}", {"uri": uri})
        content = types.TextResourceContents(uri=app.uri, mime_type=mcp_apps.MIME_TYPE, text=app.html(), meta=app.meta)
        return types.ReadResourceResult(contents=[content])

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        principal = _principal_of(ctx)
        if principal is None:
            return _error_result("unauthorized", "no credentials on this request")
        try:
            async with unit_of_work(sessions) as session:
                result = await registry.call(
                    params.name, params.arguments or {}, ToolContext(session, principal, settings, cache=cache)
                )
        except ToolError as error:
            return _error_result(error.code, error.message, error.details)
        except Exception:  # never end the session on a bug; the model gets a readable error
            logger.exception("tool %s failed", params.name)
            return _error_result("internal_error", "the tool failed unexpectedly; the server log has the details")
        text = dump_json(result)
        return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=json.loads(text))

    server: Server[Any] = Server(
        "spotify-mcp",
        version="0.1.0",
        title="Spotify listening history",
        instructions=INSTRUCTIONS,
        # 2026-07-28 `Mcp-Param-*` header checks look schemas up here instead of re-running tools/list.
        get_tool_input_schema=input_schemas.get,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_resource_templates,
        on_read_resource=read_resource,
    )
    server.extensions[mcp_apps.EXTENSION_ID] = {}
    manager = StreamableHTTPSessionManager(
        app=server,
        json_response=True,
        stateless=True,
        security_settings=transport_security(settings),
    )

    def warmer() -> Coroutine[Any, Any, None]:
        return run_warmer(registry, sessions, settings, cache)

    return McpFace(server, manager, McpAuth(StreamableHTTPASGIApp(manager), sessions, settings), cache, warmer)


def _principal_of(ctx: ServerRequestContext[Any]) -> Principal | None:
    request = ctx.request
    if isinstance(request, Request):
        principal = request.scope.get("state", {}).get(PRINCIPAL_KEY)
        if isinstance(principal, Principal):
            return principal
    return None


class McpAuth:
    """Authenticates every HTTP request to `/mcp` (401 with `WWW-Authenticate` otherwise) and hands the
    principal to the tool handlers through the request scope."""

    def __init__(self, app: ASGIApp, sessions: SessionFactory, settings: Settings) -> None:
        self.app = app
        self.sessions = sessions
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # RFC 9110 §5.5: a field value excludes surrounding whitespace. Some HTTP servers pass it on, and the SDK
        # compares `Mcp-Name`/`Mcp-Method` with the body as they are.
        scope = {**scope, "headers": [(name, value.strip(b" \t")) for name, value in scope["headers"]]}
        try:
            async with unit_of_work(self.sessions) as session:
                principal = await authenticate_request(Request(scope), session, self.settings)
        except Unauthenticated as error:
            response = JSONResponse(error_body(error.code, error.message), 401, headers=error.headers)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[PRINCIPAL_KEY] = principal
        if scope["method"] == "GET":
            await self._bounded_stream(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _bounded_stream(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A GET opens an event stream that nothing ends (stateless: no server-initiated messages ever come):
        end it after MCP_STREAM_MAX_SECONDS, as a complete response, so a client may simply open another, and
        idle streams cannot pile up connections and tasks. The SDK tears its transport down when cancelled."""
        started = ended = False

        async def watch(message: Message) -> None:
            nonlocal started, ended
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                ended = True
            await send(message)

        with anyio.move_on_after(self.settings.mcp_stream_max_seconds):
            await self.app(scope, receive, watch)
        if started and not ended:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
