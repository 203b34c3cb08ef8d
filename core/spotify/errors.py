"""Errors of the Spotify client. Each one says what happened and what the caller should do."""

from __future__ import annotations

from datetime import datetime


class SpotifyError(Exception):
    """Base of every error raised by `core.spotify`."""


class SpotifyHTTPError(SpotifyError):
    """Spotify answered with an error status we do not handle specially."""

    def __init__(self, status_code: int, message: str, *, endpoint: str = "") -> None:
        super().__init__(f"Spotify answered {status_code} on {endpoint or 'a request'}: {message}")
        self.status_code = status_code
        self.message = message
        self.endpoint = endpoint


class SpotifyUnavailable(SpotifyError):
    """5xx answers or timeouts persisted beyond the retry policy."""


class RateLimited(SpotifyError):
    """A 429 whose wait is too long to sleep inside a job (or the app's quota is exhausted).

    The caller records `retry_after` as the user's next allowed attempt instead of sleeping.
    """

    def __init__(self, retry_after: float, *, reason: str | None = None, endpoint: str = "") -> None:
        detail = f" ({reason})" if reason else ""
        super().__init__(f"Spotify rate limit on {endpoint or 'a request'}{detail}: retry after {retry_after:.0f}s")
        self.retry_after = retry_after
        self.reason = reason
        self.endpoint = endpoint


class QuotaBlocked(RateLimited):
    """Spotify stopped this app (quota exhausted or a long Retry-After): no request of the installation is sent
    before `until`. Nothing was sent for this call."""

    def __init__(self, until: datetime, *, retry_after: float, reason: str | None, endpoint: str) -> None:
        super().__init__(max(0.0, retry_after), reason=reason, endpoint=endpoint)
        self.until = until
        self.args = (
            f"{reason or 'Spotify stopped this app'}: no Spotify requests until {until:%Y-%m-%d %H:%M:%S} UTC "
            f"({endpoint} not sent)",
        )


class BudgetExhausted(RateLimited):
    """The installation's own request budget (SPOTIFY_REQUEST_BUDGET) has no room for this purpose until
    `until`. Nothing was sent: Spotify's quota is never reached."""

    def __init__(self, until: datetime, *, retry_after: float, reason: str, endpoint: str) -> None:
        super().__init__(max(0.0, retry_after), reason="BUDGET", endpoint=endpoint)
        self.until = until
        self.detail = reason
        self.args = (f"{reason}; next possible at {until:%Y-%m-%d %H:%M:%S} UTC ({endpoint} not sent)",)


class EndpointRemoved(SpotifyError):
    """The endpoint answered 403/404 as removed for this app (or was remembered so); it is not called again."""

    def __init__(self, endpoint: str, *, status_code: int | None = None) -> None:
        super().__init__(
            f"Spotify endpoint `{endpoint}` is not available to this app (HTTP {status_code or 'remembered'})"
        )
        self.endpoint = endpoint
        self.status_code = status_code


class SpotifyAuthError(SpotifyError):
    """Authentication with Spotify failed (bad client credentials, repeated 401, a refused code exchange)."""


class InvalidGrant(SpotifyAuthError):
    """The refresh token (or authorization code) is no longer valid: the user must connect again."""


class NeedsReauth(SpotifyAuthError):
    """The user's refresh token expired or was revoked; the user is marked `needs_reauth`."""


class NotConnected(SpotifyError):
    """The user has no stored Spotify token."""


class Interrupted(SpotifyError):
    """A wait inside the client was cut short because the process is stopping."""
