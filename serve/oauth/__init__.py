"""The API as an OAuth 2.1 authorization server for MCP clients (ChatGPT apps, Claude connectors).

- `common`: URLs (issuer, resource), scopes, lifetimes, signed values.
- `clients`: pre-registered, dynamically registered (RFC 7591) and URL-identified clients (CIMD).
- `tokens`: authorization codes (PKCE S256), access/refresh tokens (rotation, reuse detection), grants,
  revocation (RFC 7009), and the access-token check `/mcp` uses (audience, expiry, scope, revocation).
- `signin`: who the person is: Spotify (the existing /auth flow), a local password or a one-time link.

Every secret is stored as a sha256 hash (passwords with scrypt); the HTTP face is `serve.api.routes.oauth`.
"""
