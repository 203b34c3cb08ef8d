from __future__ import annotations

import base64
from pathlib import Path

from starlette.requests import Request

from core.crypto import generate_key
from core.settings import Settings, load_settings
from serve.api.deps import is_admin_request


def _settings(tmp_path: Path, **extra: str) -> Settings:
    env = {
        "DATABASE_URL": "postgresql://x@db/y",
        "TOKEN_ENCRYPTION_KEY": generate_key(),
        "ADMIN_TOKEN": "admin-secret-token",
        "ADMIN_PASSWORD": "pw",
        "SPOTIFY_MCP_HOME": str(tmp_path),
        **extra,
    }
    return load_settings(env)


def _request(**headers: str) -> Request:
    raw = [(key.lower().replace("_", "-").encode(), value.encode()) for key, value in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


def test_token_mode(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert is_admin_request(_request(authorization="Bearer admin-secret-token"), settings)
    assert is_admin_request(_request(x_admin_token="admin-secret-token"), settings)
    assert not is_admin_request(_request(authorization="Bearer admin-secret-tokeN"), settings)
    assert not is_admin_request(_request(), settings)


def test_basic_mode(tmp_path: Path) -> None:
    settings = _settings(tmp_path, ADMIN_AUTH_MODE="basic")
    good = base64.b64encode(b"admin:pw").decode()
    bad = base64.b64encode(b"admin:nope").decode()
    assert is_admin_request(_request(authorization=f"Basic {good}"), settings)
    assert not is_admin_request(_request(authorization=f"Basic {bad}"), settings)
    assert not is_admin_request(_request(authorization="Basic !!notbase64"), settings)
    assert not is_admin_request(_request(authorization="Bearer admin-secret-token"), settings)
