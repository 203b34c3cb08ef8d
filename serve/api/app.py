"""The API application: OAuth with Spotify, MCP tools, admin endpoints.

`create_app()` is the only way to build it; the CLI (`spotify-mcp api`) and tests call it with their
own settings and database URL. Routers are thin: they validate, call a service, shape the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from core.crypto import TokenCipher
from core.db import create_engine, create_session_factory
from core.settings import Settings
from core.spotify.budget import BudgetPolicy, DatabaseBudget
from serve.api.errors import ERROR_RESPONSES, UnexpectedErrorMiddleware, install_error_handlers
from serve.api.middleware import RequestIdMiddleware
from serve.api.request_input import RequestInputMiddleware
from serve.api.routes import admin, auth, health, tokens
from serve.api.routes import collector as collector_routes
from serve.api.routes import imports as import_routes
from serve.api.routes import mcp as mcp_routes
from serve.api.routes import oauth as oauth_routes
from serve.api.routes import oauth_admin as oauth_admin_routes
from serve.client_address import install_proxy_headers
from serve.mcp_server import build_mcp
from serve.throttle import FailureThrottle
from serve.tools.catalog import REGISTRY


async def _stop_transforms(running: set[asyncio.Task[None]]) -> None:
    """On shutdown: a transform child gets SIGTERM (its run is recorded as interrupted), then we wait for it."""
    for task in list(running):
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)


def create_app(settings: Settings, database_url: str) -> FastAPI:
    engine = create_engine(database_url, application_name="spotify-mcp api", pool_size=10, max_overflow=10)

    sessions = create_session_factory(engine)
    mcp = build_mcp(REGISTRY, sessions, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await import_routes.sweep_uploads(settings, engine)  # what interrupted uploads left behind
        try:
            async with mcp.run():
                yield
        finally:
            await _stop_transforms(app.state.transforms)
            await engine.dispose()

    app = FastAPI(
        title="spotify-mcp",
        version="0.1.0",
        description="Your Spotify listening history, as tools for assistants.",
        lifespan=lifespan,
        servers=[{"url": settings.effective_public_base_url}],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.spotify_budget = DatabaseBudget(engine, BudgetPolicy.from_settings(settings))
    app.state.sessions = sessions
    app.state.tool_cache = mcp.cache
    app.state.cipher = TokenCipher(settings.encryption_keys)
    app.state.database_url = database_url
    app.state.signin_throttle = FailureThrottle()  # OAuth password sign-in, per client address
    app.state.transforms = set()  # transforms started by POST /admin/transform (child processes)
    install_error_handlers(app)
    # Outermost last: request id (and log context) → unexpected errors → request input checks → routes.
    app.add_middleware(RequestInputMiddleware)
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(RequestIdMiddleware)
    install_proxy_headers(app, settings)
    app.include_router(health.router)
    app.include_router(auth.router)  # HTML pages
    app.include_router(admin.router, responses=ERROR_RESPONSES)
    app.include_router(collector_routes.router, responses=ERROR_RESPONSES)
    app.include_router(mcp_routes.router, responses=ERROR_RESPONSES)
    app.include_router(tokens.router, responses=ERROR_RESPONSES)
    app.include_router(import_routes.router, responses=ERROR_RESPONSES)
    app.include_router(oauth_routes.router)  # OAuth's own error shape (RFC 6749 §5.2) and HTML pages
    app.include_router(oauth_admin_routes.router, responses=ERROR_RESPONSES)
    # The MCP server (Streamable HTTP) at exactly /mcp, after the routes; no mount, so no /mcp -> /mcp/ redirect.
    app.router.routes.append(mcp.route)
    return app
