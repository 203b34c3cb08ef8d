"""How a bad setting is told: one line naming the variable, what is wrong and how to fix it."""

from __future__ import annotations

from pydantic import ValidationError

# How to fix each variable that can be wrong, shown in the one-line error.
FIX_HINTS: dict[str, str] = {
    "TOKEN_ENCRYPTION_KEY": (
        "set it to one or more Fernet keys separated by commas (newest first); generate one with `spotify-mcp gen-key`"
    ),
    "DATABASE_URL": "use a URL like postgresql://user:password@host:5432/dbname, or unset it for the embedded database",
    "ADMIN_AUTH_MODE": "use `token` or `basic`",
    "FRONTEND_AUTH_MODE": "use `token` or `basic`",
    "ADMIN_TOKEN": (
        "set ADMIN_TOKEN to a long random string (e.g. `openssl rand -hex 32`), "
        "or unset TOKEN_ENCRYPTION_KEY and DATABASE_URL for local mode"
    ),
    "ADMIN_PASSWORD": "set ADMIN_PASSWORD when ADMIN_AUTH_MODE=basic",
    "TRUSTED_PROXIES": "list the addresses or networks of your reverse proxies, comma-separated, e.g. 10.0.0.2,::1",
    "DEFAULT_TIMEZONE": "use an IANA time-zone name such as Europe/Berlin or UTC",
    "SPOTIFY_REDIRECT_URI": (
        "Spotify accepts only https redirect URIs or loopback IPs: use http://127.0.0.1:<port>/auth/callback "
        "locally, https://<your host>/auth/callback elsewhere (never `localhost`)"
    ),
    "NOTIFY_URLS": (
        "give Apprise URLs (ntfy://, slack://, discord://, mailto://, json://…) separated by commas or new lines, "
        'or as a JSON list (["ntfy://…", "mailto://…"]) when a URL itself holds a comma'
    ),
    "SPOTIFY_POLLING_RESERVE": "keep it below SPOTIFY_REQUEST_BUDGET (e.g. a fifth of it)",
    "COLLECTOR_MIN_INTERVAL_SECONDS": "keep it at most COLLECTOR_MAX_INTERVAL_SECONDS",
}


class SettingsError(Exception):
    """A setting is missing or invalid. `str()` is a single line meant for a person."""


class FieldError(ValueError):
    def __init__(self, env_name: str, problem: str) -> None:
        super().__init__(f"{env_name} {problem}")
        self.env_name = env_name
        self.problem = problem


def one_line(error: ValidationError) -> str:
    """Turn pydantic's multi-line report into one line naming the variable and its fix."""
    first = error.errors()[0]
    location = first.get("loc") or ()
    ctx_error = (first.get("ctx") or {}).get("error")
    if isinstance(ctx_error, FieldError):
        env_name, problem = ctx_error.env_name, ctx_error.problem
    else:
        env_name = str(location[0]).upper() if location else "configuration"
        message = str(first.get("msg", "is invalid")).removeprefix("Value error, ")
        problem = f"is invalid: {message}"
    more = f" (and {len(error.errors()) - 1} more problem(s))" if len(error.errors()) > 1 else ""
    return with_fix(env_name, f"{env_name} {problem}{more}")


def with_fix(env_name: str, message: str) -> str:
    """The message, followed by how to fix `env_name` when there is a hint for it."""
    hint = FIX_HINTS.get(env_name)
    return message + (f" — {hint}" if hint else "")
