from __future__ import annotations

import stat
from pathlib import Path

import pytest

from core.crypto import generate_key
from core.settings import Settings, SettingsError, load_settings


def _production(**extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": "postgresql://app:pw@db:5432/spotify_mcp",
        "TOKEN_ENCRYPTION_KEY": generate_key(),
        "ADMIN_TOKEN": "a-long-admin-token",
        **extra,
    }


def test_spec_defaults(tmp_path: Path) -> None:
    settings = load_settings({"SPOTIFY_MCP_HOME": str(tmp_path)})
    assert settings.collector_interval_seconds == 600
    assert settings.initial_sync_enabled is True
    assert settings.initial_sync_max_days == 30
    assert settings.initial_sync_max_requests == 200
    assert settings.initial_sync_stop_on_no_progress is True
    assert settings.initial_sync_concurrency == 2
    assert settings.import_max_zip_size_mb == 500
    assert settings.import_max_records == 5_000_000
    assert settings.admin_auth_mode == "token"
    assert settings.effective_redirect_uri == "http://127.0.0.1:8000/auth/callback"


def test_every_spec_variable_is_a_setting() -> None:
    spec_variables = {
        "DATABASE_URL", "TOKEN_ENCRYPTION_KEY", "SPOTIFY_CLIENT_ID", "SPOTIFY_CLIENT_SECRET",
        "SPOTIFY_REDIRECT_URI", "ADMIN_AUTH_MODE", "ADMIN_TOKEN", "UPLOAD_DIR", "COLLECTOR_INTERVAL_SECONDS",
        "INITIAL_SYNC_ENABLED", "INITIAL_SYNC_MAX_DAYS", "INITIAL_SYNC_MAX_REQUESTS",
        "INITIAL_SYNC_STOP_ON_NO_PROGRESS", "INITIAL_SYNC_CONCURRENCY", "IMPORT_WATCH_DIR",
        "IMPORT_MAX_ZIP_SIZE_MB", "IMPORT_MAX_RECORDS", "API_BASE_URL", "FRONTEND_AUTH_MODE",
    }  # fmt: skip
    assert spec_variables <= {name.upper() for name in Settings.model_fields}


def test_values_are_typed_from_strings(tmp_path: Path) -> None:
    settings = load_settings(
        {"SPOTIFY_MCP_HOME": str(tmp_path), "INITIAL_SYNC_ENABLED": "false", "IMPORT_MAX_RECORDS": "42"}
    )
    assert settings.initial_sync_enabled is False
    assert settings.import_max_records == 42


def test_local_mode_generates_secrets_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_settings({"SPOTIFY_MCP_HOME": str(tmp_path)})
    second = load_settings({"SPOTIFY_MCP_HOME": str(tmp_path)})
    secrets_file = tmp_path / "secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert first.local_mode and second.local_mode
    assert first.encryption_keys == second.encryption_keys
    assert first.admin_token is not None and second.admin_token is not None
    assert first.admin_token.get_secret_value() == second.admin_token.get_secret_value()


def test_production_needs_no_home_files(tmp_path: Path) -> None:
    settings = load_settings(_production(SPOTIFY_MCP_HOME=str(tmp_path)))
    assert not settings.local_mode
    assert not (tmp_path / "secrets.json").exists()


@pytest.mark.parametrize(
    ("env", "variable", "fix"),
    [
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL", "postgresql://"),
        ({"TOKEN_ENCRYPTION_KEY": "not-a-key"}, "TOKEN_ENCRYPTION_KEY", "spotify-mcp gen-key"),
        ({"DATABASE_URL": "postgresql://db/x"}, "TOKEN_ENCRYPTION_KEY", "spotify-mcp gen-key"),
        ({"DEFAULT_TIMEZONE": "Mars/Olympus"}, "DEFAULT_TIMEZONE", "IANA"),
        ({"SPOTIFY_REDIRECT_URI": "http://localhost:8000/auth/callback"}, "SPOTIFY_REDIRECT_URI", "127.0.0.1"),
        ({"COLLECTOR_INTERVAL_SECONDS": "often"}, "COLLECTOR_INTERVAL_SECONDS", ""),
        ({"ADMIN_AUTH_MODE": "oauth"}, "ADMIN_AUTH_MODE", "token"),
        ({"IMPORT_MAX_ZIP_SIZE_MB": "0"}, "IMPORT_MAX_ZIP_SIZE_MB", ""),
    ],
)
def test_bad_value_is_one_line_naming_variable_and_fix(
    tmp_path: Path, env: dict[str, str], variable: str, fix: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"SPOTIFY_MCP_HOME": str(tmp_path), **env})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(variable)
    assert fix in message


def test_missing_admin_secret_outside_local_mode(tmp_path: Path) -> None:
    env = _production(SPOTIFY_MCP_HOME=str(tmp_path))
    del env["ADMIN_TOKEN"]
    with pytest.raises(SettingsError, match=r"^ADMIN_TOKEN is required"):
        load_settings(env)
    with pytest.raises(SettingsError, match=r"^ADMIN_PASSWORD is required"):
        load_settings({**env, "ADMIN_AUTH_MODE": "basic"})


