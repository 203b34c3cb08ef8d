"""The admin UI's only way to the data: the API over HTTP (API_BASE_URL) with the admin credentials."""

from __future__ import annotations

from typing import Any

import httpx

from core.settings import AuthMode, Settings


class ApiError(Exception):
    """An API answer that is not a success, as a message a person can read."""

    def __init__(self, status_code: int, message: str, code: str = "error") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.code = code


def admin_auth(settings: Settings) -> httpx.Auth | None:
    if settings.admin_auth_mode is AuthMode.basic and settings.admin_password is not None:
        return httpx.BasicAuth(settings.admin_username, settings.admin_password.get_secret_value())
    return None


def admin_headers(settings: Settings) -> dict[str, str]:
    if settings.admin_auth_mode is AuthMode.token and settings.admin_token is not None:
        return {"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"}
    return {}


class ApiClient:
    def __init__(self, settings: Settings, *, base_url: str | None = None, timeout: float = 15.0) -> None:
        self.base_url = (base_url or settings.effective_api_base_url).rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=admin_headers(settings),
            auth=admin_auth(settings),
            timeout=httpx.Timeout(timeout, connect=5.0),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        files: dict[str, tuple[str, Any, str]] | None = None,
        data: dict[str, str] | None = None,
        request_id: str | None = None,
        timeout_seconds: float | None = None,
    ) -> Any:
        clean = {key: value for key, value in (params or {}).items() if value not in (None, "")}
        headers = {"X-Request-ID": request_id} if request_id else {}
        try:
            response = await self._client.request(
                method,
                path,
                params=clean,
                json=json,
                files=files,
                data=data,
                headers=headers,
                timeout=timeout_seconds if timeout_seconds is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TimeoutException:
            raise ApiError(504, f"the API at {self.base_url} did not answer in time") from None
        except httpx.HTTPError:
            raise ApiError(503, f"the API at {self.base_url} is unreachable") from None
        if response.status_code == 204:
            return None
        if response.is_success:
            try:
                return response.json()
            except ValueError:
                return response.text
        raise _error_from(response)

    async def get(self, path: str, **params: Any) -> Any:
        return await self.request("GET", path, params=params)


def _error_from(response: httpx.Response) -> ApiError:
    message = f"the API answered HTTP {response.status_code}"
    code = "error"
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = str(error.get("message") or message)
            code = str(error.get("code") or code)
            fields = (error.get("details") or {}).get("fields") if isinstance(error.get("details"), dict) else None
            if isinstance(fields, list) and fields:
                problems = "; ".join(f"{item.get('field')}: {item.get('problem')}" for item in fields[:3])
                message = f"{message} ({problems})"
        elif "detail" in body:
            message = str(body["detail"])
    if response.status_code == 401:
        message = "the API refused the admin credentials of this UI (check ADMIN_TOKEN / ADMIN_PASSWORD)"
    return ApiError(response.status_code, message, code)
