"""Errors that carry their HTTP status, and the one handler that renders them.

Every error body has the same shape, `{"error": {"code", "message", "details", "request_id"}}`, so clients (and
assistants) can branch on `code`, and anyone reporting a problem can quote the request id (the same as the
`X-Request-ID` response header) that finds its log lines. Unexpected exceptions become a 500 with that request id,
never a trace (`UnexpectedErrorMiddleware`); an unreachable database becomes a 503.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg.exceptions
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.log import current_context

logger = logging.getLogger(__name__)

# What a lost, refused or exhausted database connection raises through SQLAlchemy and asyncpg (a refused connect
# comes through unwrapped): answered 503 with Retry-After, not 500. The client may simply try again.
DATABASE_DOWN_ERRORS: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    ConnectionError,
)


class AppError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        self.headers = headers


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class Unprocessable(AppError):
    status_code = 422
    code = "invalid_arguments"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "unavailable"


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. invalid_arguments, not_found, unavailable.")
    message: str = Field(description="What is wrong and what to do, for a person or an assistant.")
    details: dict[str, Any] = Field(description="E.g. `fields`: [{field, problem}] for invalid input.")
    request_id: str | None = Field(description="The request's id (the X-Request-ID header), for the server logs.")


class ErrorBody(BaseModel):
    error: ErrorDetail


# The error answers every JSON route may give, for the OpenAPI document (routers that render our error shape).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (401, "No or wrong credentials."),
        (403, "These credentials may not do this."),
        (404, "Not found."),
        (409, "Conflicts with the current state."),
        (413, "The request body is too large."),
        (422, "Invalid input; `details.fields` names each field."),
        (503, "The database (or Spotify) is unreachable right now; try again."),
    )
}


# Text PostgreSQL refuses to store: NUL (22021) and, in jsonb, \u0000 (22P05).
_UNSTORABLE: tuple[type[Exception], ...] = (
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The error shape; `request_id` is the current request's (bound by the request id middleware)."""
    request_id = current_context().get("request_id")
    return {"error": {"code": code, "message": message, "details": details or {}, "request_id": request_id}}


def internal_error_response() -> JSONResponse:
    return JSONResponse(
        error_body("internal_error", "unexpected error; quote the request id when you report it (server logs)"), 500
    )


def _validation_details(error: RequestValidationError) -> dict[str, Any]:
    fields = [
        {"field": ".".join(str(part) for part in item["loc"] if part != "body"), "problem": item["msg"]}
        for item in error.errors()
    ]
    return {"fields": fields}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        del request
        return JSONResponse(error_body(exc.code, exc.message, exc.details), exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        del request
        details = _validation_details(exc)
        names = ", ".join(item["field"] or "body" for item in details["fields"])
        return JSONResponse(error_body("invalid_arguments", f"invalid value for: {names}", details), 422)

    async def _database_down(request: Request, exc: Exception) -> JSONResponse:
        logger.warning("the database is unreachable on %s %s: %s", request.method, request.url.path, exc)
        body = error_body("unavailable", "the database is unreachable right now; try again in a few seconds")
        return JSONResponse(body, 503, headers={"Retry-After": "5"})

    for error_type in DATABASE_DOWN_ERRORS:
        app.add_exception_handler(error_type, _database_down)

    @app.exception_handler(sqlalchemy.exc.DBAPIError)
    async def _database_refused(request: Request, exc: sqlalchemy.exc.DBAPIError) -> JSONResponse:
        # The last line behind serve.api.request_input (which names the field): a value from somewhere it does not
        # look (a header, say) that PostgreSQL cannot store is still the client's error. Anything else is ours.
        cause = exc.orig.__cause__ if exc.orig is not None else None
        if not isinstance(cause, _UNSTORABLE):
            raise exc
        logger.warning("refused unstorable input on %s %s: %s", request.method, request.url.path, cause)
        message = "a value in the request holds a character the database cannot store (e.g. NUL); remove it"
        return JSONResponse(error_body("invalid_arguments", message), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        del request
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)


class UnexpectedErrorMiddleware:
    """The last resort: an exception no handler took becomes a logged 500 with the error shape.

    Starlette renders such exceptions in its outermost middleware, outside the request id middleware, so its 500s
    had neither the request id header nor one in the body; this runs inside it instead."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:  # too late for an error response: let the server close the connection
                raise
            await internal_error_response()(scope, receive, send)