def test_secrets_are_never_printed(tmp_path: Path) -> None:
    env = _production(SPOTIFY_MCP_HOME=str(tmp_path), SPOTIFY_CLIENT_SECRET="client-secret-value")
    settings = load_settings(env)
    shown = f"{settings!r} {settings!s} {settings.model_dump()}"
    for secret in (env["TOKEN_ENCRYPTION_KEY"], env["ADMIN_TOKEN"], "client-secret-value", ":pw@"):
        assert secret not in shown
    # A bad key's value is not echoed in the error either.
    with pytest.raises(SettingsError) as caught:
        load_settings({**env, "TOKEN_ENCRYPTION_KEY": "secret-but-invalid-key"})
    assert "secret-but-invalid-key" not in str(caught.value)


def test_several_keys_newest_first(tmp_path: Path) -> None:
    new, old = generate_key(), generate_key()
    settings = load_settings(_production(SPOTIFY_MCP_HOME=str(tmp_path), TOKEN_ENCRYPTION_KEY=f"{new}, {old}"))
    assert settings.encryption_keys == [new, old]


def test_env_example_documents_every_setting() -> None:
    text = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    for name, field in Settings.model_fields.items():
        if name == "secrets_generated":
            continue
        assert f"{name.upper()}=" in text, f"{name.upper()} missing from .env.example"
        assert field.description and field.description in text, f"{name.upper()} description out of date"


def test_configuration_reference_is_current() -> None:
    from cli.config_reference import render

    document = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    assert document.read_text() == render(), "run `uv run spotify-mcp config-reference > docs/configuration.md`"


def test_list_settings_are_settable_from_the_environment(tmp_path: Path) -> None:
    """Environment values are strings: every collection-typed setting takes comma/new-line separated items or JSON."""
    home = {"SPOTIFY_MCP_HOME": str(tmp_path)}
    separated = load_settings(
        home | {"NOTIFY_URLS": "ntfy://127.0.0.1/alerts, json://127.0.0.1:9/hook\nmailto://a:b@c"}
    )
    assert [url.get_secret_value() for url in separated.notify_urls] == [
        "ntfy://127.0.0.1/alerts",
        "json://127.0.0.1:9/hook",
        "mailto://a:b@c",
    ]
    # A URL that holds a comma itself goes in a JSON list.
    as_json = load_settings(home | {"NOTIFY_URLS": '["mailto://u:p@example.org?to=a@x.org,b@y.org"]'})
    assert [url.get_secret_value() for url in as_json.notify_urls] == ["mailto://u:p@example.org?to=a@x.org,b@y.org"]
    assert load_settings(home).notify_urls == []
    with pytest.raises(SettingsError) as caught:
        load_settings(home | {"NOTIFY_URLS": '["ntfy://secret-topic"'})
    message = str(caught.value)
    assert message.startswith("NOTIFY_URLS is invalid") and "JSON list" in message and "\n" not in message
    assert "secret-topic" not in message  # URLs carry webhook secrets: never echoed


def test_notification_urls_are_never_printed(tmp_path: Path) -> None:
    settings = load_settings(_production(SPOTIFY_MCP_HOME=str(tmp_path), NOTIFY_URLS="slack://T1/B2/secret-token"))
    assert "secret-token" not in f"{settings!r} {settings.model_dump()}"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SPOTIFY_REQUEST_BUDGET": "500", "SPOTIFY_POLLING_RESERVE": "500"}, "SPOTIFY_POLLING_RESERVE"),
        ({"COLLECTOR_MIN_INTERVAL_SECONDS": "900", "COLLECTOR_MAX_INTERVAL_SECONDS": "600"}, "COLLECTOR_MIN_INTERVAL"),
        ({"SPOTIFY_ENRICHMENT_SHARE": "1.5"}, "SPOTIFY_ENRICHMENT_SHARE"),
    ],
)
def test_budget_and_polling_bounds_are_checked(tmp_path: Path, env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"SPOTIFY_MCP_HOME": str(tmp_path), **env})
    assert str(caught.value).startswith(variable)


def test_a_list_setting_in_the_process_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As a service reads it: from os.environ, not a dict handed over (pydantic-settings' own environment
    source used to parse the same variable again, as JSON only, and refuse it)."""
    monkeypatch.setenv("SPOTIFY_MCP_HOME", str(tmp_path))
    monkeypatch.setenv("NOTIFY_URLS", "json://127.0.0.1:9/hook, ntfy://127.0.0.1:9/alerts")
    monkeypatch.setenv("notify_poll_failures", "7")  # names are case-insensitive, as before
    settings = load_settings()
    assert [url.get_secret_value() for url in settings.notify_urls] == [
        "json://127.0.0.1:9/hook",
        "ntfy://127.0.0.1:9/alerts",
    ]
    assert settings.notify_poll_failures == 7
