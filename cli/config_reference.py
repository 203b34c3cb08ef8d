"""The configuration reference (docs/configuration.md), rendered from the settings model itself."""

from __future__ import annotations

from enum import Enum

from pydantic_core import PydanticUndefined

from core.settings import Settings

HEADER = """# Configuration reference

Generated from `core/settings/model.py` by `spotify-mcp config-reference` (a test fails when this file is out of
date). Every variable is optional for local use: without `DATABASE_URL` and `TOKEN_ENCRYPTION_KEY`,
spotify-mcp runs an embedded PostgreSQL and generates its secrets into `SPOTIFY_MCP_HOME/secrets.json`.
With `DATABASE_URL` set (production), `TOKEN_ENCRYPTION_KEY` and the admin secret of the chosen
`ADMIN_AUTH_MODE` (`ADMIN_TOKEN` or `ADMIN_PASSWORD`) are required. `.env.example` lists the same variables.
Settings that hold a list (`NOTIFY_URLS`, `TOKEN_ENCRYPTION_KEY`) take their items separated by commas or new
lines, or (`NOTIFY_URLS`) as a JSON list such as `["ntfy://ntfy.sh/topic", "mailto://…"]`.

| variable | default | meaning |
|---|---|---|
"""


def _default(name: str) -> str:
    field = Settings.model_fields[name]
    if field.default_factory is not None or field.default is PydanticUndefined or field.default is None:
        return "—"
    value = field.default
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return f"`{','.join(str(item) for item in value)}`"
    return f"`{value}`"


def render() -> str:
    rows = [
        f"| `{name.upper()}` | {_default(name)} | {(field.description or '').replace('|', '/')} |"
        for name, field in Settings.model_fields.items()
        if name != "secrets_generated"
    ]
    return HEADER + "\n".join(rows) + "\n"
