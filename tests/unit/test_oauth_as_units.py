"""Units of the OAuth authorization server: PKCE, signed values, passwords, redirect URIs, client metadata, the
CIMD fetcher's address check, the 401 challenge."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from mcp.client.auth.oauth2 import PKCEParameters

from core.crypto import generate_key
from core.settings import Settings, load_settings
from serve.oauth.cimd import CimdFetcher
from serve.oauth.clients import _validated_metadata, is_metadata_url, valid_redirect_uri
from serve.oauth.common import bearer_challenge, pkce_challenge, resource_url, sign, unsign
from serve.oauth.errors import ClientError
from serve.oauth.signin import hash_password, session_value, signed_in_user, verify_password


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(
        {
            "TOKEN_ENCRYPTION_KEY": generate_key(),
            "ADMIN_TOKEN": "admin-token-0123456789",
            "SPOTIFY_MCP_HOME": str(tmp_path),
            "PUBLIC_BASE_URL": "https://music.example.org/",
        }
    )


def test_pkce_s256_agrees_with_the_official_sdk_client() -> None:
    for _ in range(5):
        params = PKCEParameters.generate()
        assert pkce_challenge(params.code_verifier) == params.code_challenge


def test_signed_values_refuse_tampering_other_purposes_and_expiry(settings: Settings) -> None:
    value = sign(settings, "authorize", {"client_id": "c"}, timedelta(minutes=1))
    assert unsign(settings, "authorize", value) is not None
    assert unsign(settings, "session", value) is None
    body, mac = value.split(".")
    assert unsign(settings, "authorize", body + "x." + mac) is None
    assert unsign(settings, "authorize", sign(settings, "authorize", {}, timedelta(seconds=-5))) is None
    assert unsign(settings, "authorize", None) is None


def test_session_cookie_names_the_user(settings: Settings) -> None:
    user = uuid.uuid4()
    assert signed_in_user(settings, session_value(settings, user)) == user
    assert signed_in_user(settings, session_value(settings, user) + "0") is None


def test_passwords_are_salted_scrypt() -> None:
    first, second = hash_password("a long password"), hash_password("a long password")
    assert first != second and first.startswith("scrypt$16384$8$1$") and "a long password" not in first
    assert verify_password("a long password", first) and not verify_password("a long passwore", first)
    assert not verify_password("x", None) and not verify_password("x", "garbage")


@pytest.mark.parametrize(
    ("uri", "ok"),
    [
        ("https://chatgpt.com/connector_platform_oauth_redirect", True),
        ("https://claude.ai/api/mcp/auth_callback", True),
        ("http://127.0.0.1:33418/callback", True),
        ("http://localhost/cb", True),
        ("http://example.org/cb", False),
        ("https://example.org/cb#frag", False),
        ("javascript:alert(1)", False),
        ("https://*.example.org/cb", False),
    ],
)
def test_redirect_uris(uri: str, ok: bool) -> None:
    assert valid_redirect_uri(uri) is ok


def test_client_metadata_validation() -> None:
    good = {"redirect_uris": ["https://a.example/cb"], "grant_types": ["authorization_code", "refresh_token"]}
    assert _validated_metadata(good)["redirect_uris"] == ["https://a.example/cb"]
    bads: list[object] = [
        [],
        {"redirect_uris": []},
        {"redirect_uris": ["http://evil.example/cb"]},
        {"redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]},
        {"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]},
        {"redirect_uris": ["https://a.example/cb"], "scope": "admin"},
    ]
    for bad in bads:
        with pytest.raises(ClientError):
            _validated_metadata(bad)
    assert is_metadata_url("https://client.example/oauth/metadata.json")
    assert not is_metadata_url("smcp-client-abc") and not is_metadata_url("https://client.example/")


async def test_cimd_fetcher_refuses_http_and_private_addresses() -> None:
    fetcher = CimdFetcher()
    with pytest.raises(ClientError, match="https"):
        await fetcher.fetch("http://client.example/metadata.json")
    for private in ("127.0.0.1", "[::1]", "10.1.2.3", "169.254.169.254", "[fe80::1]", "[::ffff:127.0.0.1]"):
        with pytest.raises(ClientError, match="not a public address"):
            await fetcher.fetch(f"https://{private}/metadata.json")
    with pytest.raises(ClientError, match="not a public address"):
        await CimdFetcher(allow_private=True).fetch("https://224.0.0.1/metadata.json")  # multicast: never


def test_challenge_names_resource_metadata_and_scope(settings: Settings) -> None:
    assert resource_url(settings) == "https://music.example.org/mcp"
    assert bearer_challenge(settings) == (
        'Bearer realm="spotify-mcp tools", '
        'resource_metadata="https://music.example.org/.well-known/oauth-protected-resource/mcp", '
        'scope="history:read"'
    )


def test_every_secret_prefix_is_masked_by_the_log_redaction() -> None:
    from core.log import redact_text
    from serve.oauth import common

    for prefix in (common.ACCESS_PREFIX, common.REFRESH_PREFIX, common.CODE_PREFIX, common.CLIENT_SECRET_PREFIX):
        secret = common.new_secret(prefix)
        assert secret not in redact_text(f"saw {secret} in a message")
    link = common.new_secret(common.LINK_PREFIX)
    assert link not in redact_text(f"GET /oauth/signin/link?token={link}")
