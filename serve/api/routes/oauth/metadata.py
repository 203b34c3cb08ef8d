"""Discovery: authorization server metadata (RFC 8414) and protected resource metadata of /mcp (RFC 9728)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from core.settings import Settings
from serve.api.deps import SettingsDep
from serve.oauth.common import SCOPES_SUPPORTED, issuer, resource_url

router = APIRouter()


def authorization_server_metadata(settings: Settings) -> dict[str, Any]:
    base = issuer(settings)
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "registration_endpoint": f"{base}/oauth/register",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "scopes_supported": list(SCOPES_SUPPORTED),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_post", "client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "client_id_metadata_document_supported": True,
        "service_documentation": f"{base}/docs",
    }


@router.get("/.well-known/oauth-authorization-server", summary="OAuth authorization server metadata (RFC 8414)")
async def as_metadata(settings: SettingsDep) -> JSONResponse:
    return JSONResponse(authorization_server_metadata(settings), headers={"Cache-Control": "public, max-age=300"})


def protected_resource_metadata(settings: Settings) -> dict[str, Any]:
    return {
        "resource": resource_url(settings),
        "authorization_servers": [issuer(settings)],
        "scopes_supported": list(SCOPES_SUPPORTED),
        "bearer_methods_supported": ["header"],
        "resource_name": "spotify-mcp (your Spotify listening history)",
        "resource_documentation": f"{issuer(settings)}/docs",
    }


@router.get("/.well-known/oauth-protected-resource/mcp", summary="Protected resource metadata of /mcp (RFC 9728)")
async def pr_metadata(settings: SettingsDep) -> JSONResponse:
    return JSONResponse(protected_resource_metadata(settings), headers={"Cache-Control": "public, max-age=300"})


@router.get("/.well-known/oauth-protected-resource", include_in_schema=False)
async def pr_metadata_root(settings: SettingsDep) -> JSONResponse:
    return await pr_metadata(settings)
