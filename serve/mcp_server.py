"""The real MCP server: the official `mcp` SDK's low-level server over Streamable HTTP at `/mcp`.

Tools come from the one registry, published with underscore names (`history_taste_summary`), flat
`inputSchema`s from the argument models, `outputSchema`s from the result models, titles and annotations.
`tools/call` answers `structuredContent` plus the same JSON as text; a failed call is an `isError` result whose
text is the typed error (`{"error": {"code", "message", "details"}}`), which the model can read and act on.

Transport: stateless, JSON responses (no server-side sessions, so any API replica can answer any request);
the SDK serves both the 2025-11-25 handshake protocol and the 2026-07-28 per-request protocol. Host and
Origin headers are validated against the deployment URL (`PUBLIC_BASE_URL`) and loopback. Every HTTP request
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

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from core.db import SessionFactory, unit_of_work
from core.settings import Settings
from serve.api.errors import error_body
from serve.api_tokens import authenticate_request
from serve.tools.errors import ToolError, Unauthenticated
from serve.tools.registry import Principal, Registry, ResultCache, ToolContext, dump_json
from serve.tools.warmer import run_warmer

logger = logging.getLogger(__name__)

PRINCIPAL_KEY = "spotify_mcp_principal"

INSTRUCTIONS = (
    "spotify-mcp answers questions about the user's own Spotify listening history. Start with "
    "history_taste_summary for an overview ('analyze my last 90 days'); history_top_artists and "
    "history_top_tracks for rankings; history_compare_periods for 'this month vs last month'; "
    "history_taste_clusters for 'what does my taste cluster into'. Windows: days, start/end, or period "
    "(this_month, last_month, all_time) in the user's time zone. If coverage.complete is false, say the "
    "figures are partial.\n\n"
    "Details: counts are plays (listens of at least 30 s; music only). Every history answer carries its window, "
    "freshness (when the warehouse was last rebuilt) and coverage (days with data, gaps). ops_sync_status tells "
    "why data may be stale. spotify_get_top and spotify_search call Spotify live and need a connected account. "
    "With a user API token, leave user_id out."
)


def _mcp_tool(tool: Any) -> types.Tool:
    return types.Tool(
        name=tool.mcp_name,
        title=tool.title,
        description=tool.description,
        input_schema=tool.input_schema(),
        output_schema=tool.output_schema(),
        annotations=types.ToolAnnotations(
            title=tool.title,
            read_only_hint=tool.read_only,
            destructive_hint=tool.destructive,
            idempotent_hint=tool.idempotent,
            open_world_hint=tool.open_world,
        ),
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
    tools = [_mcp_tool(tool) for tool in registry.all()]
    input_schemas = {tool.name: tool.input_schema for tool in tools}
    cache = ResultCache()

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        del ctx, params
        return types.ListToolsResult(tools=tools)

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
    )
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
        try:
            async with unit_of_work(self.sessions) as session:
                principal = await authenticate_request(Request(scope), session, self.settings)
        except Unauthenticated as error:
            response = JSONResponse(error_body(error.code, error.message), 401, headers=error.headers)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[PRINCIPAL_KEY] = principal
        await self.app(scope, receive, send)
