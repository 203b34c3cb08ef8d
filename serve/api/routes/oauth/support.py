"""What every OAuth endpoint group shares: the app's session factory and CIMD fetcher, the no-store headers,
and OAuth's own JSON error shape (RFC 6749 §5.2).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from core.db import SessionFactory
from core.settings import Settings
from serve.oauth.cimd import CimdFetcher

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def sessions(request: Request) -> SessionFactory:
    factory: SessionFactory = request.app.state.sessions
    return factory


def fetcher(request: Request) -> CimdFetcher:
    """The app's CIMD fetcher when one is set (tests give one), else one built from the settings."""
    configured = getattr(request.app.state, "oauth_cimd_fetcher", None)
    if isinstance(configured, CimdFetcher):
        return configured
    settings: Settings = request.app.state.settings
    return CimdFetcher.for_settings(settings)


def oauth_error(error: str, description: str, status_code: int = 400) -> JSONResponse:
    headers = dict(NO_STORE)
    if error == "invalid_client" and status_code == 401:
        headers["WWW-Authenticate"] = 'Basic realm="spotify-mcp oauth"'
    return JSONResponse({"error": error, "error_description": description}, status_code, headers=headers)
