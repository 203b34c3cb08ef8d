"""The OAuth 2.1 authorization server's HTTP face (MCP authorization, 2025-11-25 / 2026-07-28).

Metadata (RFC 8414, RFC 9728), `/oauth/authorize` (sign-in, then a consent page naming the client, its redirect
host and what it may read; `iss` in the response, RFC 9207), `/oauth/token` (authorization_code with PKCE S256,
refresh_token with rotation), `/oauth/register` (RFC 7591), `/oauth/revoke` (RFC 7009). The logic is in
`serve.oauth`.

One module per endpoint group: metadata, authorize, signin, tokens (token and revocation), registration; the
HTML pages and what the groups share sit in pages and support. `router` carries them all.
"""

from __future__ import annotations

from fastapi import APIRouter

from serve.api.routes.oauth import authorize, metadata, registration, signin, tokens
from serve.api.routes.oauth.metadata import authorization_server_metadata, protected_resource_metadata
from serve.api.routes.oauth.registration import MAX_REGISTRATION_BYTES
from serve.api.routes.oauth.support import NO_STORE
from serve.oauth.common import resource_metadata_url

router = APIRouter(tags=["oauth"])
for group in (metadata, authorize, signin, tokens, registration):
    router.include_router(group.router)

__all__ = [
    "MAX_REGISTRATION_BYTES",
    "NO_STORE",
    "authorization_server_metadata",
    "protected_resource_metadata",
    "resource_metadata_url",
    "router",
]
