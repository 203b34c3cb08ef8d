"""The `Settings` model: every variable, its default, its bounds and the rules between them, and the values
derived from them (one place for each default that depends on another).
"""

from __future__ import annotations

import ipaddress
import zoneinfo
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self

from cryptography.fernet import Fernet
from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from core.settings.errors import FieldError


class AuthMode(StrEnum):
    token = "token"
    basic = "basic"


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """All configuration. Field names map to upper-case environment variables."""

    model_config = SettingsConfigDict(
        env_file=None,
        case_sensitive=False,
        extra="ignore",
        frozen=True,
        validate_default=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only what `load_settings` passes: it reads the environment itself (case-insensitive, empty as unset,
        collections decoded by `environment.decode`). pydantic-settings' own environment source would read the same
        variables again and refuse any list that is not JSON before `load_settings` could decode it."""
        del settings_cls, env_settings, dotenv_settings, file_secret_settings
        return (init_settings,)

    # --- Shared -----------------------------------------------------------------------------------
    spotify_mcp_home: Path = Field(
        default=Path(".spotify-mcp"),
        description="Folder for local state: embedded database, generated secrets, uploads.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL. Unset: an embedded PostgreSQL in SPOTIFY_MCP_HOME is used.",
    )
    token_encryption_key: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Fernet key(s), comma-separated, newest first. The first encrypts; all decrypt.",
    )
    log_level: str = Field(default="INFO", description="Minimum level written to stdout and the database.")
    log_retention_days: int = Field(default=30, ge=1, description="app.logs rows older than this are purged.")
    default_timezone: str = Field(
        default="UTC", description="IANA time zone for new users; calendar answers use the user's zone."
    )

    # --- Spotify ----------------------------------------------------------------------------------
    spotify_client_id: str | None = Field(default=None, description="Spotify app client id (optional).")
    spotify_client_secret: SecretStr | None = Field(default=None, description="Spotify app client secret.")
    spotify_redirect_uri: str | None = Field(
        default=None,
        description="OAuth redirect. Default: http://127.0.0.1:<API_PORT>/auth/callback.",
    )
    spotify_accounts_base_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://accounts.spotify.com"), description="Spotify accounts service (tests: a fake)."
    )
    spotify_api_base_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://api.spotify.com/v1"), description="Spotify Web API base (tests: a fake)."
    )
    spotify_max_concurrency: int = Field(default=4, ge=1, description="Global cap on concurrent Spotify calls.")
    spotify_timeout_seconds: float = Field(default=20.0, gt=0, description="Per-request timeout for Spotify.")
    spotify_request_budget: int = Field(
        default=1000,
        ge=10,
        description=(
            "Spotify requests the whole installation may make per rolling 24 h (every process, user and purpose "
            "together). Spotify's quota per developer account is reported at 1,100-2,600 (docs/spotify-limits.md)."
        ),
    )
    spotify_polling_reserve: int = Field(
        default=200,
        ge=0,
        description=(
            "Part of the budget kept for token refreshes and polling: initial sync, enrichment and tool lookups "
            "stop once less than this is left."
        ),
    )
    spotify_enrichment_share: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description="Largest share of the budget enrichment (artist details, name lookups) may use per 24 h.",
    )

    # --- API --------------------------------------------------------------------------------------
    api_host: str = Field(default="127.0.0.1", description="Bind address of the API.")
    api_port: int = Field(default=8000, ge=1, le=65535, description="Port of the API.")
    public_base_url: str | None = Field(
        default=None,
        description="URL at which clients reach the API (OpenAPI server URL, MCP resource). Default: http://API_HOST:API_PORT.",
    )
    mcp_stream_max_seconds: int = Field(
        default=300,
        ge=1,
        le=86_400,
        description="Longest life of a GET /mcp event stream; the server then ends it and the client may open another.",
    )
    admin_auth_mode: AuthMode = Field(default=AuthMode.token, description="`token` or `basic`.")
    admin_token: SecretStr | None = Field(default=None, description="Admin bearer token (token mode).")
    admin_username: str = Field(default="admin", description="Admin user name (basic mode).")
    admin_password: SecretStr | None = Field(default=None, description="Admin password (basic mode).")
    upload_dir: Path | None = Field(
        default=None,
        description="Where uploads wait for their import (or for the answer to a preview, a day at most). "
        "Default: HOME/uploads.",
    )
    oauth_max_registrations_per_hour: int = Field(
        default=30,
        ge=1,
        description=(
            "Dynamic client registrations (/oauth/register) accepted per hour from one client address "
            "(an IPv6 client counts by its /64 network)."
        ),
    )
    oauth_cimd_allow_private_addresses: bool = Field(
        default=False,
        description=(
            "Fetch Client ID Metadata Documents from loopback, private and link-local addresses too "
            "(an intranet's own MCP clients, tests). Off: public addresses only (no requests into your network)."
        ),
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default=["127.0.0.1", "::1"],
        description=(
            "Addresses or networks (comma-separated, e.g. 10.0.0.0/8) of reverse proxies whose X-Forwarded-For "
            "and X-Forwarded-Proto are believed: the client address for rate limits and the https scheme for "
            "cookies come from them. `none`: believe no proxy header."
        ),
    )

    # --- Collector --------------------------------------------------------------------------------
    collector_interval_seconds: int = Field(
        default=600,
        ge=10,
        description=(
            "Seconds between polls of a user without listening history yet, and of everyone when "
            "COLLECTOR_ADAPTIVE_POLLING=false."
        ),
    )
    collector_adaptive_polling: bool = Field(
        default=True,
        description="Poll each user as often as their own listening needs (fewer than 50 plays between polls).",
    )
    collector_min_interval_seconds: int = Field(
        default=300, ge=10, description="Adaptive polling: never poll a user more often than this."
    )
    collector_max_interval_seconds: int = Field(
        default=3500,
        ge=10,
        description=(
            "Adaptive polling: never leave a user unpolled longer than this (58 min: an access token lives an "
            "hour, so at most every other poll needs a token refresh)."
        ),
    )
    initial_sync_enabled: bool = Field(default=True, description="Run the best-effort initial sync.")
    initial_sync_max_days: int = Field(default=30, ge=1, description="Initial sync stops this far back.")
    initial_sync_max_requests: int = Field(default=200, ge=1, description="Initial sync request cap.")
    initial_sync_stop_on_no_progress: bool = Field(default=True, description="Stop when paging stalls.")
    initial_sync_concurrency: int = Field(default=2, ge=1, description="Users synced at once.")
    enrichment_enabled: bool = Field(default=True, description="Fetch artist details/features/resolutions.")
    import_watch_dir: Path | None = Field(
        default=None,
        description="Folder scanned for exports: ZIPs, and Last.fm/ListenBrainz .csv/.json/.jsonl (optional).",
    )
    import_max_zip_size_mb: int = Field(
        default=500, ge=1, description="Largest accepted export file (a ZIP, or a bare scrobbles .csv/.json)."
    )
    import_max_records: int = Field(default=5_000_000, ge=1, description="Most records one import may hold.")
    import_batch_size: int = Field(default=10_000, ge=100, le=100_000, description="Records per commit.")
    import_store_optional_fields: bool = Field(
        default=False,
        description="Keep optional export fields (reason_start/end, shuffle, skipped, offline, platform, country).",
    )

    # --- Notifications ----------------------------------------------------------------------------
    notify_urls: list[SecretStr] = Field(
        default_factory=list,
        description=(
            "Where to tell the owner when something needs them: Apprise URLs (ntfy, Slack, Discord, e-mail, "
            "webhook), separated by commas or new lines, or a JSON list."
        ),
    )
    notify_poll_failures: int = Field(
        default=5, ge=1, description="Notify when a user's polls have failed this many times in a row."
    )
    notify_token_expiry_days: int = Field(
        default=14, ge=1, description="Notify when a user's Spotify refresh token expires within this many days."
    )

    # --- Transform --------------------------------------------------------------------------------
    transform_enabled: bool = Field(default=True, description="Run dbt + clusters after cycles that landed rows.")

    # --- Admin UI and dashboards ------------------------------------------------------------------
    api_base_url: str | None = Field(
        default=None, description="How the admin UI reaches the API. Default: http://127.0.0.1:API_PORT."
    )
    frontend_auth_mode: AuthMode | None = Field(default=None, description="Mirrors ADMIN_AUTH_MODE when unset.")
    admin_ui_host: str = Field(default="127.0.0.1", description="Bind address of the admin UI.")
    admin_ui_port: int = Field(default=8001, ge=1, le=65535, description="Port of the admin UI.")
    session_secret: SecretStr | None = Field(default=None, description="Signs admin UI and OAuth cookies.")
    dashboards_port: int = Field(default=8501, ge=1, le=65535, description="Internal Streamlit port.")
    dashboards_proxy_secret: SecretStr | None = Field(
        default=None,
        description=(
            "Secret the admin UI's proxy sends to the dashboards, which serve nothing without it. `up` makes a new "
            "one at every start; unset elsewhere, it is derived from SESSION_SECRET or the admin credential."
        ),
    )

    @field_validator("token_encryption_key", mode="before")
    @classmethod
    def _keys_from_csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies_from_csv(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() == "none":
            return []
        return _split_csv(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, proxies: list[str]) -> list[str]:
        for entry in proxies:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"`{entry}` is not an IP address or network such as 10.0.0.0/8") from None
        return proxies

    @field_validator("token_encryption_key")
    @classmethod
    def _keys_are_fernet(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for position, key in enumerate(keys, start=1):
            try:
                Fernet(key.get_secret_value().encode())
            except ValueError, TypeError:
                raise ValueError(f"key #{position} is not a valid Fernet key (32 url-safe base64 bytes)") from None
        return keys

    @field_validator("database_url")
    @classmethod
    def _database_url_is_postgres(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        scheme = value.get_secret_value().split("://", 1)[0]
        if not scheme.startswith(("postgresql", "postgres")):
            raise ValueError(f"scheme `{scheme}` is not PostgreSQL")
        return value

    @field_validator("default_timezone")
    @classmethod
    def _timezone_exists(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except zoneinfo.ZoneInfoNotFoundError, ValueError:
            raise ValueError(f"`{value}` is not a known time zone") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"`{value}` is not one of DEBUG, INFO, WARNING, ERROR")
        return upper

    @field_validator("spotify_redirect_uri")
    @classmethod
    def _redirect_allowed_by_spotify(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.startswith("https://"):
            return value
        if value.startswith(("http://127.0.0.1", "http://[::1]")):
            return value
        raise ValueError(f"`{value}` is neither https nor a loopback IP")

    @model_validator(mode="after")
    def _bounds_in_order(self) -> Self:
        if self.spotify_polling_reserve >= self.spotify_request_budget:
            raise FieldError(
                "SPOTIFY_POLLING_RESERVE",
                f"({self.spotify_polling_reserve}) must be less than SPOTIFY_REQUEST_BUDGET "
                f"({self.spotify_request_budget})",
            )
        if self.collector_min_interval_seconds > self.collector_max_interval_seconds:
            raise FieldError(
                "COLLECTOR_MIN_INTERVAL_SECONDS",
                f"({self.collector_min_interval_seconds}) is more than COLLECTOR_MAX_INTERVAL_SECONDS "
                f"({self.collector_max_interval_seconds})",
            )
        return self

    @model_validator(mode="after")
    def _auth_secrets_present(self) -> Self:
        if self.local_mode:
            return self
        if not self.token_encryption_key:
            raise FieldError("TOKEN_ENCRYPTION_KEY", "is required when DATABASE_URL is set")
        if self.admin_auth_mode is AuthMode.token and self.admin_token is None:
            raise FieldError("ADMIN_TOKEN", "is required when ADMIN_AUTH_MODE=token outside local mode")
        if self.admin_auth_mode is AuthMode.basic and self.admin_password is None:
            raise FieldError("ADMIN_PASSWORD", "is required when ADMIN_AUTH_MODE=basic")
        return self

    # Set by `load_settings` (never from the environment) when it filled in generated local secrets.
    secrets_generated: bool = Field(default=False, exclude=True)

    # --- Derived values (one place for each default that depends on another) -----------------------
    @property
    def local_mode(self) -> bool:
        """Single-box install: nothing configured, secrets generated into the home folder."""
        return self.secrets_generated or (self.database_url is None and not self.token_encryption_key)

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def home(self) -> Path:
        return self.spotify_mcp_home.expanduser().resolve()

    @property
    def effective_upload_dir(self) -> Path:
        return (self.upload_dir or self.home / "uploads").expanduser().resolve()

    @property
    def effective_public_base_url(self) -> str:
        return (self.public_base_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def effective_api_base_url(self) -> str:
        return (self.api_base_url or f"http://127.0.0.1:{self.api_port}").rstrip("/")

    @property
    def effective_redirect_uri(self) -> str:
        return self.spotify_redirect_uri or f"http://127.0.0.1:{self.api_port}/auth/callback"

    @property
    def effective_frontend_auth_mode(self) -> AuthMode:
        return self.frontend_auth_mode or self.admin_auth_mode

    @property
    def spotify_configured(self) -> bool:
        return bool(self.spotify_client_id and self.spotify_client_secret)

    @property
    def encryption_keys(self) -> list[str]:
        return [key.get_secret_value() for key in self.token_encryption_key]

    def __repr__(self) -> str:  # SecretStr already masks values; keep repr short for logs.
        return f"Settings(home={self.home}, local_mode={self.local_mode})"
